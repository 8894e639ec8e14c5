//! The reader-cursor area: how ring readers tell the writer how far they
//! have read, so the ring is lossless by design.
//!
//! A reader that needs every tick registers in one of [`READER_SLOTS`]
//! slots with its process identity (pid and start time) and publishes its
//! cursor there once per batch it consumes ([`RingRegistration::publish`]).
//! The writer never overwrites an entry a live registered reader has not
//! read: [`PriceTable::make_room`] says when publishing must wait. A reader
//! that wants only the latest prices (the slots) does not register and
//! never holds the writer back.
//!
//! The writer keeps a cached bound, `allowed_until` = (slowest live cursor
//! at its last scan) + capacity: ticks below it can be published with one
//! compare. Only publishing at the bound rescans the slots; a slot whose
//! cursor holds the writer back is then checked for liveness, and a dead
//! reader's slot is reclaimed, so a crashed reader stops holding the writer
//! back. A reader that registers in the middle of a run is guaranteed every
//! tick from the head it saw when registering
//! ([`RingRegistration::guaranteed_from`]); older ticks still in the ring
//! are read if not yet overwritten, and any loss among them is reported
//! exactly ([`RingRead::Lost`](super::RingRead::Lost)).
//!
//! Slot words (64 bytes, at `READERS + 64·i`): 0 the owner, `pid` in the
//! low 32 bits (0 = free) and a claim count in the high 32 bits (so a
//! reclaim can never free a later claim of the same slot); 1 the owner's
//! start time (0 while unknown: the pid alone is then compared); 2 the
//! owner's cursor, the sequence number of the next tick it will read; 3
//! the token of the owner's doorbell and 4 its "armed" flag (see
//! `doorbell`). Release zeroes words 1 to 4 before freeing word 0.

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use memmap2::MmapOptions;

use super::doorbell::{WORD_ARMED, WORD_TOKEN};
use super::error::ShmError;
use super::layout::*;
use super::reader::PriceTableReader;
use super::ring::RingCursor;
use super::segment_path;
use super::sys::{self, ProcessIdentity};
use super::writer::PriceTable;

/// Owner-word bits that hold the pid; the rest count claims.
const PID_MASK: u64 = 0xffff_ffff;

/// Publishing the next tick would overwrite one that a live registered
/// reader has not read yet: the writer must wait (and stop reading its
/// feed) until that reader moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tick ring is full: reader pid {reader_pid} is {behind} ticks behind")]
pub struct RingFull {
    /// The slowest live reader, the one holding the writer back, for the
    /// log line an operator reads.
    pub reader_pid: u32,
    /// How many ticks it has not read yet (the ring's capacity or more).
    pub behind: u64,
}

/// What the writer knows about its registered readers, for its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderScanCounts {
    /// Scans of the slots (publishing reached the cached bound).
    pub rescans: u64,
    /// Slots of dead readers the writer freed.
    pub reclaimed: u64,
}

/// One live slot as a scan saw it.
struct Held {
    /// Its owner's pid.
    pid: u32,
    /// Its owner's cursor.
    cursor: u64,
}

impl PriceTable {
    /// Ok when the next tick can be published without overwriting an entry
    /// a live registered reader has not read; otherwise [`RingFull`] names
    /// the slowest reader, and the caller waits and asks again.
    ///
    /// One compare while under the cached bound; at the bound it rescans
    /// the reader slots (reclaiming dead readers' slots) and moves the bound.
    #[inline]
    pub fn make_room(&mut self) -> Result<(), RingFull> {
        if self.next_tick < self.allowed_until {
            return Ok(());
        }
        self.rescan()
    }

