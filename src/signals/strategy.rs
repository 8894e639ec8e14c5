//! [`Strategy`]: the one interface every trading idea implements.
//!
//! A strategy sees each input once, in the order the process saw it, and
//! answers with at most one [`OrderIntent`]. It must be pure: no I/O, no
//! clock (time is the tick's own event time), no allocation per input. That
//! is what lets the live strategy process and `trading-stack backtest` run
//! the very same code and produce the very same orders.

use super::OrderIntent;
use crate::symbol::SymbolIndex;

/// One market data tick as a strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickEvent {
    /// The symbol's index in the configured list (and the shm table).
    pub symbol: SymbolIndex,
    /// The price in integer units of 1e-8, so comparisons are exact.
    pub price_units: i64,
    /// When the price happened (ns since the epoch): a strategy's only clock,
    /// so a replay decides as the live run did.
    pub event_ns: i64,
    /// The caller's tag of this tick (the ring sequence number live, the
    /// tick's position in the file in a backtest); an intent carries the tag
    /// of the tick that caused it, and order ids derive from it.
    pub tag: u64,
}

/// One news frame as a strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewsEvent {
    /// The symbol's index in the configured list.
    pub symbol: SymbolIndex,
    /// Sentiment, 0 (bearish) to 100 (bullish).
    pub sentiment: u8,
}

/// A trading idea: inputs in, order intents out.
///
/// Implementations keep per-symbol state sized once at construction;
/// `symbol` values outside that size must yield `None`, never panic.
pub trait Strategy: Send {
    /// Feeds one tick; an intent means "trade this symbol now, at this tick's price".
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent>;

    /// Feeds one news frame; strategies that ignore news keep the default.
    /// An intent is filled at the symbol's latest tick price.
    fn on_news(&mut self, news: &NewsEvent) -> Option<OrderIntent> {
        let _ = news;
        None
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    #[inline]
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        (**self).on_tick(tick)
    }

    #[inline]
    fn on_news(&mut self, news: &NewsEvent) -> Option<OrderIntent> {
        (**self).on_news(news)
    }
}
