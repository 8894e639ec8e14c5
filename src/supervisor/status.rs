//! What the supervisor shows: the live status line and the final summary.
//!
//! Ticks come from the shm table's tick count (a read-only mapping, attached
//! lazily once the orderbook has created the table); orders come from the
//! ordermanager's journal, streamed record by record (never held) from where
//! it ended when the run started, so every number — positions included — is
//! this run's; the summary says since when the journal's history runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::clock::unix_now_ns;
use crate::lifecycle::Role;
use crate::ordermanager::journal::{JournalReader, JournalRecord, Outcome};
use crate::ordermanager::positions::PositionBook;
use crate::ordermanager::utc_time;
use crate::shm::{PriceTableReader, Quote};
use crate::symbol::SymbolIndex;

/// Shortest interval the tick rate is computed over, so that two refreshes
/// close together do not make the rate jump.
const RATE_MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Counters of the run, refreshed from the table and the journal.
#[derive(Debug)]
pub struct RunStats {
    /// When the run started, for the duration and the status line.
    started: Instant,
    /// The ordermanager's journal.
    journal: PathBuf,
    /// Journal offset read up to: the journal's end when the run started,
    /// then just after the last complete record read.
    offset: u64,
    /// The table whose tick count is the run's tick count.
    shm_name: String,
    /// Read-only view of the table, attached once it exists.
    reader: Option<PriceTableReader>,
    /// Ticks of earlier tables of this run (a restarted orderbook re-creates it).
    ticks_before: u64,
    /// Tick count and time of the last rate computation.
    last: (u64, Instant),
    /// Ticks per second over the last refresh period.
    pub ticks_per_s: f64,
    /// Orders accepted this run.
    pub accepted: u64,
    /// Orders rejected this run.
    pub rejected: u64,
    /// Accepted orders and shares by symbol and side ("BUY"/"SELL").
    pub by_symbol: BTreeMap<(String, &'static str), (u64, u64)>,
    /// Rejects by reason code (e.g. `MAX_POSITION`).
    pub reject_reasons: BTreeMap<String, u64>,
    /// Positions built from this run's accepted orders.
    pub positions: PositionBook,
    /// The last journal read error, shown instead of silently stale numbers.
    pub journal_error: Option<String>,
    /// `recv_ns` of the journal's first record: since when the history the
    /// ordermanager recovers runs (this run's start after `--fresh`).
    pub journal_since: Option<i64>,
    /// The strategy's age limit (`strategy::max_tick_age`), when it applies:
    /// the status line then counts the symbols whose prices are stale.
    stale_after: Option<Duration>,
    /// Symbols the strategy would not trade on now (see [`count_stale`]).
    pub stale_symbols: usize,
    /// The dashboard's view of each record counted (latency, halted state);
    /// the one hook it needs here, so it reads the journal only once.
    pub tap: Option<crate::dashboard::RecordTap>,
}

impl RunStats {
    /// Counting starts at the journal's current end.
    pub fn new(journal: PathBuf, shm_name: String) -> RunStats {
        let offset = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
        let journal_since = JournalReader::open(&journal, 0)
            .and_then(|mut r| r.next_record())
            .ok()
            .flatten()
            .map(|r| r.recv_ns);
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
            positions: PositionBook::new(),
            journal_error: None,
            journal_since,
            stale_after: None,
            stale_symbols: 0,
            tap: None,
        }
    }

    /// Counts stale symbols on the status line, by the strategy's own limit
    /// (`None`: it does not apply to this run, e.g. a finite replay).
    pub fn watch_staleness(&mut self, after: Option<Duration>) {
        self.stale_after = after;
    }

    /// Ticks written this run.
    pub fn ticks(&self) -> u64 {
        self.ticks_before + self.reader.as_ref().map_or(0, |r| r.ticks_written())
    }

    /// Reads what is new in the table and the journal.
    pub fn refresh(&mut self) {
        self.refresh_table();
        self.refresh_journal();
    }

    fn refresh_table(&mut self) {
        if self.reader.as_ref().is_some_and(|r| !r.is_current()) {
            if let Some(old) = self.reader.take() {
                self.ticks_before += old.ticks_written();
            }
        }
        if self.reader.is_none() {
            self.reader = PriceTableReader::attach(&self.shm_name).ok();
        }
        self.stale_symbols = match (&self.reader, self.stale_after) {
            (Some(r), Some(after)) if !r.feed_ended() => {
                let quotes = SymbolIndex::all(r.symbols().len()).map(|i| r.read(i));
                count_stale(quotes, r.heartbeat_ns(), unix_now_ns(), after)
            }
            _ => 0,
        };
        let now = Instant::now();
        let ticks = self.ticks();
        let secs = now.duration_since(self.last.1);
        if secs >= RATE_MIN_INTERVAL {
            self.ticks_per_s = ticks.saturating_sub(self.last.0) as f64 / secs.as_secs_f64();
            self.last = (ticks, now);
        }
    }

