//! Combining price signals with news into orders.
//!
//! A crossover becomes its symbol's pending price signal, replacing any
//! earlier one. An order is emitted when the symbol's latest news view agrees
//! with the pending signal: at the crossover itself, or when a later news
//! frame agrees before the next crossover replaces it. Each price signal
//! yields at most one order (the original re-sent the same order on every
//! agreeing news frame). Without news, every crossover is an order at once.

use crate::protocol::Side;
use crate::symbol::SymbolIndex;

/// A decision to send an order; the caller adds price, quantity and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderIntent {
    /// Which symbol.
    pub symbol: SymbolIndex,
    /// Direction of the price signal.
    pub side: Side,
    /// The caller's tag of the crossover tick (the ring sequence number), so
    /// an order's id is derived from the signal, not from when it was sent.
    pub tag: u64,
}

impl OrderIntent {
    /// An order on `tick`'s symbol, tagged with `tick`: what a strategy
    /// deciding on a tick returns.
    #[inline]
    pub fn on_tick(tick: &super::TickEvent, side: Side) -> OrderIntent {
        OrderIntent {
            symbol: tick.symbol,
            side,
            tag: tick.tag,
        }
    }
}

/// Per-symbol state of the combination.
#[derive(Debug, Clone, Copy, Default)]
struct SymbolState {
    /// The latest crossover not yet turned into an order, with its tag.
    pending: Option<(Side, u64)>,
    /// The latest news view (`None` = HOLD, also before any news).
    news: Option<Side>,
}

/// Combines crossovers and news views for a fixed number of symbols.
#[derive(Debug, Clone)]
pub struct Combiner {
    /// Indexed by symbol.
    symbols: Vec<SymbolState>,
    /// false: crossovers become orders at once.
    use_news: bool,
}

impl Combiner {
    /// A combiner for symbols `0..symbols`.
    pub fn new(symbols: usize, use_news: bool) -> Combiner {
        Combiner {
            symbols: vec![SymbolState::default(); symbols],
            use_news,
        }
    }

    /// A crossover of `side` on `symbol` at the tick tagged `tag`.
    pub fn on_crossover(
        &mut self,
        symbol: SymbolIndex,
        side: Side,
        tag: u64,
    ) -> Option<OrderIntent> {
        let s = self.symbols.get_mut(symbol.get())?;
        if !self.use_news || s.news == Some(side) {
            s.pending = None;
            return Some(OrderIntent { symbol, side, tag });
        }
        s.pending = Some((side, tag));
        None
    }

    /// A news view on `symbol` (`None` = HOLD).
    pub fn on_news(&mut self, symbol: SymbolIndex, view: Option<Side>) -> Option<OrderIntent> {
        if !self.use_news {
            return None;
        }
        let s = self.symbols.get_mut(symbol.get())?;
        s.news = view;
        match s.pending {
            Some((side, tag)) if view == Some(side) => {
                s.pending = None;
                Some(OrderIntent { symbol, side, tag })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Buy, Sell};

    fn intent(side: Side, tag: u64) -> Option<OrderIntent> {
        Some(OrderIntent {
            symbol: SymbolIndex(0),
            side,
            tag,
        })
    }

    #[test]
    fn news_already_agreeing_fires_at_the_crossover() {
        let mut c = Combiner::new(1, true);
        assert_eq!(c.on_news(SymbolIndex(0), Some(Buy)), None);
        assert_eq!(c.on_crossover(SymbolIndex(0), Buy, 7), intent(Buy, 7));
        assert_eq!(
            c.on_news(SymbolIndex(0), Some(Buy)),
            None,
            "the signal is used up"
        );
    }

    #[test]
    fn later_agreeing_news_fires_once() {
        let mut c = Combiner::new(1, true);
        assert_eq!(c.on_crossover(SymbolIndex(0), Sell, 3), None);
        assert_eq!(c.on_news(SymbolIndex(0), Some(Buy)), None, "disagrees");
        assert_eq!(c.on_news(SymbolIndex(0), None), None, "HOLD");
        assert_eq!(c.on_news(SymbolIndex(0), Some(Sell)), intent(Sell, 3));
        assert_eq!(c.on_news(SymbolIndex(0), Some(Sell)), None);
        assert_eq!(c.on_news(SymbolIndex(0), Some(Sell)), None);
    }

    #[test]
    fn a_new_crossover_replaces_the_pending_one() {
        let mut c = Combiner::new(1, true);
        assert_eq!(c.on_crossover(SymbolIndex(0), Buy, 1), None);
        assert_eq!(c.on_crossover(SymbolIndex(0), Sell, 2), None);
        assert_eq!(
            c.on_news(SymbolIndex(0), Some(Buy)),
            None,
            "the BUY signal was replaced"
        );
        assert_eq!(c.on_news(SymbolIndex(0), Some(Sell)), intent(Sell, 2));
    }

    #[test]
    fn hold_news_clears_an_earlier_agreeing_view() {
        let mut c = Combiner::new(1, true);
        c.on_news(SymbolIndex(0), Some(Buy));
        c.on_news(SymbolIndex(0), None);
        assert_eq!(c.on_crossover(SymbolIndex(0), Buy, 5), None);
        assert_eq!(c.on_news(SymbolIndex(0), Some(Buy)), intent(Buy, 5));
    }

    #[test]
    fn symbols_are_independent() {
        let mut c = Combiner::new(2, true);
        c.on_crossover(SymbolIndex(0), Buy, 1);
        assert_eq!(c.on_news(SymbolIndex(1), Some(Buy)), None);
        assert_eq!(c.on_news(SymbolIndex(0), Some(Buy)), intent(Buy, 1));
    }

    #[test]
    fn without_news_every_crossover_is_an_order() {
        let mut c = Combiner::new(1, false);
        assert_eq!(c.on_crossover(SymbolIndex(0), Buy, 1), intent(Buy, 1));
        assert_eq!(c.on_news(SymbolIndex(0), Some(Sell)), None);
        assert_eq!(c.on_crossover(SymbolIndex(0), Sell, 2), intent(Sell, 2));
    }
}
