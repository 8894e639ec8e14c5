//! Trading decisions as pure logic: no I/O, no clock, no allocation per tick.
//!
//! The same code runs live in the strategy and over a file in tests, so a
//! test can predict exactly which orders a run must produce.
//!
//! * [`crossover`] — simple moving-average crossover per symbol, O(1) per
//!   tick, compared exactly on fixed-point integers.
//! * [`news`] — sentiment to a BUY / SELL / HOLD view.
//! * [`combiner`] — turns crossovers and news views into at most one order
//!   per price signal.
//! * [`SignalEngine`] — all three for every symbol of a table: today's
//!   strategy, kind `crossover`.
//! * [`Strategy`] — the interface all of them implement, with
//!   [`MeanReversion`] and [`Streak`] as further kinds; [`registry`] selects
//!   one by name (`strategy.kind`).

pub mod combiner;
pub mod crossover;
pub mod mean_reversion;
pub mod news;
pub mod registry;
mod strategy;
pub mod streak;

pub use combiner::{Combiner, OrderIntent};
pub use crossover::{Crossover, SmaCrossovers};
pub use mean_reversion::{MeanReversion, MeanReversionParams};
pub use news::{classify_sentiment, NewsView};
pub use strategy::{NewsEvent, Strategy, TickEvent};
pub use streak::{Streak, StreakParams};

use crate::symbol::SymbolIndex;
use serde::Deserialize;
use thiserror::Error;

/// The settings a strategy's decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignalParams {
    /// Ticks in the short average.
    pub short_window: usize,
    /// Ticks in the long average; more than `short_window`.
    pub long_window: usize,
    /// Sentiment strictly above this is a BUY view.
    pub bullish_threshold: u8,
    /// Sentiment strictly below this is a SELL view.
    pub bearish_threshold: u8,
    /// false: every crossover is an order at once and news is ignored.
    pub use_news: bool,
}

/// Settings that cannot make a working strategy; each names its setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignalError {
    /// The short window must be at least one tick and shorter than the long one.
    #[error("short_window ({short}) must be at least 1 and less than long_window ({long})")]
    Windows {
        /// `short_window` as given.
        short: usize,
        /// `long_window` as given.
        long: usize,
    },
    /// The long window is larger than the engine keeps per symbol.
    #[error("long_window ({0}) must be at most {max}", max = crossover::MAX_WINDOW)]
    WindowTooLong(usize),
    /// The thresholds must be ordered within 0..=100.
    #[error("bearish_threshold ({bearish}) must not exceed bullish_threshold ({bullish}), and both must be at most 100")]
    Thresholds {
        /// `bearish_threshold` as given.
        bearish: u8,
        /// `bullish_threshold` as given.
        bullish: u8,
    },
}

/// Crossover detectors, news thresholds and the combiner for every symbol:
/// the `crossover` kind, the strategy this system has always traded.
#[derive(Debug, Clone)]
pub struct SignalEngine {
    /// One detector per symbol index.
    crossovers: SmaCrossovers,
    /// Agreement of price signals and news, per symbol.
    combiner: Combiner,
    /// From the params, for `on_news`.
    bullish: u8,
    /// From the params, for `on_news`.
    bearish: u8,
}

impl SignalEngine {
    /// An engine for symbols `0..symbols` with these settings.
    pub fn new(symbols: usize, params: &SignalParams) -> Result<SignalEngine, SignalError> {
        if params.bearish_threshold > params.bullish_threshold || params.bullish_threshold > 100 {
            return Err(SignalError::Thresholds {
                bearish: params.bearish_threshold,
                bullish: params.bullish_threshold,
            });
        }
        Ok(SignalEngine {
            crossovers: SmaCrossovers::new(symbols, params.short_window, params.long_window)?,
            combiner: Combiner::new(symbols, params.use_news),
            bullish: params.bullish_threshold,
            bearish: params.bearish_threshold,
        })
    }

    /// Feeds one tick; `tag` identifies it (the strategy passes the ring
    /// sequence number) and comes back in the order it may produce.
    ///
    /// An out-of-range `symbol` yields `None`: callers map symbols through
    /// the same table the engine was sized for.
    pub fn on_tick(
        &mut self,
        symbol: SymbolIndex,
        price_units: i64,
        tag: u64,
    ) -> Option<OrderIntent> {
        let side = self.crossovers.update(symbol, price_units)?;
        self.combiner.on_crossover(symbol, side, tag)
    }

    /// Feeds one news frame's sentiment (0–100) for `symbol`.
    pub fn on_news(&mut self, symbol: SymbolIndex, sentiment: u8) -> Option<OrderIntent> {
        if symbol.get() >= self.crossovers.symbols() {
            return None;
        }
        let view = classify_sentiment(sentiment, self.bullish, self.bearish);
        self.combiner.on_news(symbol, view)
    }

    /// The detector of `symbol`, for logging its averages.
    pub fn crossover(&self, symbol: SymbolIndex) -> Option<&Crossover> {
        self.crossovers.detector(symbol)
    }
}

impl Strategy for SignalEngine {
    #[inline]
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        SignalEngine::on_tick(self, tick.symbol, tick.price_units, tick.tag)
    }

    fn on_news(&mut self, news: &NewsEvent) -> Option<OrderIntent> {
        SignalEngine::on_news(self, news.symbol, news.sentiment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Side;

    fn params(use_news: bool) -> SignalParams {
        SignalParams {
            short_window: 2,
            long_window: 3,
            bullish_threshold: 70,
            bearish_threshold: 30,
            use_news,
        }
    }

    #[test]
    fn settings_are_checked_by_name() {
        let mut p = params(true);
        p.short_window = 5;
        p.long_window = 5;
        let e = SignalEngine::new(1, &p).unwrap_err().to_string();
        assert_eq!(
            e,
            "short_window (5) must be at least 1 and less than long_window (5)"
        );
        let mut p = params(true);
        p.bearish_threshold = 80;
        assert!(SignalEngine::new(1, &p)
            .unwrap_err()
            .to_string()
            .contains("bearish_threshold (80)"));
    }

    #[test]
    fn engine_routes_ticks_and_news_per_symbol() {
        let mut e = SignalEngine::new(2, &params(true)).unwrap();
        // Symbol 0: 10, 10, 10 (sign undefined: tie), 9 (short 9.5 < long 9.67: down, first sign: no signal),
        // 12 (short 10.5 > long 10.33: up → BUY pending).
        for (i, p) in [10, 10, 10, 9].into_iter().enumerate() {
            assert_eq!(e.on_tick(SymbolIndex(0), p, i as u64), None);
        }
        assert_eq!(
            e.on_tick(SymbolIndex(0), 12, 4),
            None,
            "news is HOLD so far"
        );
        assert_eq!(e.on_news(SymbolIndex(1), 90), None, "another symbol's news");
        assert_eq!(
            e.on_news(SymbolIndex(0), 90),
            Some(OrderIntent {
                symbol: SymbolIndex(0),
                side: Side::Buy,
                tag: 4
            })
        );
        assert_eq!(
            e.on_news(SymbolIndex(0), 95),
            None,
            "one order per price signal"
        );
        assert_eq!(e.on_tick(SymbolIndex(7), 1, 9), None);
    }
}
