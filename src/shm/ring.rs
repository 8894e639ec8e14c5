//! The tick ring: every published tick in order, for readers that must see
//! all of them (the strategy's moving averages), not just the latest price.
//!
//! One writer, any number of readers, each with its own [`RingCursor`]. A
//! reader registered in the table's reader-cursor area (`cursors`) is never
//! overwritten: the writer waits for it instead. When the ring is full for
//! no registered reader the writer overwrites the oldest entry, and an
//! unregistered reader that fell behind is told exactly how many ticks it
//! lost.

use crate::symbol::SymbolIndex;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use super::layout::{load_acquire, LINE_HEAD, RING_ENTRY_SIZE};
use super::reader::PriceTableReader;
use super::sys;

/// A reader's position in the ring: the sequence number of the next tick it
/// wants. Each consumer keeps its own; cursors are plain values, equal when
/// they want the same tick.
#[derive(Debug, Clone, Copy)]
pub struct RingCursor {
    next_seq: u64,
    /// The writer's head as this cursor last loaded it: every tick below it
    /// was published, so draining up to it needs no load of the head line.
    /// The head line is stored by the writer on every tick; loading it per
    /// tick pulled that cache line across cores each time (in a profile of
    /// a full-speed drain, over half of `ring_next`). Only a lower bound:
    /// an entry overwritten meanwhile is still caught by its stamp.
    known_head: u64,
}

impl PartialEq for RingCursor {
    fn eq(&self, other: &RingCursor) -> bool {
        self.next_seq == other.next_seq
    }
}

impl Eq for RingCursor {}

impl RingCursor {
    /// A cursor at tick `seq`: for a consumer resuming where it stopped in the
    /// same generation (a position already overwritten reports `Lost`).
    pub fn at(seq: u64) -> RingCursor {
        RingCursor {
            next_seq: seq,
            known_head: 0,
        }
    }

    /// The sequence number of the next tick this cursor will return, which is
    /// also the number of ticks it has consumed or skipped.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// One published tick, as the writer passed it to `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Position in the table's tick stream, from 0 without gaps.
    pub seq: u64,
    /// The slot (symbol) the tick updated.
    pub symbol: SymbolIndex,
    /// The price in 1e-8 units.
    pub price_units: i64,
    /// When the price happened, ns since the epoch.
    pub event_ns: i64,
    /// When the gateway sent it; 0 if unknown.
    pub send_ns: i64,
    /// When the orderbook published it.
    pub write_ns: i64,
}

/// The outcome of one [`PriceTableReader::ring_next`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingRead {
    /// The next tick in order; the cursor moved past it.
    Tick(Tick),
    /// This many ticks were overwritten before the reader got to them; the
    /// cursor moved to the oldest tick still available. The count is exact.
    Lost(u64),
    /// No new tick yet: the normal state of a reader that keeps up.
    Empty,
}

impl PriceTableReader {
    /// A cursor at the oldest tick still in the ring: a late reader sees the
    /// whole history if the ring has not wrapped yet.
    pub fn cursor_from_oldest(&self) -> RingCursor {
        let head = self.ticks_written();
        RingCursor::at(head.saturating_sub(self.layout.capacity as u64))
    }

    /// A cursor at the next tick to be published: only future ticks.
    pub fn cursor_from_now(&self) -> RingCursor {
        RingCursor::at(self.ticks_written())
    }

    /// The next tick for `cursor`, a loss report, or `Empty`. Never blocks.
    /// Loads the writer's head only once the cursor has caught up with the
    /// head it last saw.
    #[inline]
    pub fn ring_next(&self, cursor: &mut RingCursor) -> RingRead {
        if cursor.next_seq >= cursor.known_head {
            cursor.known_head = self.ticks_written();
        }
        self.ring_step(cursor, cursor.known_head)
    }

    /// `ring_next` against a head value loaded by the caller; separate so
    /// tests can reproduce a head that is already out of date.
    pub(super) fn ring_step(&self, cursor: &mut RingCursor, head: u64) -> RingRead {
        let c = cursor.next_seq;
        let cap = self.layout.capacity as u64;
        if c >= head {
            return RingRead::Empty;
        }
        if head - c > cap {
            return skip_to(cursor, head - cap);
        }
        let offset = self.layout.ring_offset + ((c & (cap - 1)) as usize) * RING_ENTRY_SIZE;
        let e = self.region.line(offset);
        let want = 2 * c + 2;
        let before = load_acquire(&e[0]);
        if before == want {
            let tick = Tick {
                seq: e[1].load(Ordering::Relaxed),
                symbol: SymbolIndex(e[2].load(Ordering::Relaxed) as u32),
                price_units: e[3].load(Ordering::Relaxed) as i64,
                event_ns: e[4].load(Ordering::Relaxed) as i64,
                send_ns: e[5].load(Ordering::Relaxed) as i64,
                write_ns: e[6].load(Ordering::Relaxed) as i64,
            };
            fence(Ordering::Acquire);
            if e[0].load(Ordering::Relaxed) == want {
                cursor.next_seq = c + 1;
                return RingRead::Tick(tick);
            }
        } else if before < want {
            // Cannot happen while `head` was read from the writer (the stamp
            // is stored before the head); report nothing rather than guess.
            return RingRead::Empty;
        }
        // The entry now holds (or is receiving) a later tick `w` >= c + cap.
        // Every tick before w + 1 - cap has been overwritten, and so has every
        // tick before the current head - cap; skip exactly those.
        let stamp = e[0].load(Ordering::Relaxed);
        let w = stamp.saturating_sub(1) / 2;
        let oldest = (w + 1)
            .saturating_sub(cap)
            .max(self.ticks_written().saturating_sub(cap))
            .max(c + 1);
        skip_to(cursor, oldest)
    }

    /// Sleeps until a tick at or after `cursor` is available or `timeout`
    /// passes; returns whether one is available. Cheap when ticks are
    /// already there (no system call).
    pub fn wait_for_ticks(&self, cursor: &RingCursor, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let futex = self.region.futex();
        let head = &self.region.line(LINE_HEAD)[0];
        loop {
            // Word first, then the condition: a publish after this load bumps
            // the word, so the futex call returns at once instead of sleeping
            // through the wake-up.
            let word = futex.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if load_acquire(head) > cursor.next_seq {
                return true;
            }
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if remaining.is_zero() {
                return false;
            }
            sys::futex_wait(futex, word, remaining);
        }
    }
}

/// Moves `cursor` forward to `to` and reports the exact number skipped.
fn skip_to(cursor: &mut RingCursor, to: u64) -> RingRead {
    let lost = to - cursor.next_seq;
    cursor.next_seq = to;
    RingRead::Lost(lost)
}
