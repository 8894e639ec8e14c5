//! [`Exchange`]: the ordermanager's own decision code, in process.
//!
//! Each intent becomes the exact order frame the live strategy sends
//! (`write_order`, with a client order id), and goes through the
//! ordermanager's `Desk`: the same parser, the same risk checks in the
//! same precedence, the same journal record and the same
//! [`PositionBook`] update. Nothing is
//! written to disk and nothing is answered; an accepted order fills at its
//! price, which is the price of the tick that caused it.
//!
//! Where the live checks read the world, the backtest supplies it from the
//! data: RATE_LIMIT sees the event time of the tick (a live run sees the
//! wall clock, so set `max_orders_per_sec` above what a replay can burst
//! when comparing the two), and PRICE_BAND's last price is the symbol's
//! latest tick in the file.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ordermanager::journal::ClientRef;
use crate::ordermanager::risk::{LastPrice, RiskChecks};
use crate::ordermanager::verdict::{Desk, Verdict, Who};
use crate::ordermanager::{PositionBook, SeenIds};
use crate::price::Price;
use crate::protocol::{write_order, Order, RejectReason, Side};
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
    /// The frame being judged, reused.
    frame: Vec<u8>,
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
            frame: Vec::with_capacity(128),
            clock: None,
            orders: Vec::new(),
        }
    }

    /// Sends one intent at `price_units`, decided at `event_ns`; returns
    /// its row (also kept in [`orders`](Self::orders)), or `None` for an
    /// intent whose id was already sent: the live strategy's tracker never
    /// sends an id twice, so neither does the backtest.
    pub fn place(
        &mut self,
        intent: OrderIntent,
        price_units: i64,
        event_ns: i64,
    ) -> Option<&OrderRow> {
        let idx = intent.symbol.get();
        if let Some(cell) = self.latest.0.get(idx) {
            cell.set(price_units);
        }
        let (base, first_ns) = *self.clock.get_or_insert((Instant::now(), event_ns));
        let now = base + Duration::from_nanos(event_ns.saturating_sub(first_ns).max(0) as u64);
        let id = format!("{}-bt-{:x}", self.client_name, intent.tag);
        let symbol = self.symbols.get(idx).map_or("?", String::as_str);
        self.frame.clear();
        write_order(
            &mut self.frame,
            &Order {
                timestamp: event_ns as f64 / 1e9,
                side: intent.side,
                quantity: self.quantity,
                symbol,
                price: Price::from_units(price_units),
                client_order_id: Some(&id),
            },
        );
        let client = ClientRef {
            addr: "backtest",
            name: Some(&self.client_name),
        };
        let who = Who {
            client,
            key: &self.client_name,
        };
        // The sink judges frames as the splitter hands them: without the `*`.
        let frame = self.frame.strip_suffix(b"*").unwrap_or(&self.frame);
        let verdict = self.desk.verdict(frame, who, now);
        let rejected = match &verdict {
            Verdict::Order { result, .. } => result.err(),
            Verdict::Replay { .. } | Verdict::Mismatch { .. } => return None,
            Verdict::Malformed { bad, .. } => Some(bad.reason),
        };
        if let Some(record) = verdict.record(event_ns, client) {
            self.desk.apply(&verdict, &record);
        }
        self.orders.push(OrderRow {
            tag: intent.tag,
            event_ns,
            symbol: intent.symbol,
            side: intent.side,
            quantity: self.quantity,
            price: Price::from_units(price_units),
            rejected,
            position_after: self.desk.book.net(symbol),
        });
        self.orders.last()
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
                .position_after,
            100
        );
        assert_eq!(
            x.place(intent(Side::Sell, 2), 11_000_000_000, 1)
                .unwrap()
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
        let row = x
            .place(intent(Side::Buy, 2), 100_000_000, 1)
            .unwrap()
            .clone();
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
        .rejected;
        assert_eq!(
            rate,
            Some(RejectReason::PriceRange),
            "0.00000001 is below min_price"
        );
    }
}
