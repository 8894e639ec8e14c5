//! What the supervisor shows: the live status line and the final summary.
//!
//! Ticks come from the shm table's tick count (read-only mapping); orders
//! from the ordermanager's journal, read incrementally from where it ended
//! when the run started, so the numbers are this run's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::lifecycle::Role;
use crate::ordermanager::{read_journal, Outcome, PositionBook};
use crate::protocol::Side;
use crate::shm::PriceTableReader;

/// Counters of the run, refreshed from the table and the journal.
#[derive(Debug)]
pub struct RunStats {
    /// When the run started.
    started: Instant,
    /// The ordermanager's journal.
    journal: PathBuf,
    /// Journal offset read up to.
    offset: u64,
    /// The table whose tick count is the run's tick count.
    shm_name: String,
    /// Read-only view of the table, attached once it exists.
    reader: Option<PriceTableReader>,
    /// Ticks of earlier tables of this run (an orderbook restart re-creates it).
    ticks_before: u64,
    /// For the rate.
    last: (u64, Instant),
    /// Ticks per second over the last refresh period.
    pub ticks_per_s: f64,
    /// Orders accepted this run.
    pub accepted: u64,
    /// Orders rejected this run.
    pub rejected: u64,
    /// Accepted orders and shares by symbol and side.
    pub by_symbol: BTreeMap<(String, &'static str), (u64, u64)>,
    /// Rejects by reason code.
    pub reject_reasons: BTreeMap<String, u64>,
}

impl RunStats {
    /// Counting starts at the journal's current end.
    pub fn new(journal: PathBuf, shm_name: String) -> RunStats {
        let offset = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
        RunStats {
            started: Instant::now(),
            journal,
            offset,
            shm_name,
            reader: None,
            ticks_before: 0,
            last: (0, Instant::now()),
            ticks_per_s: 0.0,
            accepted: 0,
            rejected: 0,
            by_symbol: BTreeMap::new(),
            reject_reasons: BTreeMap::new(),
        }
    }

    /// Ticks written this run.
    pub fn ticks(&self) -> u64 {
        self.ticks_before + self.reader.as_ref().map_or(0, |r| r.ticks_written())
    }

    /// Reads what is new in the table and the journal.
    pub fn refresh(&mut self) {
        if self.reader.as_ref().is_some_and(|r| !r.is_current()) {
            if let Some(old) = self.reader.take() {
                self.ticks_before += old.ticks_written();
            }
        }
        if self.reader.is_none() {
            self.reader = PriceTableReader::attach(&self.shm_name).ok();
        }
        let now = Instant::now();
        let ticks = self.ticks();
        let secs = now.duration_since(self.last.1).as_secs_f64();
        if secs >= 0.2 {
            self.ticks_per_s = ticks.saturating_sub(self.last.0) as f64 / secs;
            self.last = (ticks, now);
        }
        if let Ok(scan) = read_journal(&self.journal, self.offset) {
            self.offset = scan.end_offset;
            for r in scan.records {
                match r.outcome {
                    Outcome::Accepted => {
                        self.accepted += 1;
                        if let (Some(sym), Some(side), Some(q)) = (r.symbol, r.side, r.quantity) {
                            let e = self.by_symbol.entry((sym, side_name(side))).or_default();
                            e.0 += 1;
                            e.1 += q;
                        }
                    }
                    Outcome::Rejected => {
                        self.rejected += 1;
                        *self
                            .reject_reasons
                            .entry(r.reason.unwrap_or_default())
                            .or_default() += 1;
                    }
                }
            }
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The one-line live status.
    pub fn status_line(&self, restarts: u32) -> String {
        format!(
            "{:>7.1}s | {:>10.0} ticks/s | {:>10} ticks | {:>7} orders | {:>5} rejects | {} restarts",
            self.elapsed().as_secs_f64(),
            self.ticks_per_s,
            self.ticks(),
            self.accepted,
            self.rejected,
            restarts
        )
    }

    /// The end-of-run table.
    pub fn summary(&self, restarts: &[(Role, u32)]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n=== run summary ===");
        let _ = writeln!(s, "duration        {:.1} s", self.elapsed().as_secs_f64());
        let _ = writeln!(s, "ticks           {}", self.ticks());
        let _ = writeln!(
            s,
            "orders          {} accepted, {} rejected",
            self.accepted, self.rejected
        );
        let _ = writeln!(
            s,
            "\n{:<8} {:<5} {:>8} {:>10}",
            "symbol", "side", "orders", "shares"
        );
        for ((sym, side), (orders, shares)) in &self.by_symbol {
            let _ = writeln!(s, "{sym:<8} {side:<5} {orders:>8} {shares:>10}");
        }
        if !self.reject_reasons.is_empty() {
            let _ = writeln!(s, "\nrejects by reason");
            for (reason, n) in &self.reject_reasons {
                let _ = writeln!(s, "  {reason:<16} {n}");
            }
        }
        let _ = writeln!(
            s,
            "\nrestarts        {}",
            restarts
                .iter()
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Ok(scan) = read_journal(&self.journal, 0) {
            let book = PositionBook::from_records(&scan.records);
            let _ = writeln!(
                s,
                "\npositions (whole journal: {})\n{book}",
                self.journal.display()
            );
        }
        s
    }
}

fn side_name(side: Side) -> &'static str {
    side.as_str()
}
