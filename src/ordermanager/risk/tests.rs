//! One test per check, then the order they run in.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::protocol::Side;

const LIMITS: RiskLimits = RiskLimits {
    max_order_quantity: 500,
    max_position: 1000,
    max_position_global: 1200,
    price_band_pct: 10.0,
    max_order_notional: 40_000.0,
    min_price: 1.0,
    max_price: 1000.0,
};

fn px(v: i64) -> Price {
    Price::from_units(v * 100_000_000)
}

fn order(side: Side, quantity: u64, price: Price) -> Order<'static> {
    Order {
        timestamp: 1.0,
        side,
        quantity,
        symbol: "AAPL",
        price,
        client_order_id: None,
    }
}

fn buy(quantity: u64) -> Order<'static> {
    order(Side::Buy, quantity, px(100))
}

/// A book with `net` shares of AAPL.
fn book(net: i64) -> PositionBook {
    let mut b = PositionBook::new();
    if net != 0 {
        let side = if net > 0 { Side::Buy } else { Side::Sell };
        b.apply_fill("c", "AAPL", side, net.unsigned_abs(), px(100));
    }
    b
}

/// Runs `check` on `order` with AAPL at index 0, not halted, a full bucket.
fn run(check: &mut dyn RiskCheck, order: &Order<'_>, net: i64) -> Result<(), RejectReason> {
    let book = book(net);
    let now = Instant::now();
    let mut limiter = RateLimiter::new(1000, now);
    let mut ctx = CheckCtx {
        halted: false,
        symbol: Some(0),
        book: &book,
        client: "c",
        limiter: &mut limiter,
        now,
    };
    check.check(order, &mut ctx)
}

/// Fixed last prices by table index.
struct Fixed(HashMap<usize, Price>);

impl LastPrice for Fixed {
    fn last(&mut self, idx: usize) -> Option<Price> {
        self.0.get(&idx).copied()
    }
}

fn band(pct: f64, last: Option<Price>) -> PriceBand<Fixed> {
    PriceBand {
        pct,
        last: Fixed(last.map(|p| (0, p)).into_iter().collect()),
    }
}

#[test]
fn max_quantity() {
    assert_eq!(run(&mut MaxQuantity(500), &buy(500), 0), Ok(()));
    assert_eq!(
        run(&mut MaxQuantity(500), &buy(501), 0),
        Err(RejectReason::MaxQuantity)
    );
}

#[test]
fn max_position() {
    let mut c = MaxPosition(1000);
    assert_eq!(run(&mut c, &buy(500), 500), Ok(()));
    assert_eq!(run(&mut c, &buy(1), 1000), Err(RejectReason::MaxPosition));
    let sell = order(Side::Sell, 500, px(100));
    assert_eq!(run(&mut c, &sell, -600), Err(RejectReason::MaxPosition));
    assert_eq!(run(&mut c, &sell, 1000), Ok(()), "reducing is fine");
    assert_eq!(
        run(&mut c, &sell, 1200),
        Ok(()),
        "even from above the limit"
    );
}

#[test]
fn max_position_is_per_client_and_the_global_cap_sums_them() {
    let mut b = PositionBook::new();
    b.apply_fill("a", "AAPL", Side::Buy, 1000, px(100));
    b.apply_fill("b", "AAPL", Side::Buy, 400, px(100));
    let now = Instant::now();
    let mut limiter = RateLimiter::new(1000, now);
    let mut ctx = CheckCtx {
        halted: false,
        symbol: Some(0),
        book: &b,
        client: "a",
        limiter: &mut limiter,
        now,
    };
    assert_eq!(
        MaxPosition(1000).check(&buy(1), &mut ctx),
        Err(RejectReason::MaxPosition)
    );
    ctx.client = "b";
    assert_eq!(
        MaxPosition(1000).check(&buy(600), &mut ctx),
        Ok(()),
        "b has its own room"
    );
    assert_eq!(
        MaxPosition(1000).check(&buy(601), &mut ctx),
        Err(RejectReason::MaxPosition)
    );
    assert_eq!(GlobalPosition(1500).check(&buy(100), &mut ctx), Ok(()));
    assert_eq!(
        GlobalPosition(1500).check(&buy(101), &mut ctx),
        Err(RejectReason::GlobalPosition)
    );
    assert_eq!(
        GlobalPosition(0).check(&buy(10_000), &mut ctx),
        Ok(()),
        "0 = off"
    );
}