    fn refresh_journal(&mut self) {
        let mut reader = match JournalReader::open(&self.journal, self.offset) {
            Ok(reader) => reader,
            Err(e) => return self.journal_error = Some(e.to_string()),
        };
        self.journal_error = None;
        let from_start = self.offset == 0;
        loop {
            match reader.next_record() {
                Ok(Some(r)) => {
                    // An empty journal at the start: its first record is
                    // this run's, and the journal's start.
                    if from_start {
                        self.journal_since.get_or_insert(r.recv_ns);
                    }
                    self.count(&r);
                }
                Ok(None) => break,
                Err(e) => {
                    self.journal_error = Some(e.to_string());
                    break;
                }
            }
        }
        // Just after the last record counted, so none is counted twice.
        self.offset = reader.end().end_offset;
    }

    /// Adds one journal record to the counters and the positions.
    pub fn count(&mut self, r: &JournalRecord) {
        if let Some(tap) = &self.tap {
            tap.see(r);
        }
        match r.outcome {
            Outcome::Accepted => {
                self.accepted += 1;
                if let (Some(sym), Some(side), Some(q)) = (&r.symbol, r.side, r.quantity) {
                    let e = self
                        .by_symbol
                        .entry((sym.clone(), side.as_str()))
                        .or_default();
                    e.0 += 1;
                    e.1 += q;
                }
                self.positions.apply(r);
            }
            Outcome::Rejected => {
                // A summary of id-less malformed frames stands for several.
                let n = r.frames.unwrap_or(1);
                self.rejected += n;
                let reason = r.reason.map_or("(none)", |r| r.as_str()).to_string();
                *self.reject_reasons.entry(reason).or_default() += n;
            }
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The one-line live status.
    pub fn status_line(&self, restarts: u32) -> String {
        let stale = match self.stale_symbols {
            0 => String::new(),
            n => format!(" | {n} stale"),
        };
        format!(
            "{:>7.1}s | {:>10.0} ticks/s | {:>10} ticks | {:>7} orders | {:>5} rejects | {} restarts{}",
            self.elapsed().as_secs_f64(),
            self.ticks_per_s,
            self.ticks(),
            self.accepted,
            self.rejected,
            restarts,
            stale
        )
    }

    /// The end-of-run table: duration, ticks, orders by symbol and side,
    /// rejects by reason, restarts by role and this run's positions.
    pub fn summary(&self, restarts: &[(Role, u32)]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "=== run summary ===");
        let _ = writeln!(s, "duration        {:.1} s", self.elapsed().as_secs_f64());
        let _ = writeln!(s, "ticks           {}", self.ticks());
        let _ = writeln!(
            s,
            "orders          {} accepted, {} rejected",
            self.accepted, self.rejected
        );
        if let Some(e) = &self.journal_error {
            let _ = writeln!(s, "journal         unreadable: {e}");
        }
        if let Some(since) = self.journal_since {
            let _ = writeln!(
                s,
                "journal         {} since {} (start afresh: --fresh)",
                self.journal.display(),
                utc_time(since)
            );
        }
        if !self.by_symbol.is_empty() {
            let _ = writeln!(
                s,
                "\n{:<8} {:<5} {:>8} {:>10}",
                "symbol", "side", "orders", "shares"
            );
            for ((sym, side), (orders, shares)) in &self.by_symbol {
                let _ = writeln!(s, "{sym:<8} {side:<5} {orders:>8} {shares:>10}");
            }
        }
        if !self.reject_reasons.is_empty() {
            let _ = writeln!(s, "\nrejects by reason");
            for (reason, n) in &self.reject_reasons {
                let _ = writeln!(s, "  {reason:<16} {n}");
            }
        }
        let restarts: Vec<String> = restarts
            .iter()
            .map(|(r, n)| format!("{}={n}", r.name()))
            .collect();
        let _ = writeln!(s, "\nrestarts        {}", restarts.join(" "));
        if self.accepted > 0 {
            let _ = write!(s, "\npositions (this run)\n{}", self.positions);
        }
        s
    }
}

/// Symbols whose price the strategy would not trade on now: every written
/// symbol while the table's writer has not beaten its heartbeat for `after`
/// (stopped or dead), else each whose last tick reached the table more than
/// `after` after the gateway sent it (a backlog of a stalled pipeline).
/// Counted from the table alone, so the supervisor needs no word from the
/// strategy.
pub fn count_stale(
    quotes: impl Iterator<Item = Quote>,
    heartbeat_ns: i64,
    now_ns: i64,
    after: Duration,
) -> usize {
    let after = after.as_nanos() as i64;
    let writer_stopped = now_ns.saturating_sub(heartbeat_ns) > after;
    quotes
        .filter(|q| q.updates > 0)
        .filter(|q| writer_stopped || (q.send_ns > 0 && q.write_ns - q.send_ns > after))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Price;
    use crate::protocol::{RejectReason, Side};

    fn record(
        sym: &str,
        side: Side,
        price: &str,
        outcome: Outcome,
        reason: Option<RejectReason>,
    ) -> String {
        let r = JournalRecord {
            recv_ns: 1,
            client_order_id: Some("c-1".into()),
            client: "127.0.0.1:1".into(),
            side: Some(side),
            quantity: Some(100),
            symbol: Some(sym.into()),
            price: Some(Price::parse(price).unwrap()),
            outcome,
            reason,
            raw: None,
            client_name: None,
            frames: None,
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    #[test]
    fn only_records_written_after_the_start_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.journal");
        let before = record("AAA", Side::Buy, "10", Outcome::Accepted, None);
        std::fs::write(&path, &before).unwrap();
        let mut stats = RunStats::new(path.clone(), "ut_status_no_such_table".into());
        let run = [
            record("AAA", Side::Buy, "10", Outcome::Accepted, None),
            record("AAA", Side::Sell, "12", Outcome::Accepted, None),
            record("BBB", Side::Sell, "5", Outcome::Accepted, None),
            record(
                "BBB",
                Side::Buy,
                "5",
                Outcome::Rejected,
                Some(RejectReason::MaxPosition),
            ),
        ]
        .concat();
        std::fs::write(&path, before + &run).unwrap();
        stats.refresh();
        // A second refresh reads nothing new: nothing is counted twice.
        stats.refresh();
        assert_eq!((stats.accepted, stats.rejected), (3, 1));
        assert_eq!(stats.by_symbol[&("AAA".to_string(), "BUY")], (1, 100));
        assert_eq!(stats.by_symbol[&("AAA".to_string(), "SELL")], (1, 100));
        assert_eq!(stats.by_symbol[&("BBB".to_string(), "SELL")], (1, 100));
        assert_eq!(stats.reject_reasons["MAX_POSITION"], 1);
        // The record from before the run is not in the positions: AAA is flat.
        assert_eq!(stats.positions.net("AAA"), 0);
        assert_eq!(stats.positions.net("BBB"), -100);
        assert_eq!(stats.ticks(), 0);
        let summary = stats.summary(&[(Role::Gateway, 2), (Role::Strategy, 0)]);
        assert!(
            summary.contains("orders          3 accepted, 1 rejected"),
            "{summary}"
        );
        assert!(
            summary.contains("BBB      SELL         1        100"),
            "{summary}"
        );
        assert!(summary.contains("  MAX_POSITION     1"), "{summary}");
        assert!(
            summary.contains("restarts        gateway=2 strategy=0"),
            "{summary}"
        );
        assert!(summary.contains("positions (this run)"), "{summary}");
        let since = format!(
            "journal         {} since 1970-01-01 00:00:00 UTC",
            path.display()
        );
        assert!(summary.contains(&since), "{summary}");
        let line = stats.status_line(2);
        assert!(
            line.ends_with("|          0 ticks |       3 orders |     1 rejects | 2 restarts"),
            "{line}"
        );
    }

    #[test]
    fn a_torn_tail_is_read_once_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.journal");
        let mut stats = RunStats::new(path.clone(), "ut_status_no_such_table".into());
        let line = record("AAA", Side::Buy, "10", Outcome::Accepted, None);
        let (head, tail) = line.split_at(line.len() / 2);
        std::fs::write(&path, head).unwrap();
        stats.refresh();
        assert_eq!(stats.accepted, 0);
        std::fs::write(&path, format!("{head}{tail}")).unwrap();
        stats.refresh();
        assert_eq!(stats.accepted, 1);
    }

    #[test]
    fn records_before_a_corrupt_line_count_once_and_the_error_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.journal");
        let mut stats = RunStats::new(path.clone(), "ut_status_no_such_table".into());
        let good = record("AAA", Side::Buy, "10", Outcome::Accepted, None);
        std::fs::write(&path, format!("{good}{good}garbage\n{good}")).unwrap();
        stats.refresh();
        stats.refresh();
        assert_eq!(stats.accepted, 2, "read up to the corrupt line, once");
        let e = stats.journal_error.as_deref().unwrap_or_default();
        assert!(e.contains("line 1: corrupt record"), "{e}");
        assert!(stats.summary(&[]).contains("journal         unreadable"));
    }

    #[test]
    fn stale_symbols_are_late_ticks_or_all_of_them_when_the_writer_stopped() {
        let q = |send_ns, write_ns, updates| Quote {
            price_units: 1,
            event_ns: 0,
            write_ns,
            send_ns,
            updates,
        };
        let after = Duration::from_millis(1000);
        let ms = 1_000_000;
        let quotes = [
            q(100 * ms, 101 * ms, 5),  // fresh
            q(100 * ms, 2000 * ms, 5), // arrived 1.9 s after it was sent
            q(0, 101 * ms, 5),         // no send time: judged by the heartbeat only
            q(0, 0, 0),                // never written
        ];
        let alive = count_stale(quotes.into_iter(), 2500 * ms, 2600 * ms, after);
        assert_eq!(alive, 1);
        let stopped = count_stale(quotes.into_iter(), 1000 * ms, 2600 * ms, after);
        assert_eq!(stopped, 3, "every written symbol once the heartbeat is old");
    }
}
