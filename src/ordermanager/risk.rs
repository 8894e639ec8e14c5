//! Pre-trade risk checks, each with its own REJ reason and setting.

use std::time::Instant;

use crate::price::Price;
use crate::protocol::{RejectReason, Side};

/// The limits of `[ordermanager]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskLimits {
    /// MAX_QUANTITY: largest single order.
    pub max_order_quantity: u64,
    /// MAX_POSITION: largest absolute net position per symbol after a fill.
    pub max_position: u64,
    /// PRICE_BAND: largest distance from the last price, in percent; 0 = off.
    pub price_band_pct: f64,
}

impl RiskLimits {
    /// Checks one order against the limits that need no per-client state.
    ///
    /// `net` is the symbol's current net position; `last` the table's last
    /// price, when the table is reachable and the symbol has traded.
    pub fn check(
        &self,
        side: Side,
        quantity: u64,
        price: Price,
        net: i64,
        last: Option<Price>,
    ) -> Result<(), RejectReason> {
        if quantity > self.max_order_quantity {
            return Err(RejectReason::MaxQuantity);
        }
        let after = net as i128 + side.sign() as i128 * quantity as i128;
        if after.unsigned_abs() > self.max_position as u128 {
            return Err(RejectReason::MaxPosition);
        }
        if let Some(last) = last.filter(|l| l.units() > 0 && self.price_band_pct > 0.0) {
            let distance =
                (price.units() as f64 - last.units() as f64).abs() / last.units() as f64 * 100.0;
            if distance > self.price_band_pct {
                return Err(RejectReason::PriceBand);
            }
        }
        Ok(())
    }
}

/// RATE_LIMIT: a token bucket of `rate` orders per second per client, with a
/// burst of one second's worth.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    /// Orders per second (and the bucket size).
    rate: f64,
    /// Orders available now.
    tokens: f64,
    /// When `tokens` was last refilled.
    last: Instant,
}

impl RateLimiter {
    /// A full bucket for `rate` orders per second.
    pub fn new(rate: u64, now: Instant) -> RateLimiter {
        RateLimiter {
            rate: rate as f64,
            tokens: rate as f64,
            last: now,
        }
    }

    /// Takes one order's token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMITS: RiskLimits = RiskLimits {
        max_order_quantity: 500,
        max_position: 1000,
        price_band_pct: 10.0,
    };

    fn px(v: i64) -> Price {
        Price::from_units(v * 100_000_000)
    }

    #[test]
    fn each_rule_has_its_reason() {
        assert_eq!(LIMITS.check(Side::Buy, 500, px(100), 0, None), Ok(()));
        assert_eq!(
            LIMITS.check(Side::Buy, 501, px(100), 0, None),
            Err(RejectReason::MaxQuantity)
        );
        assert_eq!(LIMITS.check(Side::Buy, 500, px(100), 500, None), Ok(()));
        assert_eq!(
            LIMITS.check(Side::Buy, 1, px(100), 1000, None),
            Err(RejectReason::MaxPosition)
        );
        assert_eq!(
            LIMITS.check(Side::Sell, 500, px(100), -600, None),
            Err(RejectReason::MaxPosition)
        );
        assert_eq!(
            LIMITS.check(Side::Sell, 500, px(100), 1000, None),
            Ok(()),
            "reducing is fine"
        );
        assert_eq!(
            LIMITS.check(Side::Buy, 1, px(110), 0, Some(px(100))),
            Ok(())
        );
        assert_eq!(
            LIMITS.check(Side::Buy, 1, px(111), 0, Some(px(100))),
            Err(RejectReason::PriceBand)
        );
        assert_eq!(
            LIMITS.check(Side::Buy, 1, px(89), 0, Some(px(100))),
            Err(RejectReason::PriceBand)
        );
        let off = RiskLimits {
            price_band_pct: 0.0,
            ..LIMITS
        };
        assert_eq!(off.check(Side::Buy, 1, px(500), 0, Some(px(100))), Ok(()));
    }

    #[test]
    fn the_rate_limit_allows_a_second_of_burst_then_refills() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(3, t0);
        assert!(r.allow(t0) && r.allow(t0) && r.allow(t0));
        assert!(!r.allow(t0));
        // 0.9 tokens back after 300 ms: not yet a whole order.
        assert!(!r.allow(t0 + Duration::from_millis(300)));
        // 1.2 after 400 ms: one order, then none.
        assert!(r.allow(t0 + Duration::from_millis(400)));
        assert!(!r.allow(t0 + Duration::from_millis(400)));
    }
}
