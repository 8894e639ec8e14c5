//! Positions and P&L, per symbol and per client, from executed orders.
//!
//! Arithmetic is on price units (1e-8) in i128: the cost basis is the total
//! cost of the open shares, closing trades realise against the average cost
//! (their proportional share of the basis), and a trade that crosses through
//! zero first closes the old position, then opens the new one at its price.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::journal::{JournalRecord, Outcome};
use crate::price::Price;
use crate::protocol::Side;

/// One book of shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Net shares: positive long, negative short.
    pub net: i64,
    /// Cost of the open shares in price units (negative for a short's proceeds).
    pub cost_units: i128,
    /// Realised P&L in price units.
    pub realized_units: i128,
    /// Executed orders.
    pub orders: u64,
    /// Executed shares, both sides.
    pub shares: u64,
}

impl Position {
    /// Applies a fill of `quantity` at `price`.
    pub fn fill(&mut self, side: Side, quantity: u64, price: Price) {
        let (q, p) = (quantity as i128, price.units() as i128);
        let s = side.sign() as i128;
        self.orders += 1;
        self.shares += quantity;
        let net = self.net as i128;
        if net == 0 || net.signum() == s {
            self.cost_units += s * q * p;
            self.net += side.sign() * quantity as i64;
            return;
        }
        let closed = q.min(net.abs());
        // The closed shares' part of the basis, and what closing them realises.
        let basis = self.cost_units * closed / net.abs();
        self.realized_units += net.signum() * closed * p - basis;
        self.cost_units -= basis;
        let opened = q - closed;
        self.cost_units += s * opened * p;
        self.net += side.sign() * quantity as i64;
        if self.net == 0 {
            self.cost_units = 0;
        }
    }

    /// Average cost of the open shares (0 when flat).
    pub fn avg_cost(&self) -> Price {
        if self.net == 0 {
            return Price::from_units(0);
        }
        Price::from_units((self.cost_units / (self.net as i128)) as i64)
    }

    /// Realised P&L as a price-like decimal.
    pub fn realized(&self) -> Price {
        Price::from_units(
            self.realized_units
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        )
    }
}

/// The fill an accepted record stands for: side, quantity, symbol, price.
fn executed(r: &JournalRecord) -> Option<(Side, u64, &str, Price)> {
    if r.outcome != Outcome::Accepted {
        return None;
    }
    Some((r.side?, r.quantity?, r.symbol.as_deref()?, r.price?))
}

/// Every position, by symbol and by (client, symbol).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PositionBook {
    /// By symbol.
    pub by_symbol: BTreeMap<String, Position>,
    /// By client (its authenticated name, or `anon@IP` for an
    /// unauthenticated one: see [`JournalRecord::risk_key`]), then symbol:
    /// what MAX_POSITION limits, so one client cannot use up another's room.
    pub by_client: BTreeMap<(String, String), Position>,
}

impl PositionBook {
    /// An empty book.
    pub fn new() -> PositionBook {
        PositionBook::default()
    }

    /// Applies an accepted record; rejected ones change nothing.
    pub fn apply(&mut self, r: &JournalRecord) {
        if let Some((side, q, sym, p)) = executed(r) {
            self.apply_fill(&r.risk_key(), sym, side, q, p);
        }
    }

    /// [`apply`](Self::apply) with `key` (any contents) as room for the
    /// record's client key, kept by the caller across records: the millions
    /// of fills of a recovery, of pairs already in the book, then allocate
    /// nothing.
    pub fn apply_keyed(&mut self, r: &JournalRecord, key: &mut String) {
        let Some((side, q, sym, p)) = executed(r) else {
            return;
        };
        r.write_risk_key(key);
        self.apply_fill(key, sym, side, q, p);
    }

