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

/// The id of the order for the price signal at tick `seq` of table `generation`:
/// `{client_name}-{generation's low 32 bits, 8 hex}-{seq in hex}`.
///
/// Derived from the signal, not from the send, so a strategy that replays the
/// same ring produces the same ids and cannot double an order. With a client
/// name of at most 6 bytes it never exceeds the protocol's 32 bytes.
pub fn order_id(client_name: &str, generation: u64, seq: u64) -> String {
    format!("{client_name}-{:08x}-{seq:x}", generation as u32)
}

/// One order waiting for its answer.
#[derive(Debug, Clone)]
pub struct PendingOrder {
    /// Client order id.
    pub id: String,
    /// The exact frame sent, resent byte for byte after a reconnect.
    pub frame: Vec<u8>,
    /// Symbol index, for the position.
    pub symbol: usize,
    /// Direction, for the position.
    pub side: Side,
    /// Shares, for the position.
    pub quantity: u64,
    /// When it was (last) sent, for the in-doubt timeout.
    pub sent_at: Instant,
    /// Whether the in-doubt warning was already logged.
    pub doubt_logged: bool,
}

/// What an answer did to the book, for the caller's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An ACK of a pending order: the position moved.
    Acked {
        /// Symbol index whose position moved.
        symbol: usize,
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

/// Every unanswered order, in send order, and the counters of the run.
#[derive(Debug, Default)]
pub struct OrderTracker {
    /// Pending orders by local sequence (send order).
    pending: BTreeMap<u64, PendingOrder>,
    /// Id → local sequence.
    by_id: HashMap<String, u64>,
    /// Next local sequence.
    next: u64,
    /// Net shares per symbol, from ACKs.
    positions: HashMap<usize, i64>,
    /// Orders created.
    pub sent: u64,
    /// ACKs of pending orders.
    pub acked: u64,
    /// REJs of pending orders.
    pub rejected: u64,
    /// Orders sent again after a reconnect.
    pub resent: u64,
    /// Answers for ids not pending.
    pub unknown_answers: u64,
}

impl OrderTracker {
    /// An empty tracker.
    pub fn new() -> OrderTracker {
        OrderTracker::default()
    }

    /// Records a new order and returns its frame (to write now, or on connect).
    ///
    /// An id already pending is not added twice (`None`): a replayed signal.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        id: String,
        symbol_idx: usize,
        symbol: &str,
        side: Side,
        quantity: u64,
        price: Price,
        now: Instant,
        timestamp: f64,
    ) -> Option<&[u8]> {
        if self.by_id.contains_key(&id) {
            return None;
        }
        let mut frame = Vec::with_capacity(80);
        write_order(
            &mut frame,
            &Order {
                timestamp,
                side,
                quantity,
                symbol,
                price,
                client_order_id: Some(&id),
            },
        );
        let seq = self.next;
        self.next += 1;
        self.sent += 1;
        self.by_id.insert(id.clone(), seq);
        let p = PendingOrder {
            id,
            frame,
            symbol: symbol_idx,
            side,
            quantity,
            sent_at: now,
            doubt_logged: false,
        };
        Some(&self.pending.entry(seq).or_insert(p).frame)
    }

    /// Applies an ACK (`rejected = false`) or a REJ for `id`.
    pub fn answer(&mut self, id: &str, rejected: bool) -> Answer {
        let Some(seq) = self.by_id.remove(id) else {
            self.unknown_answers += 1;
            return Answer::Unknown;
        };
        let Some(p) = self.pending.remove(&seq) else {
            self.unknown_answers += 1;
            return Answer::Unknown;
        };
        if rejected {
            self.rejected += 1;
            return Answer::Rejected;
        }
        self.acked += 1;
        *self.positions.entry(p.symbol).or_default() += p.side.sign() * p.quantity as i64;
        Answer::Acked {
            symbol: p.symbol,
            side: p.side,
            quantity: p.quantity,
        }
    }

    /// Every unanswered frame in send order, for a new connection; marks them resent.
    pub fn resend_all(&mut self, out: &mut Vec<u8>, now: Instant) -> usize {
        for p in self.pending.values_mut() {
            out.extend_from_slice(&p.frame);
            p.sent_at = now;
        }
        self.resent += self.pending.len() as u64;
        self.pending.len()
    }

    /// Orders unanswered for longer than `timeout` and not yet reported.
    pub fn newly_in_doubt(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        self.pending
            .values_mut()
            .filter(|p| !p.doubt_logged && now.duration_since(p.sent_at) >= timeout)
            .map(|p| {
                p.doubt_logged = true;
                p.id.clone()
            })
            .collect()
    }

    /// Orders still waiting for an answer.
    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }

    /// Net shares of `symbol` as the ACKs say.
    pub fn position(&self, symbol: usize) -> i64 {
        self.positions.get(&symbol).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_order;

    fn create(t: &mut OrderTracker, id: &str, side: Side) -> Option<Vec<u8>> {
        let now = Instant::now();
        t.create(
            id.into(),
            0,
            "AAPL",
            side,
            100,
            Price::from_units(18_673_000_000),
            now,
            1.5,
        )
        .map(<[u8]>::to_vec)
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
        assert_eq!(t.sent, 1);
    }

    #[test]
    fn position_follows_acks_not_sends() {
        let mut t = OrderTracker::new();
        create(&mut t, "a", Side::Buy);
        create(&mut t, "b", Side::Buy);
        create(&mut t, "c", Side::Sell);
        assert_eq!(t.position(0), 0);
        assert_eq!(
            t.answer("a", false),
            Answer::Acked {
                symbol: 0,
                side: Side::Buy,
                quantity: 100
            }
        );
        assert_eq!(t.answer("b", true), Answer::Rejected);
        assert_eq!(t.position(0), 100);
        assert_eq!(
            t.answer("c", false),
            Answer::Acked {
                symbol: 0,
                side: Side::Sell,
                quantity: 100
            }
        );
        assert_eq!(t.position(0), 0);
        assert_eq!(
            t.answer("c", false),
            Answer::Unknown,
            "a duplicate ACK changes nothing"
        );
        assert_eq!(
            (t.acked, t.rejected, t.unknown_answers, t.unanswered()),
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
        assert_eq!(t.resent, 3);
    }

    #[test]
    fn in_doubt_is_reported_once_per_order() {
        let mut t = OrderTracker::new();
        let t0 = Instant::now();
        t.create(
            "a".into(),
            0,
            "AAPL",
            Side::Buy,
            1,
            Price::from_units(1),
            t0,
            1.0,
        );
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
                symbol: 0,
                side: Side::Buy,
                quantity: 1
            }
        );
    }
}
