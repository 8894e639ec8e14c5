//! Pre-trade risk checks, each with its own REJ reason and setting.
//!
//! A check is one `RiskCheck`. `RiskChecks::standard` lists them in the
//! order they run: HALTED, UNKNOWN_SYMBOL, RATE_LIMIT, MAX_QUANTITY,
//! PRICE_RANGE, MAX_NOTIONAL, MAX_POSITION, GLOBAL_POSITION, PRICE_BAND.
//! Limits are per client (its authenticated name, or `anon@IP`), so one
//! client cannot use up another's room; GLOBAL_POSITION is the optional cap
//! over all of them. PRICE_RANGE and MAX_NOTIONAL are static, so they hold
//! when PRICE_BAND cannot (no shm table on this host). The first that fails gives the REJ reason and
//! the later ones do not run (so a rejected order takes no rate-limit token
//! unless it got as far as the rate limit). Adding a check is one new type
//! and one new line in `standard`, at the place its reason should win.
//!
//! Evaluating the list allocates nothing: the checks are built once, and
//! what they judge against is borrowed through `CheckCtx`.

use std::time::{Duration, Instant};

use slog::Logger;

use super::positions::PositionBook;
use crate::price::Price;
use crate::protocol::{Order, RejectReason};
use crate::shm::PriceTableReader;
use crate::symbol::SymbolIndex;

/// The limits of `[ordermanager]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskLimits {
    /// MAX_QUANTITY: largest single order.
    pub max_order_quantity: u64,
    /// MAX_POSITION: largest absolute net position per symbol and client
    /// after a fill.
    pub max_position: u64,
    /// GLOBAL_POSITION: the same summed over every client; 0 = off.
    pub max_position_global: u64,
    /// PRICE_BAND: largest distance from the last price, in percent; 0 = off.
    /// A fat-finger guard, not a collar: the table's last price can be far
    /// ahead of the tick that priced the order in a fast replay, so the
    /// default (25%) is wide (see README, "Order journal and durability").
    pub price_band_pct: f64,
    /// MAX_NOTIONAL: largest price × quantity of one order; 0 = off.
    pub max_order_notional: f64,
    /// PRICE_RANGE: lowest price accepted.
    pub min_price: f64,
    /// PRICE_RANGE: highest price accepted.
    pub max_price: f64,
}

/// A decimal limit in price units (1e-8), saturating at the i64 range.
fn units_of(value: f64) -> i128 {
    (value * crate::price::PRICE_SCALE as f64).round() as i128
}

/// What an order is judged against, besides the order itself: borrowed
/// from the sink for the one order, so checks keep no copies of its state.
pub(crate) struct CheckCtx<'a> {
    /// Trading is halted (SIGUSR1) until SIGUSR2.
    pub halted: bool,
    /// The symbol's index in the configured table; `None`: not traded here.
    pub symbol: Option<usize>,
    /// Positions from the recorded orders, for limits on what a fill leads to.
    pub book: &'a PositionBook,
    /// The sending client's risk key (name, or `anon@IP`).
    pub client: &'a str,
    /// The sending client's token bucket: the rate limit is per client.
    pub limiter: &'a mut RateLimiter,
    /// When the order was read, so one batch is judged at one instant.
    pub now: Instant,
}

/// One pre-trade rule: `Err` carries the REJ reason that names the rule.
pub(crate) trait RiskCheck {
    /// Judges one order; `&mut self` lets a check keep state of its own
    /// (e.g. an attachment to the price table).
    fn check(&mut self, order: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason>;
}

/// The checks in the order they run; see the module docs.
pub(crate) struct RiskChecks(Vec<Box<dyn RiskCheck>>);

impl RiskChecks {
    /// The ordermanager's checks. The order is the REJ precedence clients
    /// already see, so it must not change without a reason.
    pub(crate) fn standard<L: LastPrice + 'static>(limits: &RiskLimits, last: L) -> RiskChecks {
        RiskChecks(vec![
            Box::new(Halted),
            Box::new(KnownSymbol),
            Box::new(RateLimit),
            Box::new(MaxQuantity(limits.max_order_quantity)),
            Box::new(PriceRange {
                min_units: units_of(limits.min_price),
                max_units: units_of(limits.max_price),
            }),
            Box::new(MaxNotional(units_of(limits.max_order_notional))),
            Box::new(MaxPosition(limits.max_position)),
            Box::new(GlobalPosition(limits.max_position_global)),
            Box::new(PriceBand {
                pct: limits.price_band_pct,
                last,
            }),
        ])
    }

