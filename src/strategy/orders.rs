//! The strategy's record of its orders: sent, answered, in doubt, and the
//! position that follows from the answers.
//!
//! Every order is kept until its ACK or REJ. After a reconnect every
//! unanswered order is sent again with the same id, in the original order;
//! the ordermanager's exactly-once rule makes a resend of an order it already
//! recorded harmless. Position follows ACKs, never sends.

use std::collections::{BTreeMap, HashMap};
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

/// One order waiting for its answer.
#[derive(Debug, Clone)]
struct PendingOrder {
    /// Client order id.
    id: String,
    /// The exact frame sent, resent byte for byte after a reconnect.
    frame: Vec<u8>,
    /// Symbol index, for the position.
    symbol: SymbolIndex,
    /// Direction, for the position.
    side: Side,
    /// Shares, for the position.
    quantity: u64,
    /// When it was (last) sent, for the in-doubt timeout.
    sent_at: Instant,
    /// Whether the in-doubt warning was already logged.
    doubt_logged: bool,
}

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

/// Every unanswered order, in send order, and the counters of the run.
#[derive(Debug, Default)]
pub(crate) struct OrderTracker {
    /// Pending orders by local sequence (send order).
    pending: BTreeMap<u64, PendingOrder>,
    /// Id → local sequence.
    by_id: HashMap<String, u64>,
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

    /// Records a new order and returns its frame (to write now, or on connect).
    ///
    /// An id already pending is not added twice (`None`): a replayed signal.
    /// `now` starts the in-doubt clock; `timestamp` (Unix seconds) goes into
    /// the frame.
    pub(crate) fn create(
        &mut self,
        ticket: &OrderTicket<'_>,
        now: Instant,
        timestamp: f64,
    ) -> Option<&[u8]> {
        if self.by_id.contains_key(&ticket.id) {
            return None;
        }
        let mut frame = Vec::with_capacity(80);
        write_order(
            &mut frame,
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
        self.by_id.insert(ticket.id.clone(), seq);
        let p = PendingOrder {
            id: ticket.id.clone(),
            frame,
            symbol: ticket.symbol_idx,
            side: ticket.side,
            quantity: ticket.quantity,
            sent_at: now,
            doubt_logged: false,
        };
        Some(&self.pending.entry(seq).or_insert(p).frame)
    }

    /// Counts an order sent without an id (`strategy.order_ids = false`):
    /// nothing will answer it, so it is never pending, but it was sent.
    pub(crate) fn count_untracked(&mut self) {
        self.counts.sent += 1;
    }

    /// Applies an ACK (`rejected = false`) or a REJ for `id`.
    pub(crate) fn answer(&mut self, id: &str, rejected: bool) -> Answer {
        let Some(seq) = self.by_id.remove(id) else {
            self.counts.unknown_answers += 1;
            return Answer::Unknown;
        };
        let Some(p) = self.pending.remove(&seq) else {
            self.counts.unknown_answers += 1;
            return Answer::Unknown;
        };
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

    /// Every unanswered frame in send order, for a new connection; marks them resent.
    pub(crate) fn resend_all(&mut self, out: &mut Vec<u8>, now: Instant) -> usize {
        for p in self.pending.values_mut() {
            out.extend_from_slice(&p.frame);
            p.sent_at = now;
        }
        self.counts.resent += self.pending.len() as u64;
        self.pending.len()
    }

    /// Orders unanswered for longer than `timeout` and not yet reported.
    pub(crate) fn newly_in_doubt(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        self.pending
            .values_mut()
            .filter(|p| !p.doubt_logged && now.duration_since(p.sent_at) >= timeout)
            .map(|p| {
                p.doubt_logged = true;
                p.id.clone()
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
        t.create(&ticket, Instant::now(), 1.5).map(<[u8]>::to_vec)
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
        assert_eq!(t.resend_all(&mut out, Instant::now()), 3);
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
        t.create(&ticket, t0, 1.0);
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
}
