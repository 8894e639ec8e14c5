//! The gateway's own metrics, per stream (`md`, `news`): frames sent,
//! subscribers now and subscribers dropped — the two feed actors' counts,
//! asked for at each scrape.

use actix::Recipient;
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{label, raise, Exposition, Labels};
use crate::gateway::FeedCounts;
use crate::lifecycle::GetCounts;

/// Every metric the gateway's `/metrics` serves, registered once.
pub struct GatewayMetrics {
    /// Owns the descriptions and encodes them all.
    registry: Registry,
    /// Frames produced and offered to every subscriber, by `stream`.
    frames: Family<Labels, Counter>,
    /// Subscribers being sent the stream now, by `stream`.
    subscribers: Family<Labels, Gauge>,
    /// Subscribers dropped for falling behind, by `stream`.
    dropped: Family<Labels, Counter>,
}

impl Default for GatewayMetrics {
    fn default() -> GatewayMetrics {
        GatewayMetrics::new()
    }
}

impl GatewayMetrics {
    /// Registers every metric under the `trading_gateway_` prefix.
    pub fn new() -> GatewayMetrics {
        let mut registry = Registry::with_prefix("trading_gateway");
        let m = GatewayMetrics {
            frames: Family::default(),
            subscribers: Family::default(),
            dropped: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("frames", "Frames sent, by stream", m.frames.clone());
        r.register(
            "subscribers",
            "Subscribers being sent the stream now, by stream",
            m.subscribers.clone(),
        );
        r.register(
            "subscribers_dropped",
            "Subscribers dropped for falling behind, by stream",
            m.dropped.clone(),
        );
        GatewayMetrics { registry, ..m }
    }

    /// Brings stream `stream`'s figures up to its feed actor's `counts`.
    pub fn update(&self, stream: &str, c: &FeedCounts) {
        let stream = label("stream", stream);
        raise(&self.frames.get_or_create(&stream), c.frames);
        raise(&self.dropped.get_or_create(&stream), c.dropped);
        self.subscribers
            .get_or_create(&stream)
            .set(i64::try_from(c.subscribers).unwrap_or(i64::MAX));
    }
}

impl Exposition for GatewayMetrics {
    fn encode(&self) -> String {
        super::encode(&self.registry)
    }
}

/// The gateway's live `/metrics`: its metrics, refreshed at each scrape
/// from both feed actors.
pub struct GatewaySource {
    /// What is encoded.
    pub metrics: GatewayMetrics,
    /// The market data feed, asked for its counts.
    pub md: Recipient<GetCounts<FeedCounts>>,
    /// The news feed, asked for its counts.
    pub news: Recipient<GetCounts<FeedCounts>>,
}

impl Exposition for GatewaySource {
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for (stream, feed) in [("md", &self.md), ("news", &self.news)] {
                // A stopped feed (a finished replay) leaves its last counts.
                if let Ok(counts) = feed.send(GetCounts::<FeedCounts>::new()).await {
                    self.metrics.update(stream, &counts);
                }
            }
        })
    }

    fn encode(&self) -> String {
        self.metrics.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_counts_render_as_the_exposition() {
        let m = GatewayMetrics::new();
        let md = FeedCounts {
            frames: 20000,
            subscribers: 1,
            dropped: 2,
        };
        let news = FeedCounts {
            frames: 40,
            subscribers: 3,
            dropped: 0,
        };
        m.update("md", &md);
        m.update("news", &news);
        let text = m.encode();
        for want in [
            "trading_gateway_frames_total{stream=\"md\"} 20000\n",
            "trading_gateway_frames_total{stream=\"news\"} 40\n",
            "trading_gateway_subscribers{stream=\"md\"} 1\n",
            "trading_gateway_subscribers{stream=\"news\"} 3\n",
            "trading_gateway_subscribers_dropped_total{stream=\"md\"} 2\n",
            "trading_gateway_subscribers_dropped_total{stream=\"news\"} 0\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn counters_only_grow_and_subscribers_follow() {
        let m = GatewayMetrics::new();
        let mut c = FeedCounts {
            frames: 10,
            subscribers: 2,
            dropped: 1,
        };
        m.update("md", &c);
        c.frames = 9;
        c.subscribers = 0;
        m.update("md", &c);
        let text = m.encode();
        assert!(
            text.contains("trading_gateway_frames_total{stream=\"md\"} 10\n"),
            "{text}"
        );
        assert!(
            text.contains("trading_gateway_subscribers{stream=\"md\"} 0\n"),
            "{text}"
        );
    }
}