    /// Runs the checks until one fails.
    pub(crate) fn evaluate(
        &mut self,
        order: &Order<'_>,
        ctx: &mut CheckCtx<'_>,
    ) -> Result<(), RejectReason> {
        self.0.iter_mut().try_for_each(|c| c.check(order, ctx))
    }
}

/// HALTED: nothing new trades between SIGUSR1 and SIGUSR2.
pub(crate) struct Halted;

impl RiskCheck for Halted {
    fn check(&mut self, _: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if ctx.halted {
            Err(RejectReason::Halted)
        } else {
            Ok(())
        }
    }
}

/// UNKNOWN_SYMBOL: only the configured symbols trade (and have a table slot).
pub(crate) struct KnownSymbol;

impl RiskCheck for KnownSymbol {
    fn check(&mut self, _: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        ctx.symbol.map(|_| ()).ok_or(RejectReason::UnknownSymbol)
    }
}

/// RATE_LIMIT: `max_orders_per_sec` per client (the bucket is the client's,
/// not its connection's: reconnecting does not refill it).
pub(crate) struct RateLimit;

impl RiskCheck for RateLimit {
    fn check(&mut self, _: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if ctx.limiter.allow(ctx.now) {
            Ok(())
        } else {
            Err(RejectReason::RateLimit)
        }
    }
}

/// MAX_QUANTITY: no single order above this many shares.
pub(crate) struct MaxQuantity(pub u64);

impl RiskCheck for MaxQuantity {
    fn check(&mut self, order: &Order<'_>, _: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if order.quantity > self.0 {
            Err(RejectReason::MaxQuantity)
        } else {
            Ok(())
        }
    }
}

/// PRICE_RANGE: the price lies within `min..=max` (in price units), a
/// sanity range that needs no market data.
pub(crate) struct PriceRange {
    /// Lowest price accepted.
    pub min_units: i128,
    /// Highest price accepted.
    pub max_units: i128,
}

impl RiskCheck for PriceRange {
    fn check(&mut self, order: &Order<'_>, _: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        let p = order.price.units() as i128;
        if p < self.min_units || p > self.max_units {
            Err(RejectReason::PriceRange)
        } else {
            Ok(())
        }
    }
}

/// MAX_NOTIONAL: price × quantity (in price units) within this; 0 = off.
pub(crate) struct MaxNotional(pub i128);

impl RiskCheck for MaxNotional {
    fn check(&mut self, order: &Order<'_>, _: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        let notional = order.price.units() as i128 * order.quantity as i128;
        if self.0 > 0 && notional > self.0 {
            Err(RejectReason::MaxNotional)
        } else {
            Ok(())
        }
    }
}

/// Whether a fill of `order` takes a position of `net` shares past `limit`
/// (reducing a position is always fine).
fn breaks(net: i64, order: &Order<'_>, limit: u64) -> bool {
    let after = net as i128 + order.side.sign() as i128 * order.quantity as i128;
    after.unsigned_abs() > limit as u128 && after.unsigned_abs() > (net as i128).unsigned_abs()
}

/// MAX_POSITION: the client's absolute net position in the symbol after the
/// fill stays within this many shares (reducing it is always fine).
pub(crate) struct MaxPosition(pub u64);

impl RiskCheck for MaxPosition {
    fn check(&mut self, order: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if breaks(ctx.book.client_net(ctx.client, order.symbol), order, self.0) {
            Err(RejectReason::MaxPosition)
        } else {
            Ok(())
        }
    }
}

/// GLOBAL_POSITION: the symbol's net position over every client stays
/// within this many shares; 0 = off.
pub(crate) struct GlobalPosition(pub u64);

impl RiskCheck for GlobalPosition {
    fn check(&mut self, order: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if self.0 > 0 && breaks(ctx.book.net(order.symbol), order, self.0) {
            Err(RejectReason::GlobalPosition)
        } else {
            Ok(())
        }
    }
}

/// Where the price band finds a symbol's last price.
pub(crate) trait LastPrice {
    /// The last price of the symbol at table index `idx`, if one is known.
    fn last(&mut self, idx: usize) -> Option<Price>;
}