    /// Applies one fill for `client` and answers the symbol's position after
    /// it (a backtest marks its account with it, and a second lookup by name
    /// per order was a fair part of an order's cost). Live fills go through
    /// [`apply`](Self::apply), so that only recorded orders move the book.
    pub(crate) fn apply_fill(
        &mut self,
        client: &str,
        symbol: &str,
        side: Side,
        quantity: u64,
        price: Price,
    ) -> Position {
        // Look up before inserting: a recovery fills millions of times.
        let after = match self.by_symbol.get_mut(symbol) {
            Some(p) => {
                p.fill(side, quantity, price);
                *p
            }
            None => {
                let p = self.by_symbol.entry(symbol.to_string()).or_default();
                p.fill(side, quantity, price);
                *p
            }
        };
        // The same for the pair: owned keys are built only for a new one.
        match self
            .by_client
            .get_mut(&(client, symbol) as &dyn ClientSymbol)
        {
            Some(p) => p.fill(side, quantity, price),
            None => self
                .by_client
                .entry((client.to_string(), symbol.to_string()))
                .or_default()
                .fill(side, quantity, price),
        }
        after
    }

    /// Net shares of `symbol` (0 if never traded).
    pub fn net(&self, symbol: &str) -> i64 {
        self.by_symbol.get(symbol).map_or(0, |p| p.net)
    }

    /// Net shares of `symbol` held by `client` (a risk key; 0 if none).
    pub fn client_net(&self, client: &str, symbol: &str) -> i64 {
        self.by_client
            .get(&(client, symbol) as &dyn ClientSymbol)
            .map_or(0, |p| p.net)
    }

    /// The book rebuilt from journal records.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a JournalRecord>) -> PositionBook {
        let mut book = PositionBook::new();
        for r in records {
            book.apply(r);
        }
        book
    }
}

/// A `by_client` key seen through borrowed parts, so that a lookup by
/// `(&str, &str)` needs no owned `(String, String)`: MAX_POSITION looks up
/// every order's pair, and building the owned pair was two allocations each.
/// Ordered exactly as the owned tuple is (client, then symbol, bytewise).
trait ClientSymbol {
    /// The client's risk key.
    fn client(&self) -> &str;
    /// The symbol.
    fn symbol(&self) -> &str;
}

impl ClientSymbol for (String, String) {
    fn client(&self) -> &str {
        &self.0
    }
    fn symbol(&self) -> &str {
        &self.1
    }
}

impl ClientSymbol for (&str, &str) {
    fn client(&self) -> &str {
        self.0
    }
    fn symbol(&self) -> &str {
        self.1
    }
}

impl<'a> Borrow<dyn ClientSymbol + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn ClientSymbol + 'a) {
        self
    }
}

impl PartialEq for dyn ClientSymbol + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for dyn ClientSymbol + '_ {}

impl PartialOrd for dyn ClientSymbol + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn ClientSymbol + '_ {
    /// Bytewise, as `str` orders, but in line: these keys are a few bytes
    /// long, and a `memcmp` call per step of the search cost more than the
    /// comparison.
    fn cmp(&self, other: &Self) -> Ordering {
        let bytewise = |a: &str, b: &str| a.bytes().cmp(b.bytes());
        bytewise(self.client(), other.client())
            .then_with(|| bytewise(self.symbol(), other.symbol()))
    }
}