    /// Rescans the slots and moves the cached bound; see [`make_room`].
    ///
    /// [`make_room`]: PriceTable::make_room
    #[cold]
    fn rescan(&mut self) -> Result<(), RingFull> {
        self.reader_counts.rescans += 1;
        let n = self.next_tick;
        let cap = self.layout.capacity as u64;
        // Pairs with the fence a registering reader puts between storing
        // its slot and reading the head: either this scan sees the slot, or
        // that reader saw a head at least `n`, which is where its guarantee
        // starts, and every entry from `n` on is still ahead of the writer.
        fence(Ordering::SeqCst);
        let mut slowest: Option<Held> = None;
        for i in 0..READER_SLOTS {
            let Some(held) = self.check_slot(i, n) else {
                continue;
            };
            if slowest.as_ref().is_none_or(|s| held.cursor < s.cursor) {
                slowest = Some(held);
            }
        }
        let min = slowest.as_ref().map_or(n, |s| s.cursor.min(n));
        self.allowed_until = min.saturating_add(cap);
        match slowest {
            Some(s) if n >= self.allowed_until => Err(RingFull {
                reader_pid: s.pid,
                behind: n - s.cursor,
            }),
            _ => Ok(()),
        }
    }

    /// Slot `i` if a reader holds it; a reader that is a whole ring behind
    /// tick `n` is checked for liveness and its slot freed if it is dead.
    fn check_slot(&mut self, i: usize, n: u64) -> Option<Held> {
        let cap = self.layout.capacity as u64;
        let s = self
            .region
            .line(self.layout.readers_offset + i * READER_SLOT_SIZE);
        let owner = load_acquire(&s[0]);
        let pid = (owner & PID_MASK) as u32;
        if pid == 0 {
            return None;
        }
        let cursor = s[2].load(Ordering::Relaxed);
        if cursor.saturating_add(cap) <= n {
            let id = ProcessIdentity {
                pid,
                start_time: s[1].load(Ordering::Relaxed),
            };
            if !sys::process_alive(id) {
                if release_slot(s, owner) {
                    self.reader_counts.reclaimed += 1;
                }
                return None;
            }
        }
        Some(Held { pid, cursor })
    }

    /// Scans and reclaims so far, for the writer's counters.
    pub fn reader_counts(&self) -> ReaderScanCounts {
        self.reader_counts
    }

    /// The readers registered now: pid and published cursor of each.
    pub fn registered_readers(&self) -> Vec<RegisteredReader> {
        registered(&self.region, &self.layout)
    }
}

/// One registered ring reader as its slot shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisteredReader {
    /// The reader's process id.
    pub pid: u32,
    /// The next tick it will read: every tick before it has been read.
    pub next_seq: u64,
}

/// Every occupied slot of the reader area of a table mapped as `region`.
fn registered(region: &Region, layout: &Layout) -> Vec<RegisteredReader> {
    (0..READER_SLOTS)
        .filter_map(|i| {
            let s = region.line(layout.readers_offset + i * READER_SLOT_SIZE);
            let pid = (load_acquire(&s[0]) & PID_MASK) as u32;
            (pid != 0).then(|| RegisteredReader {
                pid,
                next_seq: load_acquire(&s[2]),
            })
        })
        .collect()
}

/// Frees slot `s` if its owner word still is `owner` (not re-claimed
/// meanwhile): start time and cursor zeroed first, then the pid, keeping
/// the claim count. Returns whether this call freed it.
fn release_slot(s: &[AtomicU64; 8], owner: u64) -> bool {
    if s[0].load(Ordering::Relaxed) != owner {
        return false;
    }
    for word in [1, 2, WORD_TOKEN, WORD_ARMED] {
        s[word].store(0, Ordering::Relaxed);
    }
    s[0].compare_exchange(
        owner,
        owner & !PID_MASK,
        Ordering::Release,
        Ordering::Relaxed,
    )
    .is_ok()
}

/// A registered ring reader: its slot in the table's reader area, mapped
/// writable on its own (the rest of the table stays read-only to readers).
/// Dropping it frees the slot.
pub struct RingRegistration {
    /// The reader area alone, mapped read-write.
    area: Region,
    /// Which slot is ours.
    slot: usize,
    /// Our owner word, to release exactly our claim.
    owner: u64,
    /// The head when the registration took effect: every tick from here on
    /// is kept for us until we read it.
    guaranteed_from: u64,
}

