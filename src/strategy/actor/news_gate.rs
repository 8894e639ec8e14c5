//! News in the replay's time: where each news item meets the ticks.
//!
//! A clock-paced news stream (a looping run, the original gateway) is
//! applied as it arrives. A finite replay's news is tagged by the gateway
//! with the tick it belongs before (`#TICK,N*` then the item; `#END,K*`
//! after the last), and the strategy applies each item when its ring cursor
//! reaches tick `N`. It reads a tick only when it knows every item due
//! before it has arrived: tick `N` waits until the stream has moved past
//! `N` (the next `#TICK`) or ended. So the order of ticks and news is the
//! replay's, not the network's, and a replay trades the same every time.
//!
//! Until the first news frame says which kind of stream this is, ticks wait
//! (at most [`NewsGate::UNKNOWN_FOR_AT_MOST`]; the ring holds the feed back
//! meanwhile, so nothing is lost).

use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::FeedControl;
use crate::symbol::SymbolIndex;

/// One news item waiting for its tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DueNews {
    /// The tick it belongs before.
    pub tick: u64,
    /// Its symbol.
    pub symbol: SymbolIndex,
    /// Its sentiment, 0-100.
    pub sentiment: u8,
}

/// Which kind of news stream feeds the strategy, and what it holds back.
#[derive(Debug)]
pub(super) enum NewsGate {
    /// No news expected, or clock-paced news: applied on arrival; ticks flow.
    Open,
    /// News expected, its kind not known yet: ticks wait.
    Unknown,
    /// Tick-tagged news of a finite replay.
    Tagged {
        /// Items received, in tick order, not yet applied.
        pending: VecDeque<DueNews>,
        /// Every item due before this tick has arrived.
        known_before: u64,
        /// The tag of the `#TICK` whose item is the next news frame.
        tag: Option<u64>,
        /// `#END` arrived: no more items, every tick may be read.
        ended: bool,
    },
}

/// What to do with a news frame that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnArrival {
    /// Apply it now (clock-paced news).
    ApplyNow,
    /// Kept for its tick.
    Queued,
    /// Its tick was already read (a restarted gateway's stream starting
    /// over): dropped, counted.
    Late,
}

impl NewsGate {
    /// How long ticks wait for the news stream to say what it is.
    pub const UNKNOWN_FOR_AT_MOST: Duration = Duration::from_secs(2);

    /// The gate of a strategy that uses news (`Unknown`) or not (`Open`).
    pub fn new(use_news: bool) -> NewsGate {
        if use_news {
            NewsGate::Unknown
        } else {
            NewsGate::Open
        }
    }

    /// Whether tick `seq` may be read now.
    #[inline]
    pub fn may_read(&self, seq: u64) -> bool {
        match self {
            NewsGate::Open => true,
            NewsGate::Unknown => false,
            NewsGate::Tagged {
                known_before,
                ended,
                ..
            } => *ended || seq < *known_before,
        }
    }

    /// The next item due before tick `seq`, if any: apply them all, in
    /// order, before reading the tick.
    #[inline]
    pub fn due(&mut self, seq: u64) -> Option<DueNews> {
        match self {
            NewsGate::Tagged { pending, .. } if pending.front().is_some_and(|n| n.tick <= seq) => {
                pending.pop_front()
            }
            _ => None,
        }
    }

    /// A control frame of the news stream; true when ticks may now move on.
    pub fn control(&mut self, c: FeedControl) -> bool {
        if matches!(self, NewsGate::Unknown | NewsGate::Open)
            && matches!(c, FeedControl::Tick(_) | FeedControl::End(_))
        {
            *self = NewsGate::Tagged {
                pending: VecDeque::new(),
                known_before: 0,
                tag: None,
                ended: false,
            };
        }
        let NewsGate::Tagged {
            known_before,
            tag,
            ended,
            ..
        } = self
        else {
            return false;
        };
        match c {
            FeedControl::Tick(n) => {
                *known_before = (*known_before).max(n);
                *tag = Some(n);
            }
            FeedControl::End(_) => *ended = true,
            FeedControl::At(_) | FeedControl::Resume(_) => return false,
        }
        true
    }

    /// A news item arrived; `read_up_to` is the next tick the strategy
    /// would read. Returns what to do with it and whether ticks may now
    /// move on.
    pub fn arrived(
        &mut self,
        symbol: SymbolIndex,
        sentiment: u8,
        read_up_to: u64,
    ) -> (OnArrival, bool) {
        match self {
            NewsGate::Open => (OnArrival::ApplyNow, false),
            NewsGate::Unknown => {
                *self = NewsGate::Open;
                (OnArrival::ApplyNow, true)
            }
            NewsGate::Tagged { pending, tag, .. } => match tag.take() {
                Some(tick) if tick >= read_up_to => {
                    pending.push_back(DueNews {
                        tick,
                        symbol,
                        sentiment,
                    });
                    (OnArrival::Queued, false)
                }
                Some(_) => (OnArrival::Late, false),
                // An untagged item in a tagged stream: now, like the original.
                None => (OnArrival::ApplyNow, false),
            },
        }
    }

    /// The stream did not say what it is in time: clock-paced from here on.
    /// True when that opened the gate.
    pub fn give_up_waiting(&mut self) -> bool {
        if matches!(self, NewsGate::Unknown) {
            *self = NewsGate::Open;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAPL: SymbolIndex = SymbolIndex(0);

    #[test]
    fn without_news_ticks_flow_and_clock_paced_news_opens_the_gate() {
        let gate = NewsGate::new(false);
        assert!(gate.may_read(0));
        let mut gate = NewsGate::new(true);
        assert!(!gate.may_read(0), "ticks wait to learn the stream's kind");
        assert_eq!(gate.arrived(AAPL, 70, 0), (OnArrival::ApplyNow, true));
        assert!(gate.may_read(1_000_000));
        let mut gate = NewsGate::new(true);
        assert!(gate.give_up_waiting());
        assert!(gate.may_read(5) && !gate.give_up_waiting());
    }

    #[test]
    fn tagged_news_is_applied_before_its_tick_and_ticks_wait_for_the_stream() {
        let mut gate = NewsGate::new(true);
        assert!(gate.control(FeedControl::Tick(4)));
        assert!(
            gate.may_read(3) && !gate.may_read(4),
            "item 4 may still be on its way"
        );
        assert_eq!(gate.arrived(AAPL, 80, 0), (OnArrival::Queued, false));
        assert!(
            !gate.may_read(4),
            "only the next #TICK says nothing else is due before 4"
        );
        assert_eq!(gate.due(3), None);
        let item = DueNews {
            tick: 4,
            symbol: AAPL,
            sentiment: 80,
        };
        assert!(gate.control(FeedControl::Tick(8)));
        assert_eq!(gate.arrived(AAPL, 10, 0).0, OnArrival::Queued);
        assert_eq!(gate.due(4), Some(item));
        assert_eq!(gate.due(4), None);
        assert!(gate.may_read(7) && !gate.may_read(8));
        assert!(gate.control(FeedControl::End(2)));
        assert!(gate.may_read(u64::MAX));
        assert_eq!(gate.due(100).map(|n| n.sentiment), Some(10));
    }

    #[test]
    fn an_item_whose_tick_was_already_read_is_late() {
        let mut gate = NewsGate::new(true);
        gate.control(FeedControl::Tick(4));
        assert_eq!(gate.arrived(AAPL, 50, 9), (OnArrival::Late, false));
    }
}
