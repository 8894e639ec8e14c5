//! The decision half of the sink: what one frame comes to ([`Desk::verdict`])
//! and what a recorded decision changes ([`Desk::apply`]).
//!
//! Nothing here writes to the journal or to a client: the sink appends the
//! record between the two steps, so the state this module keeps (positions,
//! answers given, counts) only ever holds what the journal holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use slog::Logger;

use super::journal::{JournalRecord, Outcome};
use super::positions::PositionBook;
use super::risk::{CheckCtx, RateLimiter, RiskChecks};
use super::sink::SinkCounts;
use crate::logging::LogLimiter;
use crate::protocol::{parse_order, BadOrder, Order, RejectReason};

/// What one frame comes to, decided before anything is written.
pub(crate) enum Verdict<'f> {
    /// A resent id: its recorded answer goes out again; nothing is recorded
    /// or executed, which is what makes resending safe.
    Replay {
        /// The id the client resent.
        id: &'f str,
        /// What it was answered (None = ACK).
        answer: Option<RejectReason>,
    },
    /// A parsed order: accepted (`Ok`) or refused by a risk check.
    Order {
        /// The order, borrowing the frame.
        order: Order<'f>,
        /// The risk checks' result.
        result: Result<(), RejectReason>,
    },
    /// A frame that did not parse; still recorded and, with an id, answered.
    Malformed {
        /// Why, and the id if one could be read.
        bad: BadOrder<'f>,
        /// The frame, for the record's `raw`.
        frame: &'f [u8],
    },
}

impl<'f> Verdict<'f> {
    /// The journal record of a new decision; `None` for a replay, which
    /// adds nothing to the journal.
    pub(crate) fn record(&self, recv_ns: i64, client: &str) -> Option<JournalRecord> {
        match self {
            Verdict::Replay { .. } => None,
            Verdict::Order { order, result } => {
                Some(JournalRecord::for_order(recv_ns, client, order, *result))
            }
            Verdict::Malformed { bad, frame } => {
                Some(JournalRecord::for_malformed(recv_ns, client, bad, frame))
            }
        }
    }

    /// The id to answer and its answer (None = ACK); `None` when the frame
    /// had no id (the original client, which is never written to).
    pub(crate) fn answer(&self) -> Option<(&'f str, Option<RejectReason>)> {
        match self {
            Verdict::Replay { id, answer } => Some((id, *answer)),
            Verdict::Order { order, result } => order.client_order_id.map(|id| (id, result.err())),
            Verdict::Malformed { bad, .. } => bad.client_order_id.map(|id| (id, Some(bad.reason))),
        }
    }
}

/// Everything a frame is decided against. Owned by the sink; split from it
/// so that a client's state can be borrowed alongside.
pub(crate) struct Desk {
    /// Symbols in table order: membership and the price band's slot index.
    symbols: Vec<String>,
    /// Every recorded client order id and its answer (None = ACK).
    seen: HashMap<String, Option<RejectReason>>,
    /// Positions from the recorded orders.
    pub(crate) book: PositionBook,
    /// Trading is halted (SIGUSR1) until SIGUSR2.
    pub(crate) halted: bool,
    /// The pre-trade checks, in REJ precedence.
    checks: RiskChecks,
    /// Totals since this start.
    pub(crate) counts: SinkCounts,
    /// Keeps a flood of malformed frames from flooding the log.
    bad_log: LogLimiter,
    /// For malformed frames and rejects.
    log: Logger,
}

impl Desk {
    /// A desk over recovered state.
    pub(crate) fn new(
        symbols: Vec<String>,
        seen: HashMap<String, Option<RejectReason>>,
        book: PositionBook,
        checks: RiskChecks,
        log: Logger,
    ) -> Desk {
        Desk {
            symbols,
            seen,
            book,
            halted: false,
            checks,
            counts: SinkCounts::default(),
            bad_log: LogLimiter::new(20, Duration::from_secs(1)),
            log,
        }
    }

    /// Decides one frame from `peer`: a replay for a recorded id, else the
    /// parse result and, for an order, the risk checks.
    pub(crate) fn verdict<'f>(
        &mut self,
        frame: &'f [u8],
        peer: &str,
        limiter: &mut RateLimiter,
        now: Instant,
    ) -> Verdict<'f> {
        let parsed = parse_order(frame);
        let id = match &parsed {
            Ok(order) => order.client_order_id,
            Err(bad) => {
                self.note_malformed(peer, bad, frame);
                bad.client_order_id
            }
        };
        if let Some((id, answer)) = id.and_then(|id| Some((id, *self.seen.get(id)?))) {
            self.counts.duplicates += 1;
            return Verdict::Replay { id, answer };
        }
        let order = match parsed {
            Ok(order) => order,
            Err(bad) => return Verdict::Malformed { bad, frame },
        };
        let mut ctx = CheckCtx {
            halted: self.halted,
            symbol: self.symbols.iter().position(|s| s == order.symbol),
            book: &self.book,
            limiter,
            now,
        };
        let result = self.checks.evaluate(&order, &mut ctx);
        if let Err(reason) = result {
            slog::info!(self.log, "order rejected"; "client" => peer,
                "id" => order.client_order_id.unwrap_or("-"), "reason" => reason.as_str());
        }
        Verdict::Order { order, result }
    }

    /// Counts a malformed frame and logs it (rate-limited).
    fn note_malformed(&mut self, peer: &str, bad: &BadOrder<'_>, frame: &[u8]) {
        self.counts.malformed += 1;
        if let Some(skipped) = self.bad_log.allow() {
            slog::warn!(self.log, "malformed order"; "client" => peer, "reason" => %bad.error,
                "frame" => String::from_utf8_lossy(frame).into_owned(), "not_logged_before" => skipped);
        }
    }

    /// Takes in a decision whose `record` has been appended to the journal:
    /// the fill (through the same [`PositionBook::apply`] that recovery
    /// uses, so live and recovered positions cannot differ), the counts and
    /// the answer a resend will get. Returns the `Executed order` log line
    /// of an accepted order.
    pub(crate) fn apply(
        &mut self,
        verdict: &Verdict<'_>,
        record: &JournalRecord,
    ) -> Option<String> {
        self.book.apply(record);
        match record.outcome {
            Outcome::Accepted => self.counts.accepted += 1,
            Outcome::Rejected => self.counts.rejected += 1,
        }
        if let Some((id, answer)) = verdict.answer() {
            self.seen.insert(id.to_string(), answer);
        }
        match verdict {
            Verdict::Order {
                order,
                result: Ok(()),
            } => Some(format!(
                "Executed order: [{}] {} {} {} @ {}",
                order.timestamp,
                order.side.as_str(),
                order.quantity,
                order.symbol,
                order.price
            )),
            _ => None,
        }
    }
}