impl RingRegistration {
    /// Tells the writer every tick before `cursor` has been read; call once
    /// per batch consumed, not per tick (one store to our own line).
    #[inline]
    pub fn publish(&self, cursor: &RingCursor) {
        self.line()[2].store(cursor.next_seq(), Ordering::Release);
    }

    /// The first tick the writer was bound to keep for us: ticks from here
    /// on are never lost while we live; older ones may be (reported exactly).
    pub fn guaranteed_from(&self) -> u64 {
        self.guaranteed_from
    }

    /// Our slot number, 0..[`READER_SLOTS`].
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Our slot's line in the reader area.
    pub(super) fn line(&self) -> &[AtomicU64; 8] {
        self.area.line(self.slot * READER_SLOT_SIZE)
    }
}

impl Drop for RingRegistration {
    fn drop(&mut self) {
        release_slot(self.line(), self.owner);
    }
}

impl std::fmt::Debug for RingRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingRegistration")
            .field("slot", &self.slot)
            .field("guaranteed_from", &self.guaranteed_from)
            .finish()
    }
}

impl PriceTableReader {
    /// Registers this process as a ring reader at `cursor`, so the writer
    /// keeps every tick for it from then on (see the module docs).
    ///
    /// Fails with [`ShmError::ReadersFull`] when every slot belongs to a
    /// live process; slots of dead readers are reclaimed first. A reader
    /// that only wants the latest prices should not register.
    pub fn register_ring_reader(&self, cursor: &RingCursor) -> Result<RingRegistration, ShmError> {
        self.register_as(ProcessIdentity::current(), cursor)
    }

    /// [`register_ring_reader`](Self::register_ring_reader) for `me`; tests
    /// register other identities (a dead one, a child) through this.
    pub(crate) fn register_as(
        &self,
        me: ProcessIdentity,
        cursor: &RingCursor,
    ) -> Result<RingRegistration, ShmError> {
        let area = self.map_reader_area()?;
        for slot in 0..READER_SLOTS {
            let s = area.line(slot * READER_SLOT_SIZE);
            let mut owner = load_acquire(&s[0]);
            if owner & PID_MASK != 0 {
                let holder = ProcessIdentity {
                    pid: (owner & PID_MASK) as u32,
                    start_time: s[1].load(Ordering::Relaxed),
                };
                if sys::process_alive(holder) || !release_slot(s, owner) {
                    continue;
                }
                owner &= !PID_MASK;
            }
            let claim = ((owner >> 32).wrapping_add(1) << 32) | u64::from(me.pid);
            if s[0]
                .compare_exchange(owner, claim, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            s[1].store(me.start_time, Ordering::Relaxed);
            s[2].store(cursor.next_seq(), Ordering::Relaxed);
            // No doorbell until the reader names one (`use_doorbell`).
            s[WORD_TOKEN].store(0, Ordering::Relaxed);
            s[WORD_ARMED].store(0, Ordering::Relaxed);
            // Pairs with the writer's fence before a scan (see `rescan`).
            fence(Ordering::SeqCst);
            let guaranteed_from = self.ticks_written().max(cursor.next_seq());
            return Ok(RingRegistration {
                area,
                slot,
                owner: claim,
                guaranteed_from,
            });
        }
        Err(ShmError::ReadersFull {
            name: self.name.clone(),
            slots: READER_SLOTS,
        })
    }

    /// The readers registered now (pid and cursor of each): how far the
    /// slowest is behind the head is what holds the writer back.
    pub fn registered_readers(&self) -> Vec<RegisteredReader> {
        registered(&self.region, &self.layout)
    }

    /// Maps the reader area of this very segment read-write.
    fn map_reader_area(&self) -> Result<Region, ShmError> {
        let io_err = |e| ShmError::io(&self.name, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(&self.name))
            .map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if (meta.dev(), meta.ino()) != self.file_id {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the table was re-created since it was attached; attach again",
            )));
        }
        let map = MmapOptions::new()
            .offset(self.layout.readers_offset as u64)
            .len(READER_SLOTS * READER_SLOT_SIZE)
            .map_raw(&file)
            .map_err(io_err)?;
        Ok(Region::new(map))
    }
}
