//! The strategy's own metrics: ticks read, lost, stale and skipped; news
//! used; orders sent, acked, rejected, resent and unanswered — the signal
//! actor's counts, asked for at each scrape.

use actix::Addr;
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{label, raise, Exposition, Labels};
use crate::lifecycle::GetCounts;
use crate::strategy::{SignalActor, StrategyCounts};

/// Every metric the strategy's `/metrics` serves, registered once.
pub struct StrategyMetrics {
    /// Owns the descriptions and encodes them all.
    registry: Registry,
    /// Ticks by `what`: read (consumed from the ring), lost (overwritten
    /// before read), stale (older than the age limit), skipped (a stale
    /// tick's signal not sent).
    ticks: Family<Labels, Counter>,
    /// News frames used.
    news: Counter,
    /// Orders by `what`: sent, acked, rejected, resent (after a reconnect).
    orders: Family<Labels, Counter>,
    /// Orders without an answer now.
    unanswered: Gauge,
}

impl Default for StrategyMetrics {
    fn default() -> StrategyMetrics {
        StrategyMetrics::new()
    }
}

impl StrategyMetrics {
    /// Registers every metric under the `trading_strategy_` prefix (the
    /// orderbook's `trading_ticks` counts ticks written, not read).
    pub fn new() -> StrategyMetrics {
        let mut registry = Registry::with_prefix("trading_strategy");
        let m = StrategyMetrics {
            ticks: Family::default(),
            news: Counter::default(),
            orders: Family::default(),
            unanswered: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "ticks",
            "Ticks read, lost, stale and skipped, by what",
            m.ticks.clone(),
        );
        r.register("news", "News frames used", m.news.clone());
        r.register(
            "orders",
            "Orders sent, acked, rejected and resent, by what",
            m.orders.clone(),
        );
        r.register(
            "unanswered_orders",
            "Orders without an answer now",
            m.unanswered.clone(),
        );
        StrategyMetrics { registry, ..m }
    }

    /// Brings every figure up to the actor's `counts`.
    pub fn update(&self, c: &StrategyCounts) {
        let ticks = [
            ("read", c.input.ticks),
            ("lost", c.input.lost),
            ("stale", c.input.stale),
            ("skipped", c.input.skipped),
        ];
        for (what, n) in ticks {
            raise(&self.ticks.get_or_create(&label("what", what)), n);
        }
        raise(&self.news, c.input.news);
        let orders = [
            ("sent", c.orders.sent),
            ("acked", c.orders.acked),
            ("rejected", c.orders.rejected),
            ("resent", c.orders.resent),
        ];
        for (what, n) in orders {
            raise(&self.orders.get_or_create(&label("what", what)), n);
        }
        self.unanswered
            .set(i64::try_from(c.unanswered).unwrap_or(i64::MAX));
    }
}

impl Exposition for StrategyMetrics {
    fn encode(&self) -> String {
        super::encode(&self.registry)
    }
}

/// The strategy's live `/metrics`: its metrics, refreshed at each scrape
/// from the signal actor.
pub struct StrategySource {
    /// What is encoded.
    pub metrics: StrategyMetrics,
    /// The signal actor, asked for its counts.
    pub actor: Addr<SignalActor>,
}

impl Exposition for StrategySource {
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A stopped actor leaves the last counts in place.
            if let Ok(counts) = self.actor.send(GetCounts::<StrategyCounts>::new()).await {
                self.metrics.update(&counts);
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
    use crate::strategy::{InputCounts, OrderCounts};

    #[test]
    fn the_actor_counts_render_as_the_exposition() {
        let m = StrategyMetrics::new();
        m.update(&StrategyCounts {
            input: InputCounts {
                ticks: 500,
                lost: 7,
                news: 3,
                stale: 2,
                skipped: 1,
                late_news: 0,
            },
            orders: OrderCounts {
                sent: 40,
                acked: 35,
                rejected: 4,
                resent: 2,
                unknown_answers: 0,
            },
            unanswered: 1,
        });
        let text = m.encode();
        for want in [
            "trading_strategy_ticks_total{what=\"read\"} 500\n",
            "trading_strategy_ticks_total{what=\"lost\"} 7\n",
            "trading_strategy_ticks_total{what=\"stale\"} 2\n",
            "trading_strategy_ticks_total{what=\"skipped\"} 1\n",
            "trading_strategy_news_total 3\n",
            "trading_strategy_orders_total{what=\"sent\"} 40\n",
            "trading_strategy_orders_total{what=\"acked\"} 35\n",
            "trading_strategy_orders_total{what=\"rejected\"} 4\n",
            "trading_strategy_orders_total{what=\"resent\"} 2\n",
            "trading_strategy_unanswered_orders 1\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }

    #[test]
    fn counters_only_grow_and_unanswered_follows() {
        let m = StrategyMetrics::new();
        let mut c = StrategyCounts::default();
        c.orders.sent = 10;
        c.unanswered = 4;
        m.update(&c);
        c.orders.sent = 9;
        c.unanswered = 0;
        m.update(&c);
        let text = m.encode();
        assert!(
            text.contains("trading_strategy_orders_total{what=\"sent\"} 10\n"),
            "{text}"
        );
        assert!(
            text.contains("trading_strategy_unanswered_orders 0\n"),
            "{text}"
        );
    }
}
