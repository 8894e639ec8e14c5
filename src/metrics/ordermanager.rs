//! The ordermanager's own metrics: orders by outcome and rejects by reason
//! as the journal makes them durable, each group commit's fdatasync
//! latency, and client connections.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::{label, Exposition, Labels};
use crate::ordermanager::{JournalRecord, Outcome};
use crate::protocol::RejectReason;

/// Every metric the ordermanager's `/metrics` serves, registered once.
pub struct OrderManagerMetrics {
    /// Owns the descriptions and encodes them all.
    registry: Registry,
    /// Orders made durable this run, by `outcome` (accepted, rejected);
    /// the same names as the dashboard's, so one query reads both.
    orders: Family<Labels, Counter>,
    /// Rejected orders made durable this run, by `reason` (the REJ code).
    rejects: Family<Labels, Counter>,
    /// Seconds each journal commit's fdatasync took: what every answer waits for.
    fsync: Histogram,
    /// Client connections open now.
    connections: Gauge,
    /// Client connections opened this run (a reconnect loop shows here).
    connections_opened: Counter,
}

impl Default for OrderManagerMetrics {
    fn default() -> OrderManagerMetrics {
        OrderManagerMetrics::new()
    }
}

impl OrderManagerMetrics {
    /// Registers every metric under the `trading_` prefix.
    pub fn new() -> OrderManagerMetrics {
        let mut registry = Registry::with_prefix("trading");
        let m = OrderManagerMetrics {
            orders: Family::default(),
            rejects: Family::default(),
            // 10 µs doubling to ~0.65 s: page cache to a stalled disk.
            fsync: Histogram::new(exponential_buckets(1e-5, 2.0, 17)),
            connections: Gauge::default(),
            connections_opened: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "orders",
            "Orders made durable in the journal this run, by outcome",
            m.orders.clone(),
        );
        r.register(
            "rejects",
            "Rejected orders made durable this run, by reason",
            m.rejects.clone(),
        );
        r.register(
            "journal_fsync_seconds",
            "Time of each journal commit's fdatasync",
            m.fsync.clone(),
        );
        r.register(
            "connections",
            "Order client connections open now",
            m.connections.clone(),
        );
        r.register(
            "connections_opened",
            "Order client connections opened this run",
            m.connections_opened.clone(),
        );
        OrderManagerMetrics { registry, ..m }
    }

    /// Counts what one commit made durable (`tally`, emptied) and the
    /// fdatasync time it took (`None` when the journal does not sync).
    pub fn committed(&self, tally: &mut JournalTally, fsync: Option<Duration>) {
        if tally.accepted > 0 {
            self.orders
                .get_or_create(&label("outcome", "accepted"))
                .inc_by(tally.accepted);
        }
        let rejected: u64 = tally.rejected.iter().map(|(_, n)| n).sum();
        if rejected > 0 {
            self.orders
                .get_or_create(&label("outcome", "rejected"))
                .inc_by(rejected);
        }
        for (reason, n) in tally.rejected.drain(..) {
            self.rejects
                .get_or_create(&label("reason", reason.as_str()))
                .inc_by(n);
        }
        tally.accepted = 0;
        if let Some(t) = fsync {
            self.fsync.observe(t.as_secs_f64());
        }
    }

    /// A client connected.
    pub fn connected(&self) {
        self.connections.inc();
        self.connections_opened.inc();
    }

    /// A client's connection closed.
    pub fn disconnected(&self) {
        self.connections.dec();
    }
}

impl std::fmt::Debug for OrderManagerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderManagerMetrics")
    }
}

impl Exposition for OrderManagerMetrics {
    fn encode(&self) -> String {
        super::encode(&self.registry)
    }
}

/// Outcomes of the records appended since the last commit, counted only
/// once the commit makes them durable (a failed commit counts nothing).
#[derive(Debug, Default)]
pub struct JournalTally {
    /// Accepted orders waiting for the commit.
    accepted: u64,
    /// Rejected frames by reason (a handful of reasons: a short list).
    rejected: Vec<(RejectReason, u64)>,
}

impl JournalTally {
    /// Counts `record` (a malformed summary record counts its frames).
    pub fn add(&mut self, record: &JournalRecord) {
        match (record.outcome, record.reason) {
            (Outcome::Accepted, _) => self.accepted += 1,
            (Outcome::Rejected, reason) => {
                let reason = reason.unwrap_or(RejectReason::BadFrame);
                let n = record.frames.unwrap_or(1);
                match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, count)) => *count += n,
                    None => self.rejected.push((reason, n)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        outcome: Outcome,
        reason: Option<RejectReason>,
        frames: Option<u64>,
    ) -> JournalRecord {
        JournalRecord {
            recv_ns: 1,
            client_order_id: None,
            client: "127.0.0.1:1".into(),
            client_name: None,
            side: None,
            quantity: None,
            symbol: None,
            price: None,
            outcome,
            reason,
            raw: None,
            frames,
        }
    }

    #[test]
    fn a_commit_counts_orders_by_outcome_and_reason_and_its_fsync() {
        let m = OrderManagerMetrics::new();
        let mut tally = JournalTally::default();
        tally.add(&record(Outcome::Accepted, None, None));
        tally.add(&record(Outcome::Accepted, None, None));
        tally.add(&record(
            Outcome::Rejected,
            Some(RejectReason::MaxQuantity),
            None,
        ));
        tally.add(&record(
            Outcome::Rejected,
            Some(RejectReason::BadSide),
            Some(4),
        ));
        m.committed(&mut tally, Some(Duration::from_micros(50)));
        m.committed(&mut tally, Some(Duration::from_millis(2)));
        m.connected();
        m.connected();
        m.disconnected();
        let text = m.encode();
        for want in [
            "trading_orders_total{outcome=\"accepted\"} 2\n",
            "trading_orders_total{outcome=\"rejected\"} 5\n",
            "trading_rejects_total{reason=\"MAX_QUANTITY\"} 1\n",
            "trading_rejects_total{reason=\"BAD_SIDE\"} 4\n",
            "trading_journal_fsync_seconds_count 2\n",
            "trading_journal_fsync_seconds_bucket{le=\"0.00008\"} 1\n",
            "trading_connections 1\n",
            "trading_connections_opened_total 2\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn an_uncommitted_tally_counts_nothing() {
        let m = OrderManagerMetrics::new();
        let mut tally = JournalTally::default();
        tally.add(&record(Outcome::Accepted, None, None));
        let text = m.encode();
        assert!(!text.contains("trading_orders_total{"), "{text}");
        assert!(
            text.contains("trading_journal_fsync_seconds_count 0\n"),
            "{text}"
        );
    }
}
