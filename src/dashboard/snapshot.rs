//! What the dashboard shows: a [`Snapshot`] of the run, built by the
//! [`Collector`] from the supervisor's [`RunStats`], the shm table and the
//! journal records the supervisor reads anyway (through a [`RecordTap`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::metrics::Metrics;
use crate::lifecycle::Role;
use crate::ordermanager::journal::{JournalRecord, Outcome};
use crate::ordermanager::positions::Position;
use crate::price::PRICE_SCALE;
use crate::protocol::RejectReason;
use crate::shm::{PriceTableReader, Quote, RingCursor, RingRead};
use crate::supervisor::RunStats;
use crate::symbol::SymbolIndex;

/// Prices kept per symbol for the page's chart: a minute at four snapshots
/// a second, so a page opened mid-run shows the recent past at once.
const HISTORY: usize = 240;

/// Largest tick → order latency the percentiles keep apart (60 s in µs);
/// anything slower is recorded as this.
const LATENCY_MAX_US: u64 = 60_000_000;

/// The run as the page and `/metrics` see it at one instant.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Snapshot {
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// `trading`, or `halted` while the ordermanager answers `HALTED` (the
    /// last order recorded was refused so; the next accepted one clears it).
    pub state: &'static str,
    /// Ticks written to the table this run.
    pub ticks: u64,
    /// Ticks per second over the supervisor's last refresh period.
    pub ticks_per_s: f64,
    /// Orders accepted this run.
    pub accepted: u64,
    /// Orders (and malformed frames) rejected this run.
    pub rejected: u64,
    /// Orders recorded per second, accepted and rejected, since the last snapshot.
    pub orders_per_s: f64,
    /// Rejects by reason code.
    pub rejects: BTreeMap<String, u64>,
    /// Restarts by role name, every role listed (0 included) once seen.
    pub restarts: BTreeMap<String, u64>,
    /// One row per configured symbol, in table order.
    pub symbols: Vec<SymbolView>,
    /// Realised P&L over every symbol.
    pub realized_pnl: f64,
    /// Unrealised P&L over every symbol, marked at the table's last prices.
    pub unrealized_pnl: f64,
    /// Realised plus unrealised: the figure the status line shows.
    pub total_pnl: f64,
    /// Tick → order latency percentiles.
    pub latency: LatencyView,
    /// Symbols whose prices the strategy would not trade on now.
    pub stale_symbols: usize,
    /// Ticks written minus the slowest ring reader's cursor (the strategy's
    /// backlog; the orderbook waits when it reaches the ring's capacity).
    pub ring_lag: u64,
    /// Why the journal could not be read, instead of silently stale numbers.
    pub journal_error: Option<String>,
}

/// One symbol's row.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SymbolView {
    /// The symbol.
    pub symbol: String,
    /// Last price in the table; `None` before its first tick.
    pub price: Option<f64>,
    /// Net shares: positive long, negative short.
    pub position: i64,
    /// Average cost of the open shares (0 when flat).
    pub avg_cost: f64,
    /// P&L of closed shares.
    pub realized: f64,
    /// P&L of the open shares at `price` (0 without a price).
    pub unrealized: f64,
    /// The last prices, oldest first, one per snapshot: the chart.
    pub history: Vec<f64>,
}

/// Tick → order latency: from the gateway's send of the tick that made the
/// signal (read back from the ring by the order id's sequence number) to
/// the ordermanager's receipt of the order (the journal's `recv_ns`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencyView {
    /// Orders measured.
    pub samples: u64,
    /// Orders whose tick had already left the ring, or whose id names
    /// another table generation or no tick: not guessed.
    pub unmeasured: u64,
    /// Median, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Slowest, µs.
    pub max_us: u64,
}

