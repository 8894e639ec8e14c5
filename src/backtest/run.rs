//! The backtest loop: every tick through the strategy, every intent through
//! the [`Exchange`], and the account marked to market at every tick.

use super::exchange::{Exchange, OrderRow};
use super::ticks::TickRow;
use crate::config::Config;
use crate::ordermanager::PositionBook;
use crate::signals::{Strategy, TickEvent};

/// Points kept of the equity curve (it is sampled evenly over the ticks).
const CURVE_POINTS: u64 = 2_000;
/// Ticks between two progress reports.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Everything a report needs from one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Ticks fed to the strategy.
    pub ticks: u64,
    /// Every order, accepted or not, in order.
    pub orders: Vec<OrderRow>,
    /// Positions and realised P&L, by the ordermanager's book.
    pub book: PositionBook,
    /// Symbol names in table order.
    pub symbols: Vec<String>,
    /// Each symbol's last price in units (0: never traded in the file).
    pub last_prices: Vec<i64>,
    /// (tick index, equity in price units) samples: realised plus unrealised P&L.
    pub equity: Vec<(u64, i128)>,
    /// Largest fall of equity from an earlier peak, in price units.
    pub max_drawdown: i128,
    /// Ticks during which some position was open.
    pub ticks_exposed: u64,
    /// Fills that reduced a position.
    pub closing_fills: u64,
    /// Of those, the ones that realised a gain.
    pub winning_fills: u64,
}

/// The account in O(1) per tick: equity = Σ (realised − open cost) + Σ net × last.
struct Account {
    /// Net shares per symbol.
    net: Vec<i64>,
    /// Realised P&L minus the open shares' cost, per symbol.
    base: Vec<i128>,
    /// Last price per symbol.
    last: Vec<i64>,
    /// Symbols with a position.
    open: usize,
    /// Current equity.
    equity: i128,
    /// Highest equity so far.
    peak: i128,
    /// Largest peak-to-trough fall.
    drawdown: i128,
}

impl Account {
    /// Marks symbol `s` at `price`.
    #[inline]
    fn mark(&mut self, s: usize, price: i64) {
        let last = std::mem::replace(&mut self.last[s], price);
        self.equity += self.net[s] as i128 * (price - last) as i128;
    }

    /// Takes in symbol `s`'s position after a fill; true if the fill
    /// reduced (or closed, or reversed) the position.
    fn refill(&mut self, s: usize, book: &PositionBook, name: &str) -> bool {
        let p = book.by_symbol.get(name).copied().unwrap_or_default();
        let base = p.realized_units - p.cost_units;
        let was = self.net[s];
        let reduced = was != 0 && (p.net.signum() != was.signum() || p.net.abs() < was.abs());
        self.equity += base - self.base[s] + (p.net - was) as i128 * self.last[s] as i128;
        self.open = self.open + (p.net != 0) as usize - (was != 0) as usize;
        self.base[s] = base;
        self.net[s] = p.net;
        reduced
    }

    /// Updates peak and drawdown after a tick.
    #[inline]
    fn settle(&mut self) {
        self.peak = self.peak.max(self.equity);
        self.drawdown = self.drawdown.max(self.peak - self.equity);
    }
}

/// Runs `strategy` over `ticks` with the configuration's limits;
/// `progress` is told the ticks done every [`PROGRESS_EVERY`].
pub fn run<S: Strategy + ?Sized>(
    strategy: &mut S,
    ticks: &[TickRow],
    cfg: &Config,
    progress: &mut dyn FnMut(u64),
) -> Outcome {
    let n = cfg.symbols.len();
    let mut exchange = Exchange::new(cfg);
    let mut acct = Account {
        net: vec![0; n],
        base: vec![0; n],
        last: vec![0; n],
        open: 0,
        equity: 0,
        peak: 0,
        drawdown: 0,
    };
    let stride = (ticks.len() as u64 / CURVE_POINTS).max(1);
    let mut equity = Vec::with_capacity(CURVE_POINTS as usize + 2);
    let (mut exposed, mut closing, mut winning) = (0u64, 0u64, 0u64);
    let mut realised = vec![0i128; n];
    for (i, t) in ticks.iter().enumerate() {
        let s = t.symbol.get();
        acct.mark(s, t.price_units);
        let tick = TickEvent {
            symbol: t.symbol,
            price_units: t.price_units,
            event_ns: t.event_ns,
            tag: i as u64,
        };
        if let Some(intent) = strategy.on_tick(&tick) {
            let row = exchange.place(intent, t.price_units, t.event_ns);
            if row.rejected.is_none() {
                let name = &exchange.symbols()[s];
                let reduced = acct.refill(s, exchange.book(), name);
                let now = exchange
                    .book()
                    .by_symbol
                    .get(name)
                    .map_or(0, |p| p.realized_units);
                if reduced {
                    closing += 1;
                    winning += (now > realised[s]) as u64;
                }
                realised[s] = now;
            }
        }
        acct.settle();
        exposed += (acct.open > 0) as u64;
        let i = i as u64;
        if i.is_multiple_of(stride) {
            equity.push((i, acct.equity));
        }
        if (i + 1).is_multiple_of(PROGRESS_EVERY) {
            progress(i + 1);
        }
    }
    equity.push((ticks.len() as u64, acct.equity));
    progress(ticks.len() as u64);
    Outcome {
        ticks: ticks.len() as u64,
        book: exchange.book().clone(),
        symbols: exchange.symbols().to_vec(),
        orders: std::mem::take(&mut exchange.orders),
        last_prices: acct.last,
        equity,
        max_drawdown: acct.drawdown,
        ticks_exposed: exposed,
        closing_fills: closing,
        winning_fills: winning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Side;
    use crate::signals::OrderIntent;
    use crate::symbol::SymbolIndex;

    /// Trades the given side at the given tick tags.
    struct Script(Vec<(u64, Side)>);

    impl Strategy for Script {
        fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
            let &(_, side) = self.0.iter().find(|(tag, _)| *tag == tick.tag)?;
            Some(OrderIntent {
                symbol: tick.symbol,
                side,
                tag: tick.tag,
            })
        }
    }

    #[test]
    fn the_account_is_marked_at_every_tick_by_hand() {
        let env = [("TRADING__SYMBOLS".to_string(), "AAA".to_string())].into();
        let cfg = Config::load_with_env(None, Some(env)).unwrap();
        let ticks: Vec<TickRow> = [10, 12, 11, 9]
            .iter()
            .enumerate()
            .map(|(i, &p)| TickRow {
                symbol: SymbolIndex(0),
                price_units: p * crate::price::PRICE_SCALE,
                event_ns: i as i64,
            })
            .collect();
        let mut script = Script(vec![(0, Side::Buy), (2, Side::Sell)]);
        let mut reported = Vec::new();
        let o = run(&mut script, &ticks, &cfg, &mut |n| reported.push(n));
        let unit = crate::price::PRICE_SCALE as i128;
        // 100 bought at 10; marked 12 (+200), 11 (+100); sold at 11: +100 realised.
        let curve: Vec<i128> = o.equity.iter().map(|e| e.1 / unit).collect();
        assert_eq!(curve, [0, 200, 100, 100, 100]);
        assert_eq!(o.max_drawdown, 100 * unit);
        assert_eq!(o.book.by_symbol["AAA"].realized_units, 100 * unit);
        assert_eq!(
            (o.ticks_exposed, o.closing_fills, o.winning_fills),
            (2, 1, 1)
        );
        assert_eq!(o.orders.len(), 2);
        assert_eq!(reported, [4]);
    }
}
