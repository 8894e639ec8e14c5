//! Fixed-point prices.
//!
//! TODO(protocol helper): parsing and formatting.

/// Number of price units in 1.0: prices are integers of 1e-8.
pub const PRICE_SCALE: i64 = 100_000_000;

/// A price as an integer count of 1e-8 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);
