//! The strategy's record of its orders: sent, answered, in doubt, and the
//! position that follows from the answers.
//!
//! Every order is kept until its ACK or REJ, and forgotten then: what an
//! answered order leaves behind is counts and a position per symbol, so
//! memory follows the orders in flight, not the length of the run. After a
//! reconnect every unanswered order is sent again with the same id, in the
//! original order; the ordermanager's exactly-once rule makes a resend of an
//! order it already recorded harmless. Position follows ACKs, never sends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::price::Price;
use crate::protocol::{write_order, Order, Side};
use crate::symbol::SymbolIndex;

/// The id of the order for the price signal at tick `seq` of table `generation`:
/// `{client_name}-{generation's low 32 bits, 8 hex}-{seq in hex}`.
///
/// Derived from the signal, not from the send, so a strategy that replays the
/// same ring produces the same ids and cannot double an order. With a client
/// name of at most 6 bytes it never exceeds the protocol's 32 bytes.
pub(crate) fn order_id(client_name: &str, generation: u64, seq: u64) -> String {
    format!("{client_name}-{:08x}-{seq:x}", generation as u32)
}

/// One order waiting for its answer (its id is the key it is kept under).
///
/// Holds what the frame was made of rather than the frame: the frame is
/// rendered again, byte for byte the same, on the rare resend, and the
/// fields are smaller than its text.
#[derive(Debug, Clone)]
struct PendingOrder {
    /// Send order, so a reconnect resends in the original order.
    seq: u64,
    /// Symbol index, for the position and the resent frame.
    symbol: SymbolIndex,
    /// Direction, for the position.
    side: Side,
    /// Shares, for the position.
    quantity: u64,
    /// Limit price, for the resent frame.
    price: Price,
    /// The frame's timestamp (Unix seconds), for the resent frame.
    timestamp: f64,
    /// When it was (last) sent, for the in-doubt timeout.
    sent_at: Instant,
    /// Whether the in-doubt warning was already logged.
    doubt_logged: bool,
}

/// In-flight entries below which the map is never shrunk: a few KiB.
const MIN_PENDING_CAPACITY: usize = 64;

/// What an answer did to the book, for the caller's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// An ACK of a pending order: the position moved.
    Acked {
        /// Symbol index whose position moved.
        symbol: SymbolIndex,
        /// Direction of the fill.
        side: Side,
        /// Shares filled.
        quantity: u64,
    },
    /// A REJ of a pending order.
    Rejected,
    /// An answer for an id not pending (a late duplicate after a resend).
    Unknown,
}

/// An order as the strategy decided it, before it has a frame.
///
/// Kept together so that a call site names each part instead of passing six
/// positional values, two of which (quantity, symbol index) are easy to swap.
#[derive(Debug, Clone)]
pub(crate) struct OrderTicket<'a> {
    /// Client order id, derived from the signal (see [`order_id`]).
    pub(crate) id: String,
    /// Symbol index, for the position the ACK moves.
    pub(crate) symbol_idx: SymbolIndex,
    /// Symbol name, for the frame.
    pub(crate) symbol: &'a str,
    /// Direction.
    pub(crate) side: Side,
    /// Shares.
    pub(crate) quantity: u64,
    /// Limit price: the symbol's last tick when the signal came.
    pub(crate) price: Price,
}

/// What the run did with its orders. The tracker is the only keeper of
/// these numbers: it is where orders are made and answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders made, tracked or not: what the ordermanager should have seen.
    pub sent: u64,
    /// ACKs of pending orders: what moved the position.
    pub acked: u64,
    /// REJs of pending orders.
    pub rejected: u64,
    /// Orders sent again after a reconnect; high means an unstable link.
    pub resent: u64,
    /// Answers for ids not pending: late duplicates after a resend, harmless
    /// unless many.
    pub unknown_answers: u64,
}

/// Every unanswered order and the counters of the run.
#[derive(Debug, Default)]
pub(crate) struct OrderTracker {
    /// Unanswered orders by client order id. Shrunk when a burst of
    /// answers leaves it mostly empty, so a past peak is not kept.
    pending: HashMap<Box<str>, PendingOrder>,
    /// Next local sequence.
    next: u64,
    /// Net shares per symbol, from ACKs.
    positions: HashMap<SymbolIndex, i64>,
    /// Everything counted about the orders.
    counts: OrderCounts,
}

impl OrderTracker {
    /// An empty tracker.
    pub(crate) fn new() -> OrderTracker {
        OrderTracker::default()
    }

