//! The run's figures as Prometheus metrics (text exposition format), kept in
//! a `prometheus-client` registry that each [`Snapshot`] brings up to date.
//!
//! Counters are raised to the snapshot's totals, never set lower, so they
//! only grow however often they are scraped.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::snapshot::Snapshot;
use crate::metrics::{label, raise, Labels};

/// A gauge of a decimal amount (prices, P&L).
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric `/metrics` serves, registered once.
pub struct Metrics {
    /// Owns the descriptions and encodes them all.
    registry: Registry,
    /// Ticks written to the table.
    ticks: Counter,
    /// Orders recorded, by `outcome` (accepted, rejected).
    orders: Family<Labels, Counter>,
    /// Rejects by `reason`.
    rejects: Family<Labels, Counter>,
    /// Child restarts by `role`.
    restarts: Family<Labels, Counter>,
    /// Net shares by `symbol`.
    position: Family<Labels, Gauge>,
    /// Last price by `symbol`.
    price: Family<Labels, FloatGauge>,
    /// Realised P&L by `symbol`.
    realized: Family<Labels, FloatGauge>,
    /// Unrealised P&L by `symbol`.
    unrealized: Family<Labels, FloatGauge>,
    /// 1 while the ordermanager answers HALTED.
    halted: Gauge,
    /// Symbols whose prices are too old to trade on.
    stale: Gauge,
    /// Ticks written minus the slowest ring reader's cursor.
    ring_lag: Gauge,
    /// Tick → order latency, seconds.
    latency: Histogram,
    /// Orders whose tick → order latency could not be measured.
    unmeasured: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `trading_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("trading");
        let m = Metrics {
            ticks: Counter::default(),
            orders: Family::default(),
            rejects: Family::default(),
            restarts: Family::default(),
            position: Family::default(),
            price: Family::default(),
            realized: Family::default(),
            unrealized: Family::default(),
            halted: Gauge::default(),
            stale: Gauge::default(),
            ring_lag: Gauge::default(),
            // 10 µs doubling to ~0.33 s: loopback hops up to a stalled pipeline.
            latency: Histogram::new(exponential_buckets(1e-5, 2.0, 16)),
            unmeasured: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("ticks", "Ticks written to the price table", m.ticks.clone());
        r.register(
            "orders",
            "Orders recorded in the journal, by outcome",
            m.orders.clone(),
        );
        r.register("rejects", "Orders rejected, by reason", m.rejects.clone());
        r.register(
            "restarts",
            "Child process restarts, by role",
            m.restarts.clone(),
        );
        r.register(
            "position_shares",
            "Net shares held, by symbol",
            m.position.clone(),
        );
        r.register(
            "last_price",
            "Last price in the table, by symbol",
            m.price.clone(),
        );
        r.register(
            "realized_pnl",
            "Realised P&L, by symbol",
            m.realized.clone(),
        );
        r.register(
            "unrealized_pnl",
            "Unrealised P&L at the last price, by symbol",
            m.unrealized.clone(),
        );
        r.register(
            "halted",
            "1 while the ordermanager answers HALTED",
            m.halted.clone(),
        );
        r.register(
            "stale_symbols",
            "Symbols whose prices are too old to trade on",
            m.stale.clone(),
        );
        r.register(
            "ring_lag_ticks",
            "Ticks written minus the slowest registered ring reader's cursor",
            m.ring_lag.clone(),
        );
        r.register(
            "tick_to_order_latency_seconds",
            "From the gateway's send of a signal's tick to the ordermanager's receipt of its order",
            m.latency.clone(),
        );
        r.register(
            "tick_to_order_unmeasured",
            "Orders whose tick had left the ring before it was looked up",
            m.unmeasured.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records one tick → order latency.
    pub fn observe_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// Counts one order whose latency could not be measured.
    pub fn unmeasured_latency(&self) {
        self.unmeasured.inc();
    }

    /// Brings every counter and gauge to the snapshot's figures.
    pub fn update(&self, s: &Snapshot) {
        raise(&self.ticks, s.ticks);
        raise(
            &self.orders.get_or_create(&label("outcome", "accepted")),
            s.accepted,
        );
        raise(
            &self.orders.get_or_create(&label("outcome", "rejected")),
            s.rejected,
        );
        for (reason, n) in &s.rejects {
            raise(&self.rejects.get_or_create(&label("reason", reason)), *n);
        }
        for (role, n) in &s.restarts {
            raise(&self.restarts.get_or_create(&label("role", role)), *n);
        }
        for v in &s.symbols {
            let l = label("symbol", &v.symbol);
            self.position.get_or_create(&l).set(v.position);
            if let Some(p) = v.price {
                self.price.get_or_create(&l).set(p);
            }
            self.realized.get_or_create(&l).set(v.realized);
            self.unrealized.get_or_create(&l).set(v.unrealized);
        }
        self.halted.set(i64::from(s.state == "halted"));
        self.stale.set(s.stale_symbols as i64);
        self.ring_lag
            .set(i64::try_from(s.ring_lag).unwrap_or(i64::MAX));
    }

    /// The text exposition of every metric, ending in `# EOF`.
    pub fn encode(&self) -> String {
        crate::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::snapshot::SymbolView;

    fn snapshot(accepted: u64, price: f64) -> Snapshot {
        Snapshot {
            state: "trading",
            ticks: 10 * accepted,
            accepted,
            rejected: 2,
            rejects: [("MAX_POSITION".to_string(), 2)].into(),
            restarts: [("gateway".to_string(), 1)].into(),
            ring_lag: 42,
            symbols: vec![SymbolView {
                symbol: "AAPL".into(),
                price: Some(price),
                position: -100,
                avg_cost: 10.0,
                realized: 5.5,
                unrealized: -1.25,
                history: vec![172.0],
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_snapshot_renders_as_the_text_exposition_format() {
        let m = Metrics::new();
        m.update(&snapshot(3, 172.5));
        m.observe_latency(0.000_05);
        let text = m.encode();
        for want in [
            "# TYPE trading_ticks counter\n",
            "trading_ticks_total 30\n",
            "trading_orders_total{outcome=\"accepted\"} 3\n",
            "trading_rejects_total{reason=\"MAX_POSITION\"} 2\n",
            "trading_restarts_total{role=\"gateway\"} 1\n",
            "trading_position_shares{symbol=\"AAPL\"} -100\n",
            "trading_last_price{symbol=\"AAPL\"} 172.5\n",
            "trading_realized_pnl{symbol=\"AAPL\"} 5.5\n",
            "trading_unrealized_pnl{symbol=\"AAPL\"} -1.25\n",
            "trading_halted 0\n",
            "trading_ring_lag_ticks 42\n",
            "trading_tick_to_order_latency_seconds_count 1\n",
            "trading_tick_to_order_latency_seconds_bucket{le=\"0.00008\"} 1\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn counters_never_go_down_and_gauges_follow() {
        let m = Metrics::new();
        m.update(&snapshot(5, 100.0));
        m.update(&snapshot(4, 90.0));
        let text = m.encode();
        assert!(
            text.contains("trading_orders_total{outcome=\"accepted\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("trading_last_price{symbol=\"AAPL\"} 90.0\n"),
            "{text}"
        );
    }
}