/// PRICE_BAND: the price is within `pct` percent of the last price; skipped
/// when `pct` is 0 or no last price is known.
pub(crate) struct PriceBand<L> {
    /// Half-width of the band in percent; 0 = off.
    pub pct: f64,
    /// Source of last prices.
    pub last: L,
}

impl<L: LastPrice> RiskCheck for PriceBand<L> {
    fn check(&mut self, order: &Order<'_>, ctx: &mut CheckCtx<'_>) -> Result<(), RejectReason> {
        if self.pct <= 0.0 {
            return Ok(());
        }
        let Some(last) = ctx.symbol.and_then(|idx| self.last.last(idx)) else {
            return Ok(());
        };
        if last.units() <= 0 {
            return Ok(());
        }
        let distance =
            (order.price.units() as f64 - last.units() as f64).abs() / last.units() as f64 * 100.0;
        if distance > self.pct {
            Err(RejectReason::PriceBand)
        } else {
            Ok(())
        }
    }
}

/// How often the price band checks that its table is still the one at the name.
const RECHECK_TABLE: Duration = Duration::from_millis(100);

/// Last prices from the orderbook's shm table, attached lazily: the table
/// may appear after the ordermanager starts, or not exist on this host.
pub(crate) struct ShmLastPrices {
    /// Segment name.
    name: String,
    /// The symbols the table must hold, in the ordermanager's order.
    symbols: Vec<String>,
    /// The attachment, once there is one.
    reader: Option<PriceTableReader>,
    /// No attach attempt before this (at most one a second).
    next_try: Instant,
    /// No check that the attachment is still the table at the name before
    /// this: the check is a `stat` call, too dear for every order, and a
    /// re-created table is noticed within [`RECHECK_TABLE`] anyway.
    next_check: Instant,
    /// The "not reachable" warning went out already (it is said once).
    said_unreachable: bool,
    /// For the attach and unreachable lines.
    log: Logger,
}

impl ShmLastPrices {
    /// Not attached yet; the first lookup tries.
    pub(crate) fn new(name: &str, symbols: &[String], log: Logger) -> ShmLastPrices {
        ShmLastPrices {
            name: name.to_string(),
            symbols: symbols.to_vec(),
            reader: None,
            next_try: Instant::now(),
            next_check: Instant::now(),
            said_unreachable: false,
            log,
        }
    }
}

impl LastPrice for ShmLastPrices {
    fn last(&mut self, idx: usize) -> Option<Price> {
        let now = Instant::now();
        if self.reader.is_some() && now >= self.next_check {
            self.next_check = now + RECHECK_TABLE;
            if self.reader.as_ref().is_some_and(|r| !r.is_current()) {
                self.reader = None;
            }
        }
        if self.reader.is_none() && now >= self.next_try {
            self.next_try = now + Duration::from_secs(1);
            match PriceTableReader::attach_expecting(&self.name, &self.symbols) {
                Ok(r) => {
                    slog::info!(self.log, "price band active: reading last prices"; "table" => &self.name);
                    self.reader = Some(r);
                }
                Err(e) if !self.said_unreachable => {
                    slog::warn!(self.log, "price band skipped: the price table is not reachable on this host"; "reason" => %e);
                    self.said_unreachable = true;
                }
                Err(_) => {}
            }
        }
        let q = self.reader.as_ref()?.read(SymbolIndex::new(idx));
        (q.updates > 0).then(|| Price::from_units(q.price_units))
    }
}

/// RATE_LIMIT: a token bucket of `rate` orders per second per client, with a
/// burst of one second's worth. It stops a runaway client; TCP backpressure,
/// not this bucket, protects the ordermanager from a flood, and the default
/// lets our own strategy's full-speed replay through whole.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    /// Orders per second (and the bucket size).
    rate: f64,
    /// Orders available now.
    tokens: f64,
    /// When `tokens` was last refilled.
    last: Instant,
}

impl RateLimiter {
    /// A full bucket for `rate` orders per second.
    pub(crate) fn new(rate: u64, now: Instant) -> RateLimiter {
        RateLimiter {
            rate: rate as f64,
            tokens: rate as f64,
            last: now,
        }
    }

    /// Takes one order's token if there is one.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
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
mod tests;