/// The position row of `symbol`, marked at `quote` when it has been written.
pub fn symbol_view(symbol: &str, quote: Option<Quote>, pos: Position) -> SymbolView {
    let scale = PRICE_SCALE as f64;
    let price_units = quote.filter(|q| q.updates > 0).map(|q| q.price_units);
    let unrealized_units = price_units.map_or(0, |p| pos.net as i128 * p as i128 - pos.cost_units);
    SymbolView {
        symbol: symbol.to_string(),
        price: price_units.map(|p| p as f64 / scale),
        position: pos.net,
        avg_cost: pos.avg_cost().units() as f64 / scale,
        realized: pos.realized_units as f64 / scale,
        unrealized: unrealized_units as f64 / scale,
        history: Vec::new(),
    }
}

/// The ring position and table generation of the signal behind an order id
/// (`{client}-{generation's low 32 bits, hex}-{seq, hex}`, as the strategy
/// makes them); `None` for ids of other clients.
pub fn signal_tick(id: &str) -> Option<(u32, u64)> {
    let mut parts = id.rsplitn(3, '-');
    let seq = u64::from_str_radix(parts.next()?, 16).ok()?;
    let generation = u32::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().filter(|client| !client.is_empty())?;
    Some((generation, seq))
}

/// Everything the snapshots need beyond [`RunStats`]; lives with the
/// supervisor, which feeds it records and asks it for snapshots.
pub struct Collector {
    /// The table's name, attached lazily like the supervisor's own view.
    shm_name: String,
    /// Configured symbols, in table order.
    symbols: Vec<String>,
    /// Read-only view of the table: last prices and the ring.
    reader: Option<PriceTableReader>,
    /// Tick → order latencies, µs.
    latency_us: Histogram<u64>,
    /// Orders whose latency could not be measured.
    unmeasured: u64,
    /// Recent prices by symbol index, for the chart.
    history: Vec<VecDeque<f64>>,
    /// Whether the last order recorded was refused `HALTED`.
    halted: bool,
    /// Restarts by role.
    restarts: BTreeMap<String, u64>,
    /// Orders recorded and when, at the last snapshot: the orders/s base.
    last_orders: (u64, Instant),
    /// Orders per second, kept between two snapshots too close to measure.
    orders_per_s: f64,
    /// Where the figures go for `/metrics`.
    metrics: Arc<Metrics>,
}

impl Collector {
    /// A collector for the table `shm_name` of `symbols`, every role at 0 restarts.
    pub fn new(shm_name: String, symbols: Vec<String>, metrics: Arc<Metrics>) -> Collector {
        let history = vec![VecDeque::with_capacity(HISTORY); symbols.len()];
        let restarts = Role::ALL
            .iter()
            .map(|r| (r.name().to_string(), 0))
            .collect();
        Collector {
            shm_name,
            symbols,
            reader: None,
            latency_us: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
                .expect("static histogram bounds are valid"),
            unmeasured: 0,
            history,
            halted: false,
            restarts,
            last_orders: (0, Instant::now()),
            orders_per_s: 0.0,
            metrics,
        }
    }

    /// Counts one restart of `role`.
    pub fn restarted(&mut self, role: Role) {
        *self.restarts.entry(role.name().to_string()).or_default() += 1;
    }

    /// Takes what the dashboard needs from one journal record.
    pub fn see(&mut self, r: &JournalRecord) {
        match (r.outcome, r.reason) {
            (Outcome::Accepted, _) => self.halted = false,
            (Outcome::Rejected, Some(RejectReason::Halted)) => self.halted = true,
            _ => {}
        }
        let Some(id) = &r.client_order_id else {
            return; // an id-less client's order: no signal to measure from
        };
        match self.sent_ns(id) {
            Some(sent) if r.recv_ns >= sent => {
                let us = ((r.recv_ns - sent) / 1_000).clamp(1, LATENCY_MAX_US as i64) as u64;
                let _ = self.latency_us.record(us);
                self.metrics.observe_latency(us as f64 / 1e6);
            }
            _ => {
                self.unmeasured += 1;
                self.metrics.unmeasured_latency();
            }
        }
    }

