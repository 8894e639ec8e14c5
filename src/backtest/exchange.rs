//! [`Exchange`]: the ordermanager's own decision code, in process.
//!
//! Each intent becomes the order the live strategy sends (same symbol,
//! side, quantity and price) and goes through the ordermanager's `Desk`
//! (`Desk::decide_built`): the same risk checks in the same precedence
//! and the same [`PositionBook`] update as a live order. The order is
//! handed over typed, not as a frame to parse, and without an id to look
//! up: ids are unique by construction here (one per tick tag, and a tag is
//! sent once, as the live tracker never resends an answered id), so the
//! seen-id store could only ever say "new". Nothing is written to disk and
//! nothing is answered; an accepted order fills at its price, which is the
//! price of the tick that caused it. Nothing is allocated per order beyond
//! the growth of [`Exchange::orders`].
//!
//! Where the live checks read the world, the backtest supplies it from the
//! data: RATE_LIMIT sees the event time of the tick (a live run sees the
//! wall clock, so set `max_orders_per_sec` above what a replay can burst
//! when comparing the two), and PRICE_BAND's last price is the symbol's
//! latest tick in the file.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ordermanager::journal::ClientRef;
use crate::ordermanager::positions::Position;
use crate::ordermanager::risk::{LastPrice, RiskChecks};
use crate::ordermanager::verdict::{Desk, Who};
use crate::ordermanager::{PositionBook, SeenIds};
use crate::price::Price;
use crate::protocol::{Order, RejectReason, Side};
use crate::signals::OrderIntent;
use crate::symbol::SymbolIndex;

/// One order the strategy made, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// Tag of the tick it was decided at (its position among the ticks).
    pub tag: u64,
    /// Event time of the tick it was decided at.
    pub event_ns: i64,
    /// The symbol.
    pub symbol: SymbolIndex,
    /// BUY or SELL.
    pub side: Side,
    /// Shares.
    pub quantity: u64,
    /// Limit and fill price.
    pub price: Price,
    /// `None`: accepted and filled; else the REJ reason.
    pub rejected: Option<RejectReason>,
    /// The symbol's net position after it.
    pub position_after: i64,
}

/// The latest price per symbol, shared with the PRICE_BAND check.
#[derive(Clone)]
struct LatestPrices(Rc<[Cell<i64>]>);

impl LastPrice for LatestPrices {
    fn last(&mut self, idx: usize) -> Option<Price> {
        let units = self.0.get(idx)?.get();
        (units > 0).then(|| Price::from_units(units))
    }
}

/// Orders in, fills and positions out, by the ordermanager's rules.
pub struct Exchange {
    /// The ordermanager's decision state: ids, positions, checks, counts.
    desk: Desk,
    /// Symbol names in table order.
    symbols: Vec<String>,
    /// `strategy.client_name`: the risk key and id prefix, as live.
    client_name: String,
    /// `strategy.quantity`.
    quantity: u64,
    /// Latest price per symbol (for PRICE_BAND).
    latest: LatestPrices,
    /// Tags sent so far, as the live ids they stand for: see [`SentTags`].
    sent: SentTags,
    /// RATE_LIMIT's clock: this instant is the first order's event time.
    clock: Option<(Instant, i64)>,
    /// Every order so far.
    pub orders: Vec<OrderRow>,
}

impl Exchange {
    /// An exchange with the configuration's limits, symbols and client.
    pub fn new(cfg: &Config) -> Exchange {
        let latest = LatestPrices(cfg.symbols.iter().map(|_| Cell::new(0)).collect());
        let checks = RiskChecks::standard(&cfg.ordermanager.risk_limits(), latest.clone());
        let log = slog::Logger::root(slog::Discard, slog::o!());
        Exchange {
            desk: Desk::new(
                cfg.symbols.clone(),
                SeenIds::default(),
                PositionBook::new(),
                checks,
                cfg.ordermanager.max_orders_per_sec,
                log,
            ),
            symbols: cfg.symbols.clone(),
            client_name: cfg.strategy.client_name.clone(),
            quantity: cfg.strategy.quantity,
            latest,
            sent: SentTags::default(),
            clock: None,
            orders: Vec::new(),
        }
    }

