//! Stale prices: ticks too old to trade on, and a table writer that
//! stopped refreshing its heartbeat or died.
//!
//! A tick's age is now minus the gateway's send time (the table's write
//! time when the gateway sent none): how long ago the price left the
//! market, wherever it waited since — a stopped orderbook's socket backlog
//! or a stopped strategy's ring backlog alike. A tick older than
//! `strategy.max_tick_age_ms` still updates the indicators (they must stay
//! continuous) but its signal is not sent: it is counted and logged as
//! skipped, and trading resumes by itself with the first fresh tick.
//!
//! The check is on only for a live feed (looping, with a rate): a finite
//! or full-speed replay's send time says when the gateway pushed the tick
//! into a queue it deliberately keeps full, not how old the price is, and
//! such runs must give the same orders every time however slow the machine.

use std::time::Duration;

use super::SignalActor;
use crate::clock::unix_now_ns;
use crate::shm::{Tick, WriterStatus};

/// A writer whose heartbeat (refreshed every 100 ms) is older than this is
/// reported as stopped or hung.
const HEARTBEAT_MAX_AGE_NS: i64 = 1_000_000_000;

/// How old a tick may be and what was last said about staleness.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    /// Ticks older than this produce no orders; `None`: never stale.
    max_age_ns: Option<i64>,
    /// The last tick judged was stale (to log transitions once).
    stale: bool,
    /// The writer's status as last logged.
    writer: WriterStatus,
}

impl Freshness {
    /// A check with `max_age` (`None` = off).
    pub(crate) fn new(max_age: Option<Duration>) -> Freshness {
        Freshness {
            max_age_ns: max_age.map(|d| d.as_nanos().min(i64::MAX as u128) as i64),
            stale: false,
            writer: WriterStatus::Alive,
        }
    }

    /// How old `t` is at `now_ns`: since the gateway sent it, or since the
    /// orderbook wrote it when the send time is unknown.
    pub(crate) fn age_ns(t: &Tick, now_ns: i64) -> i64 {
        let born = if t.send_ns > 0 { t.send_ns } else { t.write_ns };
        now_ns.saturating_sub(born)
    }

    /// Whether `t` is too old to trade on at `now_ns`.
    pub(crate) fn too_old(&self, t: &Tick, now_ns: i64) -> bool {
        self.max_age_ns
            .is_some_and(|max| Self::age_ns(t, now_ns) > max)
    }
}

impl SignalActor {
    /// Judges one tick's age; `false` (and counted) when its signal must be
    /// skipped. Logs only when the feed turns stale or fresh again.
    pub(super) fn fresh_enough(&mut self, t: &Tick, now_ns: i64) -> bool {
        let old = self.freshness.too_old(t, now_ns);
        if old != self.freshness.stale {
            self.freshness.stale = old;
            let age_ms = Freshness::age_ns(t, now_ns) / 1_000_000;
            if old {
                slog::warn!(self.log, "stale ticks: their signals are skipped, not sent";
                    "age_ms" => age_ms, "max_tick_age_ms" => self.freshness.max_age_ns.unwrap_or(0) / 1_000_000);
            } else {
                slog::info!(self.log, "fresh ticks again: trading resumed";
                    "age_ms" => age_ms, "stale_ticks" => self.input.stale, "skipped_signals" => self.input.skipped);
            }
        }
        if old {
            self.input.stale += 1;
        }
        !old
    }

    /// Looks at the table writer's heartbeat and process; says once when it
    /// stops, dies or comes back, with the reason.
    pub(super) fn watch_writer(&mut self) {
        let now = unix_now_ns();
        let status = self.reader.writer_status(now, HEARTBEAT_MAX_AGE_NS);
        if status == self.freshness.writer {
            return;
        }
        self.freshness.writer = status;
        let (pid, age_ms) = (
            self.reader.writer_pid(),
            now.saturating_sub(self.reader.heartbeat_ns()) / 1_000_000,
        );
        match status {
            WriterStatus::Stale => slog::warn!(self.log,
                "the price table's writer stopped refreshing its heartbeat: stopped or hung; prices may be stale";
                "writer_pid" => pid, "heartbeat_age_ms" => age_ms),
            WriterStatus::Dead => slog::warn!(self.log,
                "the price table's writer is gone: no new prices until an orderbook re-creates the table";
                "writer_pid" => pid),
            WriterStatus::Alive => slog::info!(self.log, "the price table's writer is alive again";
                "writer_pid" => pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::SymbolIndex;

    fn tick(send_ns: i64, write_ns: i64) -> Tick {
        Tick {
            seq: 0,
            symbol: SymbolIndex(0),
            price_units: 1,
            event_ns: 0,
            send_ns,
            write_ns,
        }
    }

    #[test]
    fn age_counts_from_the_send_time_or_else_the_write_time() {
        assert_eq!(Freshness::age_ns(&tick(100, 150), 400), 300);
        assert_eq!(Freshness::age_ns(&tick(0, 150), 400), 250);
    }

    #[test]
    fn only_ticks_past_the_limit_are_too_old_and_off_means_never() {
        let f = Freshness::new(Some(Duration::from_nanos(300)));
        assert!(
            !f.too_old(&tick(100, 100), 400),
            "exactly the limit is fine"
        );
        assert!(f.too_old(&tick(100, 100), 401));
        let off = Freshness::new(None);
        assert!(!off.too_old(&tick(1, 1), i64::MAX));
    }
}
