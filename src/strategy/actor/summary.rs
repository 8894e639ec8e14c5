//! What the strategy says about its orders at info level: under a flood,
//! never a line per order (those are at debug), but a counts line every
//! [`COUNTS_EVERY`] while anything changed, and a first few rejects and
//! orders in doubt at warn, rate-limited, with how many were not logged.

use std::time::{Duration, Instant};

use super::SignalActor;
use crate::logging::LogLimiter;
use crate::symbol::SymbolIndex;

/// How often the counts line is logged while trading: often enough to
/// follow a run in the log, rare enough to stay small whatever the rate.
pub(super) const COUNTS_EVERY: Duration = Duration::from_secs(10);

/// Rate limits for the per-order warnings; every event is still counted in
/// the counts lines and logged in full at debug.
pub(super) struct AnswerLog {
    /// Orders the ordermanager rejected.
    pub(super) rejected: LogLimiter,
    /// Orders with no answer after `order_timeout`.
    pub(super) in_doubt: LogLimiter,
}

impl AnswerLog {
    /// The first ten of each, then one a second.
    pub(super) fn new() -> AnswerLog {
        AnswerLog {
            rejected: LogLimiter::new(10, Duration::from_secs(1)),
            in_doubt: LogLimiter::new(10, Duration::from_secs(1)),
        }
    }
}

impl SignalActor {
    /// Logs the counts line when [`COUNTS_EVERY`] has passed since the last
    /// one and something was counted since (an idle strategy stays quiet).
    pub(super) fn log_counts_if_due(&mut self) {
        if self.counts_logged.elapsed() < COUNTS_EVERY {
            return;
        }
        let seen = (self.input.ticks, self.tracker.counts().sent);
        if seen != self.counts_seen {
            self.counts_seen = seen;
            self.log_counts("counts");
        }
        self.counts_logged = Instant::now();
    }

    /// One info line with every counter and the position per symbol; `what`
    /// names it (`counts` while running, `final counts` at the end).
    pub(super) fn log_counts(&self, what: &str) {
        let c = self.current_counts();
        let positions: Vec<String> = SymbolIndex::all(self.settings.symbols.len())
            .map(|i| {
                format!(
                    "{}={}",
                    self.settings.symbols[i.get()],
                    self.tracker.position(i)
                )
            })
            .collect();
        slog::info!(self.log, "{}", what;
            "sent" => c.orders.sent, "acked" => c.orders.acked, "rejected" => c.orders.rejected, "unanswered" => c.unanswered,
            "resent" => c.orders.resent, "ticks" => c.input.ticks, "lost" => c.input.lost, "news" => c.input.news,
            "stale_ticks" => c.input.stale, "skipped_signals" => c.input.skipped,
            "positions" => positions.join(" "));
    }
}
