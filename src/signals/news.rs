//! News sentiment to a trading view, and [`NewsView`]: trading on news alone.

use super::{NewsEvent, OrderIntent, Strategy, TickEvent};
use crate::protocol::Side;
use crate::symbol::SymbolIndex;

/// BUY above `bullish_threshold`, SELL below `bearish_threshold`, else HOLD (`None`).
pub fn classify_sentiment(
    sentiment: u8,
    bullish_threshold: u8,
    bearish_threshold: u8,
) -> Option<Side> {
    if sentiment > bullish_threshold {
        Some(Side::Buy)
    } else if sentiment < bearish_threshold {
        Some(Side::Sell)
    } else {
        None
    }
}

/// Per-symbol state of [`NewsView`].
#[derive(Debug, Clone, Copy, Default)]
struct ViewState {
    /// The latest view (`None` = HOLD, also before any news).
    view: Option<Side>,
    /// Tag of the symbol's latest tick: a news order is priced there.
    last_tag: Option<u64>,
    /// The tick tag the last news order used: one order per tick, so the
    /// ids derived from tags never repeat.
    used_tag: Option<u64>,
}

/// Trades when a symbol's news view turns to BUY or SELL (a repeat of the
/// same view is no new information), at most once per tick and never before
/// the symbol's first tick (there is no price to trade at).
#[derive(Debug, Clone)]
pub struct NewsView {
    /// Indexed by symbol.
    symbols: Vec<ViewState>,
    /// Sentiment strictly above this is a BUY view.
    bullish: u8,
    /// Sentiment strictly below this is a SELL view.
    bearish: u8,
}

impl NewsView {
    /// A view for symbols `0..symbols` with these thresholds.
    pub fn new(symbols: usize, bullish: u8, bearish: u8) -> NewsView {
        NewsView {
            symbols: vec![ViewState::default(); symbols],
            bullish,
            bearish,
        }
    }
}

impl Strategy for NewsView {
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        if let Some(s) = self.symbols.get_mut(tick.symbol.get()) {
            s.last_tag = Some(tick.tag);
        }
        None
    }

    fn on_news(&mut self, news: &NewsEvent) -> Option<OrderIntent> {
        let s = self.symbols.get_mut(news.symbol.get())?;
        let view = classify_sentiment(news.sentiment, self.bullish, self.bearish);
        let previous = std::mem::replace(&mut s.view, view);
        let side = view.filter(|_| view != previous)?;
        let tag = s.last_tag.filter(|&t| s.used_tag != Some(t))?;
        s.used_tag = Some(tag);
        Some(OrderIntent {
            symbol: SymbolIndex::new(news.symbol.get()),
            side,
            tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_news_view_trades_changes_of_view_once_per_tick() {
        let mut v = NewsView::new(1, 70, 30);
        let news = |sentiment| NewsEvent {
            symbol: SymbolIndex(0),
            sentiment,
        };
        let tick = |tag| TickEvent {
            symbol: SymbolIndex(0),
            price_units: 1,
            event_ns: 0,
            tag,
        };
        assert_eq!(v.on_news(&news(90)), None, "no price yet");
        assert_eq!(v.on_tick(&tick(4)), None);
        assert_eq!(v.on_news(&news(95)), None, "still BUY: no change");
        assert_eq!(
            v.on_news(&news(10)).map(|i| (i.side, i.tag)),
            Some((Side::Sell, 4))
        );
        assert_eq!(v.on_news(&news(90)), None, "tick 4 already traded");
        assert_eq!(v.on_tick(&tick(5)), None);
        assert_eq!(v.on_news(&news(50)), None, "HOLD");
        assert_eq!(
            v.on_news(&news(80)).map(|i| (i.side, i.tag)),
            Some((Side::Buy, 5))
        );
        let other = NewsEvent {
            symbol: SymbolIndex(3),
            sentiment: 0,
        };
        assert_eq!(v.on_news(&other), None, "unknown symbol");
    }

    #[test]
    fn thresholds_are_strict() {
        assert_eq!(classify_sentiment(71, 70, 30), Some(Side::Buy));
        assert_eq!(classify_sentiment(70, 70, 30), None);
        assert_eq!(classify_sentiment(50, 70, 30), None);
        assert_eq!(classify_sentiment(30, 70, 30), None);
        assert_eq!(classify_sentiment(29, 70, 30), Some(Side::Sell));
        assert_eq!(classify_sentiment(0, 70, 30), Some(Side::Sell));
        assert_eq!(classify_sentiment(100, 70, 30), Some(Side::Buy));
    }
}