impl fmt::Display for PositionBook {
    /// A table by symbol: net, average cost, realised P&L, orders, shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>14} {:>16} {:>8} {:>10}",
            "symbol", "net", "avg_cost", "realized_pnl", "orders", "shares"
        );
        for (sym, p) in &self.by_symbol {
            let _ = writeln!(
                out,
                "{:<8} {:>10} {:>14} {:>16} {:>8} {:>10}",
                sym,
                p.net,
                p.avg_cost().to_string(),
                p.realized().to_string(),
                p.orders,
                p.shares
            );
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(v: i64) -> Price {
        Price::from_units(v * 100_000_000)
    }

    #[test]
    fn average_cost_and_realised_pnl_by_hand() {
        let mut p = Position::default();
        p.fill(Side::Buy, 100, px(10));
        p.fill(Side::Buy, 100, px(12));
        assert_eq!((p.net, p.avg_cost()), (200, px(11)));
        // Sell 150 @ 13 against avg 11: realises 150 * 2 = 300; 50 left at 11.
        p.fill(Side::Sell, 150, px(13));
        assert_eq!((p.net, p.avg_cost(), p.realized()), (50, px(11), px(300)));
        // Sell 100 @ 9: closes 50 at -2 each (-100, total 200), opens 50 short at 9.
        p.fill(Side::Sell, 100, px(9));
        assert_eq!((p.net, p.avg_cost(), p.realized()), (-50, px(9), px(200)));
        // Buy 50 @ 8 closes the short at +1 each: 250, flat.
        p.fill(Side::Buy, 50, px(8));
        assert_eq!((p.net, p.avg_cost(), p.realized()), (0, px(0), px(250)));
        assert_eq!((p.orders, p.shares), (5, 500));
    }

    #[test]
    fn the_book_splits_by_symbol_and_client_and_ignores_rejects() {
        let rec = |client: &str, sym: &str, side, q, outcome| JournalRecord {
            recv_ns: 0,
            client_order_id: None,
            client: client.into(),
            side: Some(side),
            quantity: Some(q),
            symbol: Some(sym.into()),
            price: Some(px(10)),
            outcome,
            reason: None,
            raw: None,
            client_name: None,
            frames: None,
        };
        let records = [
            rec("a", "AAPL", Side::Buy, 100, Outcome::Accepted),
            rec("b", "AAPL", Side::Sell, 30, Outcome::Accepted),
            rec("b", "MSFT", Side::Buy, 5, Outcome::Rejected),
        ];
        let book = PositionBook::from_records(&records);
        assert_eq!((book.net("AAPL"), book.net("MSFT")), (70, 0));
        assert_eq!(book.client_net("anon@b", "AAPL"), -30, "keyed by address");
        assert_eq!(book.client_net("anon@a", "AAPL"), 100);
        assert_eq!(book.client_net("anon@a", "MSFT"), 0);
        let mut named = rec("127.0.0.1:9", "AAPL", Side::Buy, 7, Outcome::Accepted);
        named.client_name = Some("strat1".into());
        let book = PositionBook::from_records([&named, &named]);
        assert_eq!(book.client_net("strat1", "AAPL"), 14, "keyed by name");
        let table = book.to_string();
        assert!(table.lines().nth(1).unwrap().starts_with("AAPL"), "{table}");
    }

    #[test]
    fn borrowed_pair_lookups_find_exactly_the_owned_pair() {
        let mut book = PositionBook::new();
        // Pairs whose concatenations coincide must stay apart.
        for (client, symbol, q) in [
            ("a", "bc", 1),
            ("ab", "c", 2),
            ("a", "b", 3),
            ("", "abc", 4),
        ] {
            book.apply_fill(client, symbol, Side::Buy, q, px(1));
            book.apply_fill(client, symbol, Side::Buy, q, px(1));
        }
        assert_eq!(book.by_client.len(), 4, "a second fill finds its pair");
        for (client, symbol, q) in [
            ("a", "bc", 2),
            ("ab", "c", 4),
            ("a", "b", 6),
            ("", "abc", 8),
        ] {
            assert_eq!(book.client_net(client, symbol), q, "{client}/{symbol}");
            assert_eq!(
                book.by_client[&(client.to_string(), symbol.to_string())].net,
                q
            );
        }
        assert_eq!(book.client_net("abc", ""), 0);
        assert_eq!(book.client_net("a", "c"), 0);
    }

    proptest::proptest! {
        #[test]
        fn borrowed_pairs_order_as_owned_pairs(
            a in ("[ab]{0,3}", "[ab\u{e9}]{0,3}"),
            b in ("[ab]{0,3}", "[ab\u{e9}]{0,3}"),
        ) {
            let (x, y) = ((a.0.as_str(), a.1.as_str()), (b.0.as_str(), b.1.as_str()));
            let got = (&x as &dyn ClientSymbol).cmp(&y as &dyn ClientSymbol);
            proptest::prop_assert_eq!(got, a.cmp(&b));
        }
    }
}
