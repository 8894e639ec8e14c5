//! Taking over the table of this run's previous orderbook, so a restart
//! loses and repeats no tick.
//!
//! When the supervisor restarts a dead orderbook, the ticks the old one
//! published are still in its ring, and a reader (the strategy) may not
//! have read them all. Replacing the table would drop those and make the
//! new orderbook start the feed again from frame 0. Instead the new writer
//! maps the same segment, checks it is the table the previous orderbook of
//! this run wrote (its recorded writer, pid **and** start time, is the one
//! the supervisor names, and that process is dead), makes itself the writer
//! and continues the ring at its head. Readers keep their mapping, cursor
//! and reader slot; they only see the writer's pid change.
//!
//! The feed position of the last tick (ring entry word 7, see the layout in
//! [`crate::shm`]) says where the gateway must resume: every frame up to it
//! is in the ring, nothing after it is. A table that is not the expected
//! one (another writer, other symbols or ring size, a live writer) is not
//! touched here: the caller creates a new table as on a first start.

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{fence, Ordering};

use memmap2::MmapOptions;

use super::error::ShmError;
use super::layout::*;
use super::reader::PriceTableReader;
use super::segment_path;
use super::sys::{self, ProcessIdentity};
use super::writer::PriceTable;

/// What [`PriceTable::take_over`] found.
#[derive(Debug)]
pub enum TakeOver {
    /// The previous writer's table, now ours.
    Taken {
        /// The table, continuing at its ring head.
        table: Box<PriceTable>,
        /// Frames of the feed behind the last tick in the ring: the
        /// `#RESUME` position.
        feed_position: u64,
        /// Symbol slots left half-written by the dead writer and restored
        /// from their last tick in the ring.
        repaired_slots: usize,
    },
    /// The table cannot be continued (missing, or not the previous
    /// writer's, or of another shape), for the reason given: create a new
    /// one.
    NotTaken(String),
}

impl PriceTable {
    /// Continues the table under `name` that `previous` wrote, if it is
    /// that writer's (pid and start time), `previous` is dead, and the table
    /// has exactly `symbols` and `ring_capacity`.
    ///
    /// Errors only for what creating a new table would hit too (a bad name,
    /// an unreadable or corrupt file); a table that merely is not the one
    /// expected is [`TakeOver::NotTaken`].
    pub fn take_over(
        name: &str,
        symbols: &[String],
        ring_capacity: usize,
        previous: ProcessIdentity,
    ) -> Result<TakeOver, ShmError> {
        let not = |why: String| Ok(TakeOver::NotTaken(why));
        let view = match previous_writers_view(name, symbols, ring_capacity, previous)? {
            Ok(view) => view,
            Err(why) => return not(why),
        };
        let io_err = |e| ShmError::io(name, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(name))
            .map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if (meta.dev(), meta.ino()) != view.file_id {
            return not("the name was re-created while we looked".into());
        }
        let map = MmapOptions::new()
            .len(view.layout.total_size)
            .map_raw(&file)
            .map_err(io_err)?;
        let region = Region::new(map);
        // Claim the writer word: pid `previous` (high half zero) to ours.
        // Another process taking over at the same time makes this fail.
        let me = ProcessIdentity::current();
        let claimed = region.line(0)[OFF_WRITER_PID / 8].compare_exchange(
            u64::from(previous.pid),
            u64::from(me.pid),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if claimed.is_err() {
            return not("another process took the table over first".into());
        }
        region.line(LINE_STATUS)[(OFF_WRITER_START - LINE_STATUS) / 8]
            .store(me.start_time, Ordering::Release);
        let head = region.line(LINE_HEAD)[0].load(Ordering::Acquire);
        let mut table = PriceTable::continuing(
            name,
            symbols,
            view.layout,
            region,
            view.generation,
            head,
            view.file_id,
        )?;
        table.heartbeat(crate::clock::unix_now_ns());
        let repaired_slots = table.repair_torn_slots();
        let feed_position = table.last_feed_position();
        table.set_feed_position(feed_position);
        Ok(TakeOver::Taken {
            table: Box::new(table),
            feed_position,
            repaired_slots,
        })
    }

    /// The feed position stored with the last tick in the ring (0 for an
    /// empty ring: the feed starts at its beginning).
    fn last_feed_position(&self) -> u64 {
        let Some(last) = self.next_tick.checked_sub(1) else {
            return 0;
        };
        let e = self.ring_entry(last);
        // Complete, and still tick `last` (the dead writer stamps an entry
        // before it moves the head, so the last entry below it is whole).
        if e[0].load(Ordering::Acquire) == 2 * last + 2 {
            e[7].load(Ordering::Acquire)
        } else {
            0
        }
    }

    /// Slots whose seqlock is odd were being written when the writer died;
    /// readers would retry them for ever. Each is rewritten from the last
    /// tick of its symbol still in the ring (the slot's update always comes
    /// with a ring entry), or, with none there, closed as it is.
    fn repair_torn_slots(&mut self) -> usize {
        let mut repaired = 0;
        for idx in 0..self.layout.symbols {
            let s = self.slot(idx);
            let seq = s[0].load(Ordering::Acquire);
            if seq.is_multiple_of(2) {
                continue;
            }
            if let Some([price, event, send, write]) = self.last_tick_of(idx) {
                let s = self.slot(idx);
                s[1].store(price, Ordering::Relaxed);
                s[2].store(event, Ordering::Relaxed);
                s[3].store(write, Ordering::Relaxed);
                s[4].store(send, Ordering::Relaxed);
                fence(Ordering::Release);
            }
            self.slot(idx)[0].store(seq + 1, Ordering::Release);
            repaired += 1;
        }
        repaired
    }

    /// Price, event, send and write time of the newest complete ring entry
    /// for symbol `idx`, searching back at most one ring.
    fn last_tick_of(&self, idx: usize) -> Option<[u64; 4]> {
        let oldest = self.next_tick.saturating_sub(self.layout.capacity as u64);
        (oldest..self.next_tick).rev().find_map(|n| {
            let e = self.ring_entry(n);
            let whole = e[0].load(Ordering::Acquire) == 2 * n + 2;
            (whole && e[2].load(Ordering::Relaxed) == idx as u64)
                .then(|| [3, 4, 5, 6].map(|w| e[w].load(Ordering::Relaxed)))
        })
    }
}

/// A read-only view of the table under `name` if it is the one `previous`
/// wrote, is of the configured shape, and `previous` is dead; otherwise
/// why not (`Ok(Err(..))`). Errors as [`PriceTable::take_over`] does.
fn previous_writers_view(
    name: &str,
    symbols: &[String],
    ring_capacity: usize,
    previous: ProcessIdentity,
) -> Result<Result<PriceTableReader, String>, ShmError> {
    let view = match PriceTableReader::attach_expecting(name, symbols) {
        Ok(v) => v,
        Err(ShmError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("no table under the name".into()))
        }
        Err(e @ (ShmError::SymbolMismatch { .. } | ShmError::VersionMismatch { .. })) => {
            return Ok(Err(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    if view.layout.capacity != ring_capacity {
        return Ok(Err(format!(
            "its ring has {} entries, {ring_capacity} are configured",
            view.layout.capacity
        )));
    }
    let writer = view.writer();
    if writer != previous {
        return Ok(Err(format!(
            "its writer is pid {} (start time {}), not the previous orderbook",
            writer.pid, writer.start_time
        )));
    }
    if sys::process_alive(previous) {
        return Ok(Err(format!(
            "its writer, pid {}, is still alive",
            previous.pid
        )));
    }
    Ok(Ok(view))
}