    /// Records a new order and appends its frame to `out` (to write now,
    /// or on connect); `false`, and nothing appended, for an id already
    /// pending: a replayed signal.
    ///
    /// `now` starts the in-doubt clock; `timestamp` (Unix seconds) goes into
    /// the frame.
    pub(crate) fn create(
        &mut self,
        ticket: &OrderTicket<'_>,
        now: Instant,
        timestamp: f64,
        out: &mut Vec<u8>,
    ) -> bool {
        if self.pending.contains_key(ticket.id.as_str()) {
            return false;
        }
        write_order(
            out,
            &Order {
                timestamp,
                side: ticket.side,
                quantity: ticket.quantity,
                symbol: ticket.symbol,
                price: ticket.price,
                client_order_id: Some(&ticket.id),
            },
        );
        let seq = self.next;
        self.next += 1;
        self.counts.sent += 1;
        let p = PendingOrder {
            seq,
            symbol: ticket.symbol_idx,
            side: ticket.side,
            quantity: ticket.quantity,
            price: ticket.price,
            timestamp,
            sent_at: now,
            doubt_logged: false,
        };
        self.pending.insert(ticket.id.as_str().into(), p);
        true
    }

    /// Counts an order sent without an id (`strategy.order_ids = false`):
    /// nothing will answer it, so it is never pending, but it was sent.
    pub(crate) fn count_untracked(&mut self) {
        self.counts.sent += 1;
    }

    /// Applies an ACK (`rejected = false`) or a REJ for `id`; the order is
    /// forgotten, only the counts and the position keep it.
    pub(crate) fn answer(&mut self, id: &str, rejected: bool) -> Answer {
        let Some(p) = self.pending.remove(id) else {
            self.counts.unknown_answers += 1;
            return Answer::Unknown;
        };
        self.shrink_after_burst();
        if rejected {
            self.counts.rejected += 1;
            return Answer::Rejected;
        }
        self.counts.acked += 1;
        *self.positions.entry(p.symbol).or_default() += p.side.sign() * p.quantity as i64;
        Answer::Acked {
            symbol: p.symbol,
            side: p.side,
            quantity: p.quantity,
        }
    }

    /// Gives memory back once at most a quarter of the map is in use: a
    /// burst of unanswered orders must not stay allocated for the rest of
    /// the run. Halving at a quarter keeps the cost amortised per answer.
    fn shrink_after_burst(&mut self) {
        let (len, capacity) = (self.pending.len(), self.pending.capacity());
        if capacity > MIN_PENDING_CAPACITY && len * 4 < capacity {
            self.pending.shrink_to((len * 2).max(MIN_PENDING_CAPACITY));
        }
    }

    /// Every unanswered order's frame, in send order, for a new connection;
    /// marks them resent. `symbols` names the symbol indexes.
    pub(crate) fn resend_all(
        &mut self,
        out: &mut Vec<u8>,
        now: Instant,
        symbols: &[String],
    ) -> usize {
        let mut unanswered: Vec<(&str, &mut PendingOrder)> =
            self.pending.iter_mut().map(|(id, p)| (&**id, p)).collect();
        unanswered.sort_unstable_by_key(|(_, p)| p.seq);
        for (id, p) in &mut unanswered {
            write_order(
                out,
                &Order {
                    timestamp: p.timestamp,
                    side: p.side,
                    quantity: p.quantity,
                    symbol: &symbols[p.symbol.get()],
                    price: p.price,
                    client_order_id: Some(id),
                },
            );
            p.sent_at = now;
        }
        self.counts.resent += unanswered.len() as u64;
        unanswered.len()
    }

    /// Orders unanswered for longer than `timeout` and not yet reported.
    pub(crate) fn newly_in_doubt(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        self.pending
            .iter_mut()
            .filter(|(_, p)| !p.doubt_logged && now.duration_since(p.sent_at) >= timeout)
            .map(|(id, p)| {
                p.doubt_logged = true;
                id.to_string()
            })
            .collect()
    }

    /// The counters so far.
    pub(crate) fn counts(&self) -> OrderCounts {
        self.counts
    }

    /// Orders still waiting for an answer.
    pub(crate) fn unanswered(&self) -> usize {
        self.pending.len()
    }