#[test]
fn the_static_band_holds_without_any_market_data() {
    let range = || PriceRange {
        min_units: units_of(1.0),
        max_units: units_of(1000.0),
    };
    let at = |units| order(Side::Buy, 1, Price::from_units(units));
    assert_eq!(run(&mut range(), &at(100_000_000), 0), Ok(()));
    assert_eq!(run(&mut range(), &at(100_000_000_000), 0), Ok(()));
    assert_eq!(
        run(&mut range(), &at(99_999_999), 0),
        Err(RejectReason::PriceRange)
    );
    assert_eq!(
        run(&mut range(), &at(1), 0),
        Err(RejectReason::PriceRange),
        "1e-8"
    );
    assert_eq!(
        run(&mut range(), &at(100_000_000_001), 0),
        Err(RejectReason::PriceRange)
    );
    let mut notional = MaxNotional(units_of(40_000.0));
    assert_eq!(
        run(&mut notional, &order(Side::Sell, 400, px(100)), 0),
        Ok(())
    );
    assert_eq!(
        run(&mut notional, &order(Side::Sell, 401, px(100)), 0),
        Err(RejectReason::MaxNotional)
    );
    let huge = order(Side::Buy, u64::MAX, Price::from_units(i64::MAX));
    assert_eq!(
        run(&mut notional, &huge, 0),
        Err(RejectReason::MaxNotional),
        "no overflow"
    );
    assert_eq!(run(&mut MaxNotional(0), &huge, 0), Ok(()), "0 = off");
}

#[test]
fn price_band() {
    let at = |p| order(Side::Buy, 1, px(p));
    assert_eq!(run(&mut band(10.0, Some(px(100))), &at(110), 0), Ok(()));
    assert_eq!(
        run(&mut band(10.0, Some(px(100))), &at(111), 0),
        Err(RejectReason::PriceBand)
    );
    assert_eq!(
        run(&mut band(10.0, Some(px(100))), &at(89), 0),
        Err(RejectReason::PriceBand)
    );
    assert_eq!(
        run(&mut band(0.0, Some(px(100))), &at(500), 0),
        Ok(()),
        "0 = off"
    );
    assert_eq!(
        run(&mut band(10.0, None), &at(500), 0),
        Ok(()),
        "no last price: skipped"
    );
}

#[test]
fn halted_known_symbol_and_rate_limit_read_the_context() {
    let book = book(0);
    let now = Instant::now();
    let mut limiter = RateLimiter::new(1, now);
    let mut ctx = CheckCtx {
        halted: true,
        symbol: None,
        book: &book,
        client: "c",
        limiter: &mut limiter,
        now,
    };
    let o = buy(1);
    assert_eq!(Halted.check(&o, &mut ctx), Err(RejectReason::Halted));
    assert_eq!(
        KnownSymbol.check(&o, &mut ctx),
        Err(RejectReason::UnknownSymbol)
    );
    ctx.halted = false;
    ctx.symbol = Some(0);
    assert_eq!(Halted.check(&o, &mut ctx), Ok(()));
    assert_eq!(KnownSymbol.check(&o, &mut ctx), Ok(()));
    assert_eq!(RateLimit.check(&o, &mut ctx), Ok(()));
    assert_eq!(RateLimit.check(&o, &mut ctx), Err(RejectReason::RateLimit));
}

#[test]
fn the_first_failing_check_gives_the_reason() {
    let mut checks = RiskChecks::standard(&LIMITS, band(0.0, Some(px(100))).last);
    let book = book(1000);
    let now = Instant::now();
    let mut limiter = RateLimiter::new(1, now);
    // Breaks every rule at once.
    let worst = order(Side::Buy, 501, px(200));
    let mut ctx = CheckCtx {
        halted: true,
        symbol: None,
        book: &book,
        client: "c",
        limiter: &mut limiter,
        now,
    };
    assert_eq!(checks.evaluate(&worst, &mut ctx), Err(RejectReason::Halted));
    ctx.halted = false;
    assert_eq!(
        checks.evaluate(&worst, &mut ctx),
        Err(RejectReason::UnknownSymbol)
    );
    ctx.symbol = Some(0);
    assert_eq!(
        checks.evaluate(&worst, &mut ctx),
        Err(RejectReason::MaxQuantity),
        "the earlier rejects took no token"
    );
    assert_eq!(
        checks.evaluate(&worst, &mut ctx),
        Err(RejectReason::RateLimit)
    );
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Buy, 1, px(2000)), &mut ctx),
        Err(RejectReason::PriceRange)
    );
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Buy, 500, px(200)), &mut ctx),
        Err(RejectReason::MaxNotional)
    );
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Buy, 1, px(200)), &mut ctx),
        Err(RejectReason::MaxPosition)
    );
    ctx.client = "other";
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Buy, 300, px(100)), &mut ctx),
        Err(RejectReason::GlobalPosition),
        "1000 held by c: 300 more for other fit its own limit, not the global 1200"
    );
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Sell, 1, px(200)), &mut ctx),
        Err(RejectReason::PriceBand)
    );
    ctx.now += Duration::from_secs(1);
    assert_eq!(
        checks.evaluate(&order(Side::Sell, 1, px(100)), &mut ctx),
        Ok(())
    );
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