    /// Sends one intent at `price_units`, decided at `event_ns`; returns
    /// its row (also kept in [`orders`](Self::orders)) and, for an
    /// accepted order, the symbol's position after it; `None` for an intent
    /// whose tag (so whose live id) was already sent: the live run never
    /// executes an id twice, so neither does the backtest.
    pub fn place(
        &mut self,
        intent: OrderIntent,
        price_units: i64,
        event_ns: i64,
    ) -> Option<(&OrderRow, Option<Position>)> {
        if !self.sent.insert(intent.tag, &self.orders) {
            return None;
        }
        let idx = intent.symbol.get();
        if let Some(cell) = self.latest.0.get(idx) {
            cell.set(price_units);
        }
        let (base, first_ns) = *self.clock.get_or_insert_with(|| (Instant::now(), event_ns));
        let now = base + Duration::from_nanos(event_ns.saturating_sub(first_ns).max(0) as u64);
        let symbol = self.symbols.get(idx).map_or("?", String::as_str);
        let order = Order {
            timestamp: event_ns as f64 / 1e9,
            side: intent.side,
            quantity: self.quantity,
            symbol,
            price: Price::from_units(price_units),
            client_order_id: None,
        };
        let who = Who {
            client: ClientRef {
                addr: "backtest",
                name: Some(&self.client_name),
            },
            key: &self.client_name,
        };
        let (after, rejected) = match self.desk.decide_built(&order, idx, who, now) {
            Ok(after) => (Some(after), None),
            // Rare: the position is looked up by name.
            Err(reason) => (self.desk.book.by_symbol.get(symbol).copied(), Some(reason)),
        };
        self.orders.push(OrderRow {
            tag: intent.tag,
            event_ns,
            symbol: intent.symbol,
            side: intent.side,
            quantity: self.quantity,
            price: Price::from_units(price_units),
            rejected,
            position_after: after.map_or(0, |p| p.net),
        });
        let row = self.orders.last()?;
        Some((row, after.filter(|_| rejected.is_none())))
    }

    /// Positions and realised P&L, by the ordermanager's own book.
    pub fn book(&self) -> &PositionBook {
        &self.desk.book
    }

    /// Symbol names in table order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }
}

/// The tags sent so far, to refuse a second order with one (a live
/// resend of its id, which the ordermanager answers without executing).
///
/// Every built-in strategy sends tags in increasing order, so the common
/// check is one comparison with the highest tag; a set of every sent tag
/// (from the rows kept anyway) is built only once some strategy sends a tag
/// out of order.
#[derive(Debug, Default)]
struct SentTags {
    /// The highest tag sent while they came in increasing order.
    highest: Option<u64>,
    /// Every tag sent, once one arrived out of order (else `None`).
    all: Option<HashSet<u64>>,
}

impl SentTags {
    /// Notes `tag`, given the rows of every order sent so far; `false` if
    /// it was sent before.
    fn insert(&mut self, tag: u64, sent: &[OrderRow]) -> bool {
        if let Some(all) = &mut self.all {
            return all.insert(tag);
        }
        if self.highest.is_none_or(|h| tag > h) {
            self.highest = Some(tag);
            return true;
        }
        let mut all: HashSet<u64> = sent.iter().map(|r| r.tag).collect();
        let new = all.insert(tag);
        self.all = Some(all);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut env: config::Map<String, String> =
            [("TRADING__SYMBOLS".to_string(), "AAA,BBB".to_string())].into();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::load_with_env(None, Some(env)).unwrap()
    }

    fn intent(side: Side, tag: u64) -> OrderIntent {
        OrderIntent {
            symbol: SymbolIndex(0),
            side,
            tag,
        }
    }

    #[test]
    fn orders_fill_at_their_price_through_the_ordermanager_book() {
        let mut x = Exchange::new(&config(&[]));
        assert_eq!(
            x.place(intent(Side::Buy, 1), 10_000_000_000, 0)
                .unwrap()
                .0
                .position_after,
            100
        );
        assert_eq!(
            x.place(intent(Side::Sell, 2), 11_000_000_000, 1)
                .unwrap()
                .0
                .position_after,
            0
        );
        let p = x.book().by_symbol["AAA"];
        assert_eq!(p.realized_units, 100 * 1_000_000_000, "100 shares × 10.00");
        assert_eq!(p.orders, 2);
    }

    #[test]
    fn the_ordermanager_risk_checks_refuse_as_live() {
        let mut x = Exchange::new(&config(&[("TRADING__ORDERMANAGER__MAX_POSITION", "150")]));
        x.place(intent(Side::Buy, 1), 100_000_000, 0);
        let (row, after) = x.place(intent(Side::Buy, 2), 100_000_000, 1).unwrap();
        assert_eq!(after, None, "a refused order reports no fill");
        let row = row.clone();
        assert_eq!(row.rejected, Some(RejectReason::MaxPosition));
        assert_eq!(row.position_after, 100, "a refused order does not fill");
        assert!(
            x.place(intent(Side::Buy, 2), 100_000_000, 2).is_none(),
            "an id already sent is never sent again (as the live tracker)"
        );
        assert_eq!(x.orders.len(), 2);
        let rate = Exchange::new(&config(&[(
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1",
        )]))
        .place(intent(Side::Buy, 1), 1, 0)
        .unwrap()
        .0
        .rejected;
        assert_eq!(
            rate,
            Some(RejectReason::PriceRange),
            "0.00000001 is below min_price"
        );
    }

    #[test]
    fn a_tag_is_sent_once_even_out_of_order() {
        let mut x = Exchange::new(&config(&[]));
        let mut sent = |tag| x.place(intent(Side::Buy, tag), 100_000_000, 0).is_some();
        let got: Vec<bool> = [5, 7, 3, 5, 3, 9, 7, 4]
            .into_iter()
            .map(&mut sent)
            .collect();
        assert_eq!(
            got,
            [true, true, true, false, false, true, false, true],
            "the first of each tag goes out, in whatever order tags come"
        );
        assert_eq!(x.orders.len(), 5);
    }
}
