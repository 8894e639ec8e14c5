//! The decision half of the sink: what one frame comes to ([`Desk::verdict`])
//! and what a recorded decision changes ([`Desk::apply`]).
//!
//! Nothing here writes to the journal or to a client: the sink appends the
//! record between the two steps, so the state this module keeps (positions,
//! answers given, counts) only ever holds what the journal holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use slog::Logger;

use super::journal::{ClientRef, JournalRecord, Outcome};
use super::positions::PositionBook;
use super::risk::{CheckCtx, RateLimiter, RiskChecks};
use super::seen::{OrderContent, Resend, SeenIds, SeenOrder};
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
    /// A recorded id resent with other content: `REJ,ID,ID_MISMATCH`,
    /// recorded (the attempt is evidence) but never replacing the id's
    /// first answer, and never executed.
    Mismatch {
        /// The id.
        id: &'f str,
        /// What the resend ordered, when it parsed.
        order: Option<Order<'f>>,
        /// The frame, for the record's `raw` when it did not parse.
        frame: &'f [u8],
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
    pub(crate) fn record(&self, recv_ns: i64, client: ClientRef<'_>) -> Option<JournalRecord> {
        let mismatch = RejectReason::IdMismatch;
        match self {
            Verdict::Replay { .. } => None,
            Verdict::Mismatch {
                order: Some(order), ..
            } => Some(JournalRecord::for_order(
                recv_ns,
                client,
                order,
                Err(mismatch),
            )),
            Verdict::Mismatch { id, frame, .. } => Some(JournalRecord::for_raw(
                recv_ns,
                client,
                Some(id),
                mismatch,
                frame,
            )),
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
            Verdict::Mismatch { id, .. } => Some((id, Some(RejectReason::IdMismatch))),
            Verdict::Order { order, result } => order.client_order_id.map(|id| (id, result.err())),
            Verdict::Malformed { bad, .. } => bad.client_order_id.map(|id| (id, Some(bad.reason))),
        }
    }
}

/// Who sent a frame: how its record names it and what its limits are keyed by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    /// Address and authenticated name, for the record.
    pub client: ClientRef<'a>,
    /// Risk key: the name, or `anon@IP`.
    pub key: &'a str,
}

impl Who<'_> {
    /// The scope of its ids: its name, or `""` shared by the unauthenticated.
    fn scope(&self) -> &str {
        self.client.name.unwrap_or("")
    }
}

/// Everything a frame is decided against. Owned by the sink; split from it
/// so that a client's state can be borrowed alongside.
pub(crate) struct Desk {
    /// Symbols in table order: membership and the price band's slot index.
    symbols: Vec<String>,
    /// Every recorded client order id, by client scope, with its answer.
    seen: SeenIds,
    /// Positions from the recorded orders.
    pub(crate) book: PositionBook,
    /// Trading is halted (SIGUSR1) until SIGUSR2.
    pub(crate) halted: bool,
    /// The pre-trade checks, in REJ precedence.
    checks: RiskChecks,
    /// RATE_LIMIT buckets by risk key: a client keeps its bucket across
    /// reconnects, so reconnecting cannot refill it.
    limiters: HashMap<String, RateLimiter>,
    /// Orders per second per client.
    rate: u64,
    /// Totals since this start.
    pub(crate) counts: SinkCounts,
    /// Keeps a flood of malformed frames from flooding the log.
    bad_log: LogLimiter,
    /// Keeps a flood of rejected orders from flooding the log.
    reject_log: LogLimiter,
    /// For malformed frames and rejects.
    log: Logger,
}

impl Desk {
    /// A desk over recovered state; `rate` is RATE_LIMIT per client.
    pub(crate) fn new(
        symbols: Vec<String>,
        seen: SeenIds,
        book: PositionBook,
        checks: RiskChecks,
        rate: u64,
        log: Logger,
    ) -> Desk {
        Desk {
            symbols,
            seen,
            book,
            halted: false,
            checks,
            limiters: HashMap::new(),
            rate,
            counts: SinkCounts::default(),
            bad_log: LogLimiter::new(20, Duration::from_secs(1)),
            reject_log: LogLimiter::new(20, Duration::from_secs(1)),
            log,
        }
    }

