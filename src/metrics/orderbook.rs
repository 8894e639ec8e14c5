//! The orderbook's own metrics: ticks, malformed and unknown-symbol frames,
//! ring waits and freed dead readers (the writer actor's counts, asked for
//! at each scrape), and ring lag (ticks written minus the slowest
//! registered reader's cursor, read from the table itself).

use std::sync::Mutex;

use actix::Addr;
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{raise, Exposition};
use crate::lifecycle::GetCounts;
use crate::orderbook::{BookCounts, BookWriterActor};
use crate::shm::PriceTableReader;

/// Every metric the orderbook's `/metrics` serves, registered once.
pub struct OrderbookMetrics {
    /// Owns the descriptions and encodes them all.
    registry: Registry,
    /// Ticks published into the table (the dashboard's name for the same).
    ticks: Counter,
    /// Market data frames that did not parse.
    malformed: Counter,
    /// Well-formed frames for symbols the table does not have.
    unknown_symbols: Counter,
    /// Times a full ring stopped the writer until the slowest reader caught up.
    ring_waits: Counter,
    /// Milliseconds spent in those waits.
    ring_wait_ms: Counter,
    /// Dead readers' slots freed so they stopped holding the writer back.
    dead_readers: Counter,
    /// Ticks written minus the slowest registered reader's cursor: how
    /// close the ring is to making the writer wait.
    ring_lag: Gauge,
    /// Ring readers registered now.
    ring_readers: Gauge,
}

impl Default for OrderbookMetrics {
    fn default() -> OrderbookMetrics {
        OrderbookMetrics::new()
    }
}

impl OrderbookMetrics {
    /// Registers every metric under the `trading_` prefix.
    pub fn new() -> OrderbookMetrics {
        let mut registry = Registry::with_prefix("trading");
        let m = OrderbookMetrics {
            ticks: Counter::default(),
            malformed: Counter::default(),
            unknown_symbols: Counter::default(),
            ring_waits: Counter::default(),
            ring_wait_ms: Counter::default(),
            dead_readers: Counter::default(),
            ring_lag: Gauge::default(),
            ring_readers: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("ticks", "Ticks written to the price table", m.ticks.clone());
        r.register(
            "malformed_frames",
            "Market data frames that did not parse",
            m.malformed.clone(),
        );
        r.register(
            "unknown_symbol_frames",
            "Market data frames for symbols the table does not have",
            m.unknown_symbols.clone(),
        );
        r.register(
            "ring_waits",
            "Times a full ring stopped the writer until its slowest reader caught up",
            m.ring_waits.clone(),
        );
        r.register(
            "ring_wait_milliseconds",
            "Milliseconds the writer spent waiting for room in the ring",
            m.ring_wait_ms.clone(),
        );
        r.register(
            "dead_readers",
            "Ring reader slots of dead processes freed",
            m.dead_readers.clone(),
        );
        r.register(
            "ring_lag_ticks",
            "Ticks written minus the slowest registered reader's cursor",
            m.ring_lag.clone(),
        );
        r.register(
            "ring_readers",
            "Ring readers registered now",
            m.ring_readers.clone(),
        );
        OrderbookMetrics { registry, ..m }
    }

    /// Brings the counters up to the writer's `counts`.
    pub fn update(&self, counts: &BookCounts) {
        raise(&self.ticks, counts.ticks);
        raise(&self.malformed, counts.malformed);
        raise(&self.unknown_symbols, counts.unknown_symbols);
        raise(&self.ring_waits, counts.ring_waits);
        raise(&self.ring_wait_ms, counts.ring_wait_ms);
        raise(&self.dead_readers, counts.dead_readers);
    }

    /// Sets the ring lag and the number of registered readers ([`super::ring_lag`]).
    pub fn ring(&self, (lag, readers): (u64, usize)) {
        self.ring_lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
        self.ring_readers.set(readers as i64);
    }
}

impl Exposition for OrderbookMetrics {
    fn encode(&self) -> String {
        super::encode(&self.registry)
    }
}

/// The orderbook's live `/metrics`: its metrics, refreshed at each scrape
/// from the writer actor and from a read-only view of its own table.
pub struct OrderbookSource {
    /// What is encoded.
    pub metrics: OrderbookMetrics,
    /// The writer actor, asked for its counts.
    pub writer: Addr<BookWriterActor>,
    /// The table, viewed as a reader would (never registered as one).
    pub table: Mutex<PriceTableReader>,
}

impl Exposition for OrderbookSource {
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A stopped writer leaves the last counts in place.
            if let Ok(counts) = self.writer.send(GetCounts::<BookCounts>::new()).await {
                self.metrics.update(&counts);
            }
            let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            self.metrics.ring(super::ring_lag(&table));
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
    fn the_writer_counts_and_ring_lag_render_as_the_exposition() {
        let m = OrderbookMetrics::new();
        m.update(&BookCounts {
            ticks: 120,
            malformed: 3,
            unknown_symbols: 2,
            ring_waits: 4,
            ring_wait_ms: 17,
            dead_readers: 1,
            ..BookCounts::default()
        });
        m.ring((20, 2));
        let text = m.encode();
        for want in [
            "trading_ticks_total 120\n",
            "trading_malformed_frames_total 3\n",
            "trading_unknown_symbol_frames_total 2\n",
            "trading_ring_waits_total 4\n",
            "trading_ring_wait_milliseconds_total 17\n",
            "trading_dead_readers_total 1\n",
            "trading_ring_lag_ticks 20\n",
            "trading_ring_readers 2\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }

    #[test]
    fn counters_only_grow() {
        let m = OrderbookMetrics::new();
        m.update(&BookCounts {
            ticks: 50,
            ..BookCounts::default()
        });
        m.update(&BookCounts {
            ticks: 40,
            ..BookCounts::default()
        });
        let text = m.encode();
        assert!(text.contains("trading_ticks_total 50\n"), "{text}");
    }
}