    /// When the gateway sent the tick behind order `id` (the orderbook's
    /// write time when the gateway gave none), if the ring still holds it.
    fn sent_ns(&self, id: &str) -> Option<i64> {
        let (generation, seq) = signal_tick(id)?;
        let reader = self.reader.as_ref()?;
        if reader.generation() as u32 != generation {
            return None;
        }
        match reader.ring_next(&mut RingCursor::at(seq)) {
            RingRead::Tick(t) if t.seq == seq => {
                Some(if t.send_ns > 0 { t.send_ns } else { t.write_ns })
            }
            _ => None,
        }
    }

    /// Attaches to the table, or to its successor after an orderbook restart.
    /// Called once per snapshot, before the journal is read, not per record.
    pub fn attach(&mut self) {
        if self.reader.as_ref().is_some_and(|r| !r.is_current()) {
            self.reader = None;
        }
        if self.reader.is_none() {
            self.reader = PriceTableReader::attach(&self.shm_name).ok();
        }
    }

    /// The run now, from `stats` (already refreshed) and the table.
    pub fn snapshot(&mut self, stats: &RunStats) -> Snapshot {
        let now = Instant::now();
        let orders = stats.accepted + stats.rejected;
        let secs = now.duration_since(self.last_orders.1).as_secs_f64();
        if secs >= 0.2 {
            self.orders_per_s = orders.saturating_sub(self.last_orders.0) as f64 / secs;
            self.last_orders = (orders, now);
        }
        let reader = self.reader.as_ref();
        let symbols: Vec<SymbolView> = self
            .symbols
            .iter()
            .zip(&mut self.history)
            .enumerate()
            .map(|(i, (s, history))| {
                let quote = reader.and_then(|r| {
                    (r.symbols().get(i) == Some(s)).then(|| r.read(SymbolIndex(i as u32)))
                });
                let pos = stats.positions.by_symbol.get(s).copied();
                let mut view = symbol_view(s, quote, pos.unwrap_or_default());
                if let Some(p) = view.price {
                    if history.len() == HISTORY {
                        history.pop_front();
                    }
                    history.push_back(p);
                }
                view.history = history.iter().copied().collect();
                view
            })
            .collect();
        let realized_pnl = symbols.iter().map(|s| s.realized).sum();
        let unrealized_pnl = symbols.iter().map(|s| s.unrealized).sum();
        let h = &self.latency_us;
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        Snapshot {
            elapsed_s: stats.elapsed().as_secs_f64(),
            state: if self.halted { "halted" } else { "trading" },
            ticks: stats.ticks(),
            ticks_per_s: stats.ticks_per_s,
            accepted: stats.accepted,
            rejected: stats.rejected,
            orders_per_s: self.orders_per_s,
            rejects: stats.reject_reasons.clone(),
            restarts: self.restarts.clone(),
            symbols,
            realized_pnl,
            unrealized_pnl,
            total_pnl: realized_pnl + unrealized_pnl,
            latency: LatencyView {
                samples: h.len(),
                unmeasured: self.unmeasured,
                p50_us: q(0.5),
                p90_us: q(0.9),
                p99_us: q(0.99),
                max_us: h.max(),
            },
            stale_symbols: stats.stale_symbols,
            ring_lag: reader.map_or(0, |r| crate::metrics::ring_lag(r).0),
            journal_error: stats.journal_error.clone(),
        }
    }
}

/// The hook [`RunStats`] calls for every journal record it counts, so that
/// the dashboard sees each record once without reading the journal again.
#[derive(Clone)]
pub struct RecordTap(pub(super) Arc<Mutex<Collector>>);

impl RecordTap {
    /// Hands one record to the collector.
    pub fn see(&self, r: &JournalRecord) {
        lock(&self.0).see(r);
    }
}

impl std::fmt::Debug for RecordTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordTap")
    }
}

/// The collector, even after a panic elsewhere left its lock poisoned: its
/// figures are counters, valid at every step.
pub(super) fn lock(c: &Mutex<Collector>) -> MutexGuard<'_, Collector> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}
