//! The backtest loop: every tick through the strategy, every intent through
//! the [`Exchange`], and the account marked to market at every tick.

use super::exchange::{Exchange, OrderRow};
use super::news::ReplayNews;
use super::recording::Input;
use super::ticks::TickRow;
use crate::config::Config;
use crate::ordermanager::{Position, PositionBook};
use crate::signals::{NewsEvent, OrderIntent, Strategy, TickEvent};

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

    /// Takes in symbol `s`'s position `p` after a fill; true if the fill
    /// reduced (or closed, or reversed) the position.
    fn refill(&mut self, s: usize, p: &Position) -> bool {
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

/// One backtest in progress: feed it ticks and news, then [`finish`](Self::finish).
pub struct Backtester {
    /// The ordermanager's decisions and book.
    exchange: Exchange,
    /// Marked to market at every tick.
    acct: Account,
    /// Ticks between two equity samples.
    stride: u64,
    /// Ticks until the next equity sample (0: this one is sampled): a
    /// countdown, so no tick pays for a division.
    until_sample: u64,
    /// Equity samples.
    equity: Vec<(u64, i128)>,
    /// Ticks fed so far.
    ticks: u64,
    /// Ticks with a position open.
    exposed: u64,
    /// Fills that reduced a position.
    closing: u64,
    /// Of those, the ones that realised a gain.
    winning: u64,
    /// Realised P&L per symbol before the latest fill.
    realised: Vec<i128>,
    /// Event time of the latest tick: news orders are judged at it.
    now_ns: i64,
}

impl Backtester {
    /// A backtest with the configuration's symbols and limits, sampling
    /// equity for about `expected_ticks` ticks.
    pub fn new(cfg: &Config, expected_ticks: u64) -> Backtester {
        let n = cfg.symbols.len();
        Backtester {
            exchange: Exchange::new(cfg),
            acct: Account {
                net: vec![0; n],
                base: vec![0; n],
                last: vec![0; n],
                open: 0,
                equity: 0,
                peak: 0,
                drawdown: 0,
            },
            stride: (expected_ticks / CURVE_POINTS).max(1),
            until_sample: 0,
            equity: Vec::with_capacity(CURVE_POINTS as usize + 2),
            ticks: 0,
            exposed: 0,
            closing: 0,
            winning: 0,
            realised: vec![0; n],
            now_ns: 0,
        }
    }

    /// One tick: marked, fed to the strategy, its intent (if any) placed at
    /// the tick's price.
    #[inline]
    pub fn tick<S: Strategy + ?Sized>(&mut self, strategy: &mut S, tick: &TickEvent) {
        let s = tick.symbol.get();
        if s >= self.acct.last.len() {
            return;
        }
        self.acct.mark(s, tick.price_units);
        self.now_ns = tick.event_ns;
        if let Some(intent) = strategy.on_tick(tick) {
            self.place(intent, tick.price_units);
        }
        self.acct.settle();
        self.exposed += (self.acct.open > 0) as u64;
        if self.until_sample == 0 {
            self.equity.push((self.ticks, self.acct.equity));
            self.until_sample = self.stride;
        }
        self.until_sample -= 1;
        self.ticks += 1;
    }

    /// One news frame: its intent (if any) placed at the symbol's last
    /// price, or skipped before the symbol's first tick (as live).
    pub fn news<S: Strategy + ?Sized>(&mut self, strategy: &mut S, news: &NewsEvent) {
        let Some(intent) = strategy.on_news(news) else {
            return;
        };
        match self.acct.last.get(intent.symbol.get()) {
            Some(&price) if price > 0 => {
                self.place(intent, price);
                self.acct.settle();
            }
            _ => {}
        }
    }

    /// Sends an intent through the exchange and books a fill.
    fn place(&mut self, intent: OrderIntent, price_units: i64) {
        let s = intent.symbol.get();
        let Some((_, Some(after))) = self.exchange.place(intent, price_units, self.now_ns) else {
            return;
        };
        if self.acct.refill(s, &after) {
            self.closing += 1;
            self.winning += (after.realized_units > self.realised[s]) as u64;
        }
        self.realised[s] = after.realized_units;
    }

    /// Ticks fed so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The run's results.
    pub fn finish(mut self) -> Outcome {
        self.equity.push((self.ticks, self.acct.equity));
        Outcome {
            ticks: self.ticks,
            book: self.exchange.book().clone(),
            symbols: self.exchange.symbols().to_vec(),
            orders: std::mem::take(&mut self.exchange.orders),
            last_prices: self.acct.last,
            equity: self.equity,
            max_drawdown: self.acct.drawdown,
            ticks_exposed: self.exposed,
            closing_fills: self.closing,
            winning_fills: self.winning,
        }
    }
}

/// Runs `strategy` over `ticks` (each tagged with its position) with the
/// configuration's limits, and the news a live finite replay of them would
/// get ([`ReplayNews`]) when the strategy takes news; `progress` is told the
/// ticks done every [`PROGRESS_EVERY`] and at the end.
pub fn run<S: Strategy + ?Sized>(
    strategy: &mut S,
    ticks: &[TickRow],
    cfg: &Config,
    progress: &mut dyn FnMut(u64),
) -> Outcome {
    let mut bt = Backtester::new(cfg, ticks.len() as u64);
    let mut news = ReplayNews::for_replay(cfg, ticks.len() as u64);
    // Chunks of PROGRESS_EVERY ticks: the progress check is once a chunk,
    // and without news the inner loop has nothing to ask but the strategy.
    for (c, chunk) in ticks.chunks(PROGRESS_EVERY as usize).enumerate() {
        let first = c as u64 * PROGRESS_EVERY;
        match &mut news {
            None => {
                for (tag, t) in (first..).zip(chunk) {
                    bt.tick(strategy, &t.event(tag));
                }
            }
            Some(news) => {
                for (tag, t) in (first..).zip(chunk) {
                    while let Some(n) = news.due(tag) {
                        bt.news(strategy, &n);
                    }
                    bt.tick(strategy, &t.event(tag));
                }
            }
        }
        if chunk.len() as u64 == PROGRESS_EVERY {
            progress(first + PROGRESS_EVERY);
        }
    }
    progress(ticks.len() as u64);
    bt.finish()
}

/// Runs `strategy` over recorded inputs, ticks and news in their order,
/// each tick with its recorded tag (the live ring's sequence number).
pub fn replay<S: Strategy + ?Sized>(strategy: &mut S, inputs: &[Input], cfg: &Config) -> Outcome {
    let ticks = inputs
        .iter()
        .filter(|i| matches!(i, Input::Tick(_)))
        .count();
    let mut bt = Backtester::new(cfg, ticks as u64);
    for input in inputs {
        match input {
            Input::Tick(t) => bt.tick(strategy, t),
            Input::News(n) => bt.news(strategy, n),
        }
    }
    bt.finish()
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
