//! [`FeedPosition`]: how many market data frames of the feed the orderbook
//! has, across connections, and what the gateway's control frames say
//! about that (see [`crate::protocol::feed_control`]).
//!
//! The count is what the orderbook asks a (re)started gateway to resume
//! from (`#RESUME,N`), what each connection's `#AT,M` is checked against,
//! and what a finite feed's `#END,T` must equal before the table may say
//! "feed ended": only the feed's real end, with nothing missing, ends a
//! finite run. Every data frame counts, malformed or for an unknown symbol
//! too: the count is a position in the gateway's source, not a tick count.

use crate::protocol::FeedControl;

/// The orderbook's place in the gateway's stream of market data frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPosition {
    /// Frames of the feed received and handled, across connections.
    received: u64,
    /// Frames still to come on this connection that were already received
    /// on an earlier one (a gateway that started behind us).
    duplicates_ahead: u64,
}

/// What a control frame means for the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `#AT` where we are: nothing missing, nothing repeated.
    InStep,
    /// `#AT` behind us: this many frames will repeat and are skipped.
    Repeats(u64),
    /// `#AT` ahead of us: frames `from..to` of the feed will never come.
    Gap {
        /// First missing frame (what we had).
        from: u64,
        /// First frame this connection brings.
        to: u64,
    },
    /// `#END` with the count we have: the finite feed is complete.
    Complete,
    /// `#END` with another count: the feed ended, but not as we have it.
    EndMismatch {
        /// Frames the gateway says the feed had.
        total: u64,
        /// Frames we received.
        received: u64,
    },
    /// A frame that has no business on this stream (`#RESUME` from the gateway).
    Unexpected,
}

impl FeedPosition {
    /// The position of a writer that continues a table already holding
    /// `frames` frames of the feed (see [`crate::shm::PriceTable::take_over`]).
    pub fn resumed_at(frames: u64) -> FeedPosition {
        FeedPosition {
            received: frames,
            duplicates_ahead: 0,
        }
    }

    /// Frames received so far: the `N` of the next `#RESUME,N`.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// A new connection: whatever the last one had announced no longer applies.
    pub fn connected(&mut self) {
        self.duplicates_ahead = 0;
    }

    /// A data frame arrived: `true` if it is new (handle it), `false` if it
    /// repeats one already received (skip it).
    pub fn data_frame(&mut self) -> bool {
        if self.duplicates_ahead > 0 {
            self.duplicates_ahead -= 1;
            false
        } else {
            self.received += 1;
            true
        }
    }

    /// A control frame arrived. After a [`Verdict::Gap`] the position jumps
    /// to the connection's, so a live feed goes on counting from there.
    pub fn control(&mut self, c: FeedControl) -> Verdict {
        match c {
            FeedControl::At(m) if m == self.received => Verdict::InStep,
            FeedControl::At(m) if m < self.received => {
                self.duplicates_ahead = self.received - m;
                Verdict::Repeats(self.duplicates_ahead)
            }
            FeedControl::At(m) => {
                let from = self.received;
                self.received = m;
                Verdict::Gap { from, to: m }
            }
            FeedControl::End(total) if total == self.received => Verdict::Complete,
            FeedControl::End(total) => Verdict::EndMismatch {
                total,
                received: self.received,
            },
            FeedControl::Resume(_) | FeedControl::Tick(_) => Verdict::Unexpected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(frames: u64) -> FeedPosition {
        let mut p = FeedPosition::default();
        for _ in 0..frames {
            assert!(p.data_frame());
        }
        p
    }

    #[test]
    fn in_step_then_complete() {
        let mut p = after(0);
        assert_eq!(p.control(FeedControl::At(0)), Verdict::InStep);
        let mut p2 = after(5);
        assert_eq!(p2.control(FeedControl::At(5)), Verdict::InStep);
        assert_eq!(p2.control(FeedControl::End(5)), Verdict::Complete);
        assert!(p.data_frame());
        assert_eq!(p.received(), 1);
    }

    #[test]
    fn a_gateway_behind_us_repeats_frames_that_are_skipped_exactly() {
        let mut p = after(10);
        p.connected();
        assert_eq!(p.control(FeedControl::At(7)), Verdict::Repeats(3));
        let handled: Vec<bool> = (0..5).map(|_| p.data_frame()).collect();
        assert_eq!(handled, [false, false, false, true, true]);
        assert_eq!(p.received(), 12);
        assert_eq!(p.control(FeedControl::End(12)), Verdict::Complete);
    }

    #[test]
    fn a_reconnect_forgets_the_repeats_the_last_connection_announced() {
        let mut p = after(10);
        assert_eq!(p.control(FeedControl::At(8)), Verdict::Repeats(2));
        p.connected();
        assert_eq!(p.control(FeedControl::At(10)), Verdict::InStep);
        assert!(p.data_frame());
    }

    #[test]
    fn a_gateway_ahead_of_us_is_a_gap_and_the_count_follows_it() {
        let mut p = after(4);
        assert_eq!(
            p.control(FeedControl::At(9)),
            Verdict::Gap { from: 4, to: 9 }
        );
        assert_eq!(p.received(), 9);
    }

    #[test]
    fn an_end_that_disagrees_or_a_resume_from_the_gateway_is_flagged() {
        let mut p = after(3);
        assert_eq!(
            p.control(FeedControl::End(4)),
            Verdict::EndMismatch {
                total: 4,
                received: 3
            }
        );
        assert_eq!(p.control(FeedControl::Resume(3)), Verdict::Unexpected);
    }
}
