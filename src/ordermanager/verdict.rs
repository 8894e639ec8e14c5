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
use super::positions::{Position, PositionBook};
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
        let symbol = self.symbols.iter().position(|s| s == order.symbol);
        let result = self.judge(&order, symbol, who, now);
        Verdict::Order { order, result }
    }

    /// Decides and books an order its caller built itself (the backtest,
    /// which holds the order's fields and its symbol's table index already):
    /// the same risk checks in the same precedence as a live order
    /// ([`verdict`](Self::verdict) and this share [`judge`](Self::judge)),
    /// and for an accepted order the same [`PositionBook::apply_fill`], under
    /// the same risk key, that a recorded live order reaches through
    /// [`PositionBook::apply`]; the counts move as for a live order.
    ///
    /// Skipped, because they cannot change the outcome here: rendering and
    /// parsing a frame (the order is typed already), the seen-id store (a
    /// backtest's ids are unique by construction: one per tick tag, and its
    /// caller never sends a tag twice, as the live strategy's tracker never
    /// resends an answered id), the journal record and the `Executed order`
    /// line (nothing is written or logged). So it allocates nothing once the
    /// client's rate bucket and its first position exist. An accepted order
    /// answers its symbol's position after the fill.
    ///
    /// `symbol` is the order's index in the configured symbols; an index
    /// that does not name `order.symbol` is looked up by name instead, so a
    /// wrong index cannot trade the wrong symbol.
    pub(crate) fn decide_built(
        &mut self,
        order: &Order<'_>,
        symbol: usize,
        who: Who<'_>,
        now: Instant,
    ) -> Result<Position, RejectReason> {
        let named = |s: &String| {
            // The caller's own table string is the common case: no compare.
            std::ptr::eq(s.as_str(), order.symbol) || s == order.symbol
        };
        let symbol = match self.symbols.get(symbol) {
            Some(s) if named(s) => Some(symbol),
            _ => self.symbols.iter().position(named),
        };
        match self.judge(order, symbol, who, now) {
            Ok(()) => {
                self.counts.accepted += 1;
                let (side, quantity, price) = (order.side, order.quantity, order.price);
                Ok(self
                    .book
                    .apply_fill(who.key, order.symbol, side, quantity, price))
            }
            Err(reason) => {
                self.counts.rejected += 1;
                Err(reason)
            }
        }
    }

    /// The risk checks on one new order from `who` (`symbol`: its table
    /// index, `None` when not configured), with the reject logged
    /// (rate-limited): the one judgement of every order, live or built.
    fn judge(
        &mut self,
        order: &Order<'_>,
        symbol: Option<usize>,
        who: Who<'_>,
        now: Instant,
    ) -> Result<(), RejectReason> {
        // Looked up before inserting: the bucket's key is built once per client.
        let rate = self.rate;
        let limiter = match self.limiters.get_mut(who.key) {
            Some(bucket) => bucket,
            None => self
                .limiters
                .entry(who.key.to_string())
                .or_insert_with(|| RateLimiter::new(rate, now)),
        };
        let mut ctx = CheckCtx {
            halted: self.halted,
            symbol,
            book: &self.book,
            client: who.key,
            limiter,
            now,
        };
        let result = self.checks.evaluate(order, &mut ctx);
        if let Err(reason) = result {
            let id = order.client_order_id.unwrap_or("-");
            match self.reject_log.allow() {
                Some(skipped) => slog::info!(self.log, "order rejected"; "client" => who.key,
                    "id" => id, "reason" => reason.as_str(), "not_logged_before" => skipped),
                None => slog::debug!(self.log, "order rejected"; "client" => who.key,
                    "id" => id, "reason" => reason.as_str()),
            }
        }
        result
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordermanager::risk::{LastPrice, RiskLimits};
    use crate::price::Price;
    use crate::protocol::{write_order, Side};

    /// No last prices: PRICE_BAND is skipped, as on a host without the table.
    struct NoTable;

    impl LastPrice for NoTable {
        fn last(&mut self, _: usize) -> Option<Price> {
            None
        }
    }

    fn desk() -> Desk {
        let limits = RiskLimits {
            max_order_quantity: 500,
            max_position: 300,
            max_position_global: 0,
            price_band_pct: 0.0,
            max_order_notional: 0.0,
            min_price: 0.01,
            max_price: 1000.0,
        };
        Desk::new(
            vec!["AAA".into(), "BBB".into()],
            SeenIds::default(),
            PositionBook::new(),
            RiskChecks::standard(&limits, NoTable),
            5,
            Logger::root(slog::Discard, slog::o!()),
        )
    }

    #[test]
    fn a_built_order_is_judged_and_booked_as_the_same_order_sent_live() {
        use RejectReason::*;
        use Side::{Buy, Sell};
        let client = ClientRef {
            addr: "127.0.0.1:9",
            name: Some("s1"),
        };
        let who = Who { client, key: "s1" };
        let t0 = Instant::now();
        // (symbol, index the builder gives, side, quantity, price, ms, halted, expected)
        let orders = [
            ("AAA", 0, Buy, 100, "10", 0, false, Ok(())),
            ("AAA", 0, Buy, 100, "10", 0, false, Ok(())),
            ("AAA", 0, Buy, 200, "10", 0, false, Err(MaxPosition)),
            ("ZZZ", 0, Buy, 1, "10", 0, false, Err(UnknownSymbol)),
            ("BBB", 0, Sell, 100, "10", 0, false, Ok(())), // a wrong index: by name
            ("AAA", 0, Buy, 600, "10", 0, false, Err(MaxQuantity)),
            ("AAA", 0, Buy, 1, "10", 0, false, Err(RateLimit)),
            ("AAA", 0, Sell, 100, "2000", 1000, false, Err(PriceRange)),
            ("AAA", 0, Buy, 1, "10", 1000, true, Err(Halted)),
            ("BBB", 1, Buy, 100, "20", 1000, false, Ok(())),
            ("AAA", 0, Sell, 300, "11.5", 1000, false, Ok(())),
        ];
        let (mut live, mut built) = (desk(), desk());
        for (n, &(symbol, idx, side, quantity, price, ms, halted, expected)) in
            orders.iter().enumerate()
        {
            let now = t0 + Duration::from_millis(ms);
            (live.halted, built.halted) = (halted, halted);
            let id = format!("s1-{n}");
            let order = Order {
                timestamp: 1.0,
                side,
                quantity,
                symbol,
                price: Price::parse(price).unwrap(),
                client_order_id: Some(&id),
            };
            let mut frame = Vec::new();
            write_order(&mut frame, &order);
            let frame = frame.strip_suffix(b"*").unwrap_or(&frame);
            let verdict = live.verdict(frame, who, now);
            let Verdict::Order { result, .. } = &verdict else {
                panic!("order {n} did not parse as an order");
            };
            assert_eq!(*result, expected, "live, order {n}");
            let record = verdict.record(0, client).unwrap();
            live.apply(&verdict, &record);
            let got = built.decide_built(&order, idx, who, now);
            assert_eq!(got.map(|_| ()), expected, "built, order {n}");
            if let Ok(after) = got {
                assert_eq!(Some(&after), built.book.by_symbol.get(symbol), "order {n}");
            }
        }
        assert_eq!(built.book, live.book);
        assert_eq!(
            built.book.net("BBB"),
            0,
            "the wrong index booked BBB by name"
        );
        assert_eq!(built.book.client_net("s1", "AAA"), -100);
        let counts = |d: &Desk| (d.counts.accepted, d.counts.rejected);
        assert_eq!(counts(&built), counts(&live));
        assert_eq!(counts(&built), (5, 6));
    }
}