    /// Net shares of `symbol` as the ACKs say.
    pub(crate) fn position(&self, symbol: SymbolIndex) -> i64 {
        self.positions.get(&symbol).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_order;

    fn create(t: &mut OrderTracker, id: &str, side: Side) -> Option<Vec<u8>> {
        let ticket = OrderTicket {
            id: id.into(),
            symbol_idx: SymbolIndex(0),
            symbol: "AAPL",
            side,
            quantity: 100,
            price: Price::from_units(18_673_000_000),
        };
        let mut out = Vec::new();
        t.create(&ticket, Instant::now(), 1.5, &mut out)
            .then_some(out)
    }

    #[test]
    fn ids_are_short_valid_and_deterministic() {
        let id = order_id("strat1", 0xdead_beef_0123_4567, 42);
        assert_eq!(id, "strat1-01234567-2a");
        let longest = order_id("abcdef", u64::MAX, u64::MAX);
        assert!(longest.len() <= 32, "{longest}");
        assert!(crate::protocol::order::valid_order_id(&longest));
    }

    #[test]
    fn frames_carry_the_id_and_parse_back() {
        let mut t = OrderTracker::new();
        let frame = create(&mut t, "s-1", Side::Buy).unwrap();
        assert_eq!(frame, b"1.5,BUY,100,AAPL,186.73,s-1*");
        let o = parse_order(&frame[..frame.len() - 1]).unwrap();
        assert_eq!(o.client_order_id, Some("s-1"));
        assert_eq!(
            create(&mut t, "s-1", Side::Buy),
            None,
            "a replayed signal is not a new order"
        );
        assert_eq!(t.counts().sent, 1);
    }

    #[test]
    fn position_follows_acks_not_sends() {
        let mut t = OrderTracker::new();
        create(&mut t, "a", Side::Buy);
        create(&mut t, "b", Side::Buy);
        create(&mut t, "c", Side::Sell);
        assert_eq!(t.position(SymbolIndex(0)), 0);
        assert_eq!(
            t.answer("a", false),
            Answer::Acked {
                symbol: SymbolIndex(0),
                side: Side::Buy,
                quantity: 100
            }
        );
        assert_eq!(t.answer("b", true), Answer::Rejected);
        assert_eq!(t.position(SymbolIndex(0)), 100);
        assert_eq!(
            t.answer("c", false),
            Answer::Acked {
                symbol: SymbolIndex(0),
                side: Side::Sell,
                quantity: 100
            }
        );
        assert_eq!(t.position(SymbolIndex(0)), 0);
        assert_eq!(
            t.answer("c", false),
            Answer::Unknown,
            "a duplicate ACK changes nothing"
        );
        assert_eq!(
            {
                let c = t.counts();
                (c.acked, c.rejected, c.unknown_answers, t.unanswered())
            },
            (2, 1, 1, 0)
        );
    }

    #[test]
    fn a_reconnect_resends_exactly_the_unanswered_in_order() {
        let mut t = OrderTracker::new();
        for id in ["a", "b", "c", "d"] {
            create(&mut t, id, Side::Buy);
        }
        t.answer("b", false);
        let mut out = Vec::new();
        assert_eq!(t.resend_all(&mut out, Instant::now(), &["AAPL".into()]), 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1.5,BUY,100,AAPL,186.73,a*1.5,BUY,100,AAPL,186.73,c*1.5,BUY,100,AAPL,186.73,d*"
        );
        assert_eq!(t.counts().resent, 3);
    }

    #[test]
    fn in_doubt_is_reported_once_per_order() {
        let mut t = OrderTracker::new();
        let t0 = Instant::now();
        let ticket = OrderTicket {
            id: "a".into(),
            symbol_idx: SymbolIndex(0),
            symbol: "AAPL",
            side: Side::Buy,
            quantity: 1,
            price: Price::from_units(1),
        };
        assert!(t.create(&ticket, t0, 1.0, &mut Vec::new()));
        let timeout = Duration::from_secs(2);
        assert!(t
            .newly_in_doubt(t0 + Duration::from_secs(1), timeout)
            .is_empty());
        assert_eq!(
            t.newly_in_doubt(t0 + Duration::from_secs(3), timeout),
            ["a"]
        );
        assert!(t
            .newly_in_doubt(t0 + Duration::from_secs(9), timeout)
            .is_empty());
        assert_eq!(
            t.answer("a", false),
            Answer::Acked {
                symbol: SymbolIndex(0),
                side: Side::Buy,
                quantity: 1
            }
        );
    }

    #[test]
    fn answered_orders_are_forgotten_and_a_burst_gives_its_memory_back() {
        let mut t = OrderTracker::new();
        let ids: Vec<String> = (0..10_000).map(|i| format!("s-{i}")).collect();
        for id in &ids {
            create(&mut t, id, Side::Buy);
        }
        let burst = t.pending.capacity();
        assert!(burst >= 10_000);
        for (i, id) in ids.iter().enumerate() {
            t.answer(id, i % 2 == 0);
        }
        assert_eq!(t.unanswered(), 0);
        assert!(
            t.pending.capacity() <= MIN_PENDING_CAPACITY * 2,
            "{} entries still allocated after the burst of {burst}",
            t.pending.capacity()
        );
        let c = t.counts();
        assert_eq!((c.sent, c.acked, c.rejected), (10_000, 5_000, 5_000));
        assert_eq!(t.position(SymbolIndex(0)), 500_000);
        assert_eq!(
            t.answer("s-1", false),
            Answer::Unknown,
            "forgotten once answered"
        );
    }
}