    /// Decides one frame from `who`: a replay for a recorded id (or a
    /// mismatch when the resend differs), else the parse result and, for an
    /// order, the risk checks.
    pub(crate) fn verdict<'f>(
        &mut self,
        frame: &'f [u8],
        who: Who<'_>,
        now: Instant,
    ) -> Verdict<'f> {
        let parsed = parse_order(frame);
        let id = match &parsed {
            Ok(order) => order.client_order_id,
            Err(bad) => {
                self.note_malformed(who.client.addr, bad, frame);
                bad.client_order_id
            }
        };
        let resend = id.and_then(|id| {
            let resend = self.seen.resend(who.scope(), id, parsed.as_ref().ok())?;
            Some((id, resend))
        });
        match resend {
            Some((id, Resend::Replay(answer))) => {
                self.counts.duplicates += 1;
                return Verdict::Replay { id, answer };
            }
            Some((id, Resend::Expired)) => {
                // Recorded long ago (or skipped by a sequence): never
                // executed again, and its first answer is not kept.
                self.counts.duplicates += 1;
                if let Some(skipped) = self.reject_log.allow() {
                    slog::warn!(self.log, "resent id older than the kept ones: ID_EXPIRED";
                        "client" => who.key, "id" => id, "not_logged_before" => skipped);
                }
                let answer = Some(RejectReason::IdExpired);
                return Verdict::Replay { id, answer };
            }
            Some((id, Resend::Mismatch)) => {
                if let Some(skipped) = self.reject_log.allow() {
                    slog::warn!(self.log, "resent id with other content: ID_MISMATCH";
                        "client" => who.key, "id" => id, "not_logged_before" => skipped);
                }
                return Verdict::Mismatch {
                    id,
                    order: parsed.ok(),
                    frame,
                };
            }
            None => {}
        }
        let order = match parsed {
            Ok(order) => order,
            Err(bad) => return Verdict::Malformed { bad, frame },
        };
        let rate = self.rate;
        let limiter = self
            .limiters
            .entry(who.key.to_string())
            .or_insert_with(|| RateLimiter::new(rate, now));
        let mut ctx = CheckCtx {
            halted: self.halted,
            symbol: self.symbols.iter().position(|s| s == order.symbol),
            book: &self.book,
            client: who.key,
            limiter,
            now,
        };
        let result = self.checks.evaluate(&order, &mut ctx);
        if let Err(reason) = result {
            let id = order.client_order_id.unwrap_or("-");
            match self.reject_log.allow() {
                Some(skipped) => slog::info!(self.log, "order rejected"; "client" => who.key,
                    "id" => id, "reason" => reason.as_str(), "not_logged_before" => skipped),
                None => slog::debug!(self.log, "order rejected"; "client" => who.key,
                    "id" => id, "reason" => reason.as_str()),
            }
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
    /// the answer a resend will get (never from a mismatch: the id keeps its
    /// first answer). Returns the `Executed order` log line of an accepted
    /// order.
    pub(crate) fn apply(
        &mut self,
        verdict: &Verdict<'_>,
        record: &JournalRecord,
    ) -> Option<String> {
        self.book.apply(record);
        match record.outcome {
            Outcome::Accepted => self.counts.accepted += 1,
            Outcome::Rejected => self.counts.rejected += record.frames.unwrap_or(1),
        }
        match verdict {
            Verdict::Mismatch { .. } => self.counts.id_mismatches += 1,
            _ => {
                if let Some((id, answer)) = verdict.answer() {
                    let content = match verdict {
                        Verdict::Order { order, .. } => Some(OrderContent::of(order)),
                        _ => None,
                    };
                    self.seen
                        .insert(record.id_scope(), id, SeenOrder { answer, content });
                }
            }
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

    /// Counts a summary record of id-less malformed frames once appended.
    pub(crate) fn apply_summary(&mut self, record: &JournalRecord) {
        self.counts.rejected += record.frames.unwrap_or(1);
    }
}
