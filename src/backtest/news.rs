//! The news a finite live replay gets, for a backtest of the same CSV.
//!
//! A live finite replay paces its news by its ticks (see
//! [`TickPacedNews`]): item k, the k-th draw from `gateway.news_seed`, just
//! before tick k × `gateway.news_every_ticks`. A backtest draws the very
//! same items from the very same generator and parses them with the live
//! parsers, so with `use_news = true` it trades as the live replay does.

use crate::config::Config;
use crate::gateway::{FrameSource, NewsSource, TickPacedNews};
use crate::protocol::{is_feed_control, parse_feed_control, parse_news, FeedControl};
use crate::signals::NewsEvent;
use crate::symbol::SymbolIndex;

/// The replay's news items, each with the tick it comes before.
pub struct ReplayNews {
    source: TickPacedNews,
    symbols: Vec<String>,
    /// The next item and its tick; `None` once the stream ended.
    next: Option<(u64, NewsEvent)>,
    frames: Vec<u8>,
}

impl ReplayNews {
    /// The news of a `ticks`-tick replay under `cfg`, or `None` when the
    /// strategy takes no news or news is paced by the clock
    /// (`news_every_ticks = 0`), which no backtest can reproduce.
    pub fn for_replay(cfg: &Config, ticks: u64) -> Option<ReplayNews> {
        let g = &cfg.gateway;
        if !cfg.strategy.use_news || g.news_every_ticks == 0 {
            return None;
        }
        let news = NewsSource::new(&cfg.symbols, g.news_seed);
        let mut replay = ReplayNews {
            source: TickPacedNews::new(news, g.news_every_ticks, ticks),
            symbols: cfg.symbols.clone(),
            next: None,
            frames: Vec::new(),
        };
        replay.advance();
        Some(replay)
    }

    /// The next item due at or before tick `tick`, if any: call until `None`
    /// before feeding the tick.
    pub fn due(&mut self, tick: u64) -> Option<NewsEvent> {
        match self.next {
            Some((at, news)) if at <= tick => {
                self.advance();
                Some(news)
            }
            _ => None,
        }
    }

    /// Reads the generator's next `#TICK,N*` and item (or its `#END`).
    fn advance(&mut self) {
        self.next = None;
        self.frames.clear();
        if !self.source.next_frame(&mut self.frames) {
            return;
        }
        let mut at = None;
        for frame in self.frames.split(|&b| b == b'*').filter(|f| !f.is_empty()) {
            if is_feed_control(frame) {
                if let Ok(FeedControl::Tick(n)) = parse_feed_control(frame) {
                    at = Some(n);
                }
            } else if let (Some(n), Ok(news)) = (at, parse_news(frame)) {
                if let Some(i) = self.symbols.iter().position(|s| s == news.symbol) {
                    self.next = Some((
                        n,
                        NewsEvent {
                            symbol: SymbolIndex::new(i),
                            sentiment: news.sentiment,
                        },
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_at_their_ticks_and_stop_before_the_last_tick() {
        let mut cfg = Config::load_with_env(None, Some(Default::default())).unwrap();
        cfg.gateway.news_every_ticks = 4;
        let mut news = ReplayNews::for_replay(&cfg, 10).unwrap();
        let at: Vec<u64> = (0..10).filter(|&t| news.due(t).is_some()).collect();
        assert_eq!(
            at,
            [4, 8],
            "one item before ticks 4 and 8, none at or past 10"
        );
        cfg.strategy.use_news = false;
        assert!(ReplayNews::for_replay(&cfg, 10).is_none());
    }
}
