//! Every recorded client order id, scoped to its client, with its answer
//! and what it ordered.
//!
//! Scoping: an id belongs to the name its client authenticated with, so one
//! client's id can never answer (or block) another's order; every
//! unauthenticated client shares the scope `""`, as all clients did before
//! authentication existed. Content: a resend must repeat the recorded
//! order's side, quantity, symbol and price, or it gets `ID_MISMATCH`
//! instead of the recorded answer, so an id reused for another order is
//! never acknowledged without being executed.

use std::collections::HashMap;

use super::journal::JournalRecord;
use crate::price::Price;
use crate::protocol::{Order, RejectReason, Side};

/// What an id ordered: what a resend must repeat. `None` in [`SeenOrder`]
/// for a frame that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderContent {
    /// Direction.
    pub side: Side,
    /// Shares.
    pub quantity: u64,
    /// Instrument.
    pub symbol: String,
    /// Limit price.
    pub price: Price,
}

impl OrderContent {
    /// The content of a parsed order.
    pub fn of(order: &Order<'_>) -> OrderContent {
        OrderContent {
            side: order.side,
            quantity: order.quantity,
            symbol: order.symbol.to_string(),
            price: order.price,
        }
    }

    /// Whether `order` repeats this content exactly.
    pub fn matches(&self, order: &Order<'_>) -> bool {
        self.side == order.side
            && self.quantity == order.quantity
            && self.symbol == order.symbol
            && self.price == order.price
    }

    /// The content of a record; `None` for one of an unparsable frame.
    fn of_record(r: &JournalRecord) -> Option<OrderContent> {
        Some(OrderContent {
            side: r.side?,
            quantity: r.quantity?,
            symbol: r.symbol.clone()?,
            price: r.price?,
        })
    }
}

/// One recorded id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenOrder {
    /// What it was answered (None = ACK).
    pub answer: Option<RejectReason>,
    /// What it ordered; `None`: the frame did not parse.
    pub content: Option<OrderContent>,
}

/// Every recorded id by (scope, id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenIds(HashMap<(String, String), SeenOrder>);

impl SeenIds {
    /// No ids.
    pub fn new() -> SeenIds {
        SeenIds::default()
    }

    /// The recorded id `id` of scope `scope`.
    pub fn get(&self, scope: &str, id: &str) -> Option<&SeenOrder> {
        // Two short strings per lookup; the map is keyed by owned pairs.
        self.0.get(&(scope.to_string(), id.to_string()))
    }

    /// Records the first answer of an id.
    pub fn insert(&mut self, scope: &str, id: &str, seen: SeenOrder) {
        self.0.insert((scope.to_string(), id.to_string()), seen);
    }

    /// Ids recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no id is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes in a journal record at recovery. An `ID_MISMATCH` record is the
    /// refusal of a resend, not the id's answer: it never replaces the
    /// original's.
    pub fn recover(&mut self, r: &JournalRecord) {
        let Some(id) = &r.client_order_id else { return };
        if r.reason == Some(RejectReason::IdMismatch) {
            return;
        }
        let answer = r.reason.or(match r.outcome {
            super::Outcome::Accepted => None,
            // A rejected record always answers REJ; a missing code reads as
            // BAD_FRAME (an unknown one already does).
            super::Outcome::Rejected => Some(RejectReason::BadFrame),
        });
        let seen = SeenOrder {
            answer,
            content: OrderContent::of_record(r),
        };
        self.insert(r.id_scope(), id, seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordermanager::journal::{ClientRef, Outcome};

    fn order(side: Side, quantity: u64, symbol: &'static str) -> Order<'static> {
        Order {
            timestamp: 1.0,
            side,
            quantity,
            symbol,
            price: Price::from_units(100),
            client_order_id: Some("x1"),
        }
    }

    #[test]
    fn ids_are_scoped_and_a_mismatch_record_keeps_the_original_answer() {
        let who = |name| ClientRef {
            addr: "127.0.0.1:1",
            name,
        };
        let buy = order(Side::Buy, 100, "AAPL");
        let sell = order(Side::Sell, 1, "MSFT");
        let mut seen = SeenIds::new();
        seen.recover(&JournalRecord::for_order(
            1,
            who(Some("evil")),
            &sell,
            Ok(()),
        ));
        seen.recover(&JournalRecord::for_order(
            2,
            who(Some("strat1")),
            &buy,
            Ok(()),
        ));
        seen.recover(&JournalRecord::for_order(
            3,
            who(Some("strat1")),
            &sell,
            Err(RejectReason::IdMismatch),
        ));
        assert_eq!(seen.len(), 2, "one id, two scopes");
        let mine = seen.get("strat1", "x1").unwrap();
        assert_eq!(mine.answer, None);
        assert!(mine.content.as_ref().unwrap().matches(&buy));
        assert!(!mine.content.as_ref().unwrap().matches(&sell));
        assert!(seen
            .get("evil", "x1")
            .unwrap()
            .content
            .as_ref()
            .unwrap()
            .matches(&sell));
        assert!(
            seen.get("", "x1").is_none(),
            "anonymous is a scope of its own"
        );
        let mut rej = JournalRecord::for_order(4, who(None), &buy, Err(RejectReason::MaxPosition));
        rej.client_order_id = Some("r".into());
        seen.recover(&rej);
        assert_eq!(
            seen.get("", "r").unwrap().answer,
            Some(RejectReason::MaxPosition)
        );
        let mut bare = rej.clone();
        (bare.client_order_id, bare.reason, bare.outcome) =
            (Some("b".into()), None, Outcome::Rejected);
        seen.recover(&bare);
        assert_eq!(
            seen.get("", "b").unwrap().answer,
            Some(RejectReason::BadFrame)
        );
    }
}
