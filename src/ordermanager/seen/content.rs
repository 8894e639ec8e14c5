//! What an id ordered, kept so that a resend must repeat it: exactly in
//! the window ([`KeptContent`]), as a keyed 64-bit fingerprint once
//! compacted ([`fingerprint`]).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::short_text::ShortText;
use crate::price::Price;
use crate::protocol::{Order, Side};

/// What an id ordered: what a resend must repeat. `None` in
/// [`SeenOrder`](super::SeenOrder) for a frame that did not parse.
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
        self.key() == content_key(order)
    }

    /// What a resend must repeat of it.
    pub(super) fn key(&self) -> ContentKey<'_> {
        (
            self.side,
            self.quantity,
            self.symbol.as_bytes(),
            self.price.units(),
        )
    }
}

/// What an id ordered, as its window entry holds it: [`OrderContent`]
/// with the symbol inline.
#[derive(Debug, Clone)]
pub(super) struct KeptContent {
    /// Direction.
    side: Side,
    /// Shares.
    quantity: u64,
    /// Instrument.
    symbol: ShortText,
    /// Limit price in units.
    price_units: i64,
}

impl KeptContent {
    /// A copy of `key`.
    pub(super) fn of(key: ContentKey<'_>) -> KeptContent {
        let (side, quantity, symbol, price_units) = key;
        KeptContent {
            side,
            quantity,
            symbol: ShortText::new(symbol),
            price_units,
        }
    }

    /// What a resend must repeat of it.
    pub(super) fn key(&self) -> ContentKey<'_> {
        (
            self.side,
            self.quantity,
            self.symbol.as_bytes(),
            self.price_units,
        )
    }
}

/// The fields of an order's content that a resend must repeat: side,
/// quantity, symbol and price in units.
pub(super) type ContentKey<'a> = (Side, u64, &'a [u8], i64);

/// An order's [`ContentKey`].
pub(super) fn content_key<'a>(order: &Order<'a>) -> ContentKey<'a> {
    (
        order.side,
        order.quantity,
        order.symbol.as_bytes(),
        order.price.units(),
    )
}

/// A content's fingerprint; `None` (an unparsable frame) has its own.
pub(super) fn fingerprint(hasher: &RandomState, key: Option<ContentKey<'_>>) -> u64 {
    hasher.hash_one(key)
}
