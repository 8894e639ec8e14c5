//! The single writer of a price table: the orderbook. How a table comes
//! to be is in `create` (a new one) and `takeover` (a dead predecessor's);
//! this is what a writer does with it: publish ticks, wake readers, mark
//! the feed's end.

use crate::symbol::SymbolIndex;
use std::fs;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::cursors::RingFull;
use super::error::ShmError;
use super::layout::*;
use super::owner::file_identity;
use super::segment_path;
use super::sys;

/// The writable view of a price table; exactly one per segment.
///
/// Dropping it unmaps the table but leaves the segment in place: readers keep
/// the last prices, and the supervisor removes the segment at the end.
pub struct PriceTable {
    name: String,
    pub(super) symbols: Vec<String>,
    index: SymbolLookup,
    pub(super) layout: Layout,
    pub(super) region: Region,
    pub(super) generation: u64,
    pub(super) next_tick: u64,
    ring_mask: u64,
    /// Ticks below this may be published without looking at the reader
    /// slots: the slowest live cursor at the last scan plus the capacity
    /// (see `cursors`). 0 at creation, so the first publish scans.
    pub(super) allowed_until: u64,
    /// Scans and reclaimed reader slots, for the orderbook's counters.
    pub(super) reader_counts: super::cursors::ReaderScanCounts,
    pub(super) replaced_stale: bool,
    file_id: (u64, u64),
    /// Frames of the feed received up to the tick being published, stored
    /// in its ring entry so a writer taking the table over knows where the
    /// gateway must resume (see `takeover`).
    feed_position: u64,
    /// Unbound socket the doorbells of sleeping readers are rung through
    /// (see `doorbell`).
    pub(super) bell: UnixDatagram,
}

impl PriceTable {
    /// A writer of the table in `region`, whose next tick is `next_tick`:
    /// a new table (`create`) or one taken over (`take_over`).
    pub(super) fn continuing(
        name: &str,
        symbols: &[String],
        layout: Layout,
        region: Region,
        generation: u64,
        next_tick: u64,
        file_id: (u64, u64),
    ) -> Result<PriceTable, ShmError> {
        Ok(PriceTable {
            name: name.to_owned(),
            symbols: symbols.to_vec(),
            index: SymbolLookup::build(symbols)?,
            layout,
            region,
            generation,
            next_tick,
            ring_mask: layout.capacity as u64 - 1,
            allowed_until: 0,
            reader_counts: Default::default(),
            replaced_stale: false,
            file_id,
            feed_position: 0,
            bell: unbound_bell().map_err(|e| ShmError::io(name, e))?,
        })
    }

    /// The header's first line.
    pub(super) fn header(&self) -> &[AtomicU64; 8] {
        self.region.line(0)
    }

    /// Whether creation removed a leftover segment of a dead writer, so the
    /// caller can log that readers of the old one must re-attach.
    pub fn replaced_stale(&self) -> bool {
        self.replaced_stale
    }

    /// The slot index of `symbol`; look it up once per message, then publish
    /// by index.
    #[inline]
    pub fn symbol_index(&self, symbol: &str) -> Option<SymbolIndex> {
        self.index.get(symbol).map(SymbolIndex::new)
    }

    /// The symbols in slot order, as written to the directory.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Updates slot `idx` and appends the tick to the ring; returns the
    /// tick's sequence number (0 for the first tick of this table), or
    /// [`RingFull`] without writing anything when the ring entry it needs
    /// holds a tick a live registered reader has not read yet (wait, then
    /// try again: the ring is lossless, see [`PriceTable::make_room`]).
    ///
    /// Readers see the tick once this returns; call
    /// [`PriceTable::notify_readers`] after a batch to wake sleeping ones.
    ///
    /// # Panics
    /// If `idx` is not below the number of symbols (a caller bug, like an
    /// out-of-range slice index; indices come from [`PriceTable::symbol_index`]).
    #[inline]
    pub fn try_publish(
        &mut self,
        idx: SymbolIndex,
        price_units: i64,
        event_ns: i64,
        send_ns: i64,
        write_ns: i64,
    ) -> Result<u64, RingFull> {
        self.make_room()?;

        self.write_slot(idx, price_units, event_ns, send_ns, write_ns);
        let n = self.next_tick;
        let e = self.ring_entry(n);
        e[0].store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        e[1].store(n, Ordering::Relaxed);
        e[2].store(u64::from(idx.0), Ordering::Relaxed);
        e[3].store(price_units as u64, Ordering::Relaxed);
        e[4].store(event_ns as u64, Ordering::Relaxed);
        e[5].store(send_ns as u64, Ordering::Relaxed);
        e[6].store(write_ns as u64, Ordering::Relaxed);
        e[7].store(self.feed_position, Ordering::Relaxed);
        e[0].store(2 * n + 2, Ordering::Release);
        self.next_tick = n + 1;
        self.region.line(LINE_HEAD)[0].store(n + 1, Ordering::Release);
        Ok(n)
    }

    /// [`PriceTable::try_publish`] for writers that know no registered
    /// reader can be a whole ring behind (tests, benchmarks, a table no
    /// ring reader registers with).
    ///
    /// # Panics
    /// If the ring is full ([`RingFull`]): overwriting would lose a tick a
    /// reader was promised, so this refuses loudly instead; and if `idx` is
    /// not below the number of symbols.
    #[inline]
    pub fn publish(
        &mut self,
        idx: SymbolIndex,
        price_units: i64,
        event_ns: i64,
        send_ns: i64,
        write_ns: i64,
    ) -> u64 {
        match self.try_publish(idx, price_units, event_ns, send_ns, write_ns) {
            Ok(n) => n,
            Err(full) => panic!("publish on a full lossless ring: {full}; use try_publish"),
        }
    }

    /// Updates slot `idx` only, without a ring entry: for benchmarks and for
    /// a writer whose readers only want the latest price.
    ///
    /// # Panics
    /// If `idx` is not below the number of symbols.
    #[inline]
    pub fn write_slot(
        &mut self,
        idx: SymbolIndex,
        price_units: i64,
        event_ns: i64,
        send_ns: i64,
        write_ns: i64,
    ) {
        let s = self.slot(idx.get());
        let seq = s[0].load(Ordering::Relaxed);
        s[0].store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        s[1].store(price_units as u64, Ordering::Relaxed);
        s[2].store(event_ns as u64, Ordering::Relaxed);
        s[3].store(write_ns as u64, Ordering::Relaxed);
        s[4].store(send_ns as u64, Ordering::Relaxed);
        s[5].store(s[5].load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        s[0].store(seq + 2, Ordering::Release);
    }

    /// Slot `idx`'s line.
    ///
    /// # Panics
    /// If `idx` is not below the number of symbols.
    #[inline]
    pub(super) fn slot(&self, idx: usize) -> &[AtomicU64; 8] {
        assert!(
            idx < self.layout.symbols,
            "slot index {idx} out of range for {} symbols",
            self.layout.symbols
        );
        self.region.line(self.layout.slots_offset + idx * SLOT_SIZE)
    }

    /// The ring entry tick `n` lives in.
    #[inline]
    pub(super) fn ring_entry(&self, n: u64) -> &[AtomicU64; 8] {
        self.region
            .line(self.layout.ring_offset + ((n & self.ring_mask) as usize) * RING_ENTRY_SIZE)
    }

    /// Frames of the feed received so far, counting the one whose tick is
    /// published next: stored with each tick until changed.
    #[inline]
    pub fn set_feed_position(&mut self, frames: u64) {
        self.feed_position = frames;
    }

    /// Wakes sleeping readers: rings the doorbell of each registered
    /// reader that armed it (one `sendto` each, see `doorbell`), then wakes
    /// those sleeping in `wait_for_ticks` (one `futex` call). Call it once
    /// per batch of publishes, not per tick.
    pub fn notify_readers(&self) {
        self.ring_doorbells();
        // Bump first: a reader that read the old value and is about to sleep
        // then finds the word changed and does not sleep (no lost wake-up).
        self.region.futex().fetch_add(1, Ordering::SeqCst);
        sys::futex_wake_all(self.region.futex());
    }

    /// Records that the writer is alive at `now_ns`, so readers can tell a
    /// quiet market from a hung writer.
    pub fn heartbeat(&self, now_ns: i64) {
        self.region.line(LINE_STATUS)[0].store(now_ns as u64, Ordering::Release);
    }

    /// Records that a finite feed has ended and no more ticks will come, so
    /// readers can finish instead of waiting forever.
    pub fn mark_feed_ended(&self) {
        self.region.line(LINE_STATUS)[1].store(1, Ordering::Release);
    }

    /// Records that a finite feed ended with frames missing (the gateway
    /// skipped some, or ended with another count than we received): readers
    /// finish, but must not report the run as complete. The word holds 2.
    pub fn mark_feed_cut(&self) {
        self.region.line(LINE_STATUS)[1].store(FEED_CUT, Ordering::Release);
    }

    /// This table's generation, which readers compare to notice re-creation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The segment name (without `/dev/shm/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ticks published so far: the next tick's sequence number.
    pub fn ticks_written(&self) -> u64 {
        self.next_tick
    }

    /// Removes the segment's name, if it still refers to this table (a later
    /// table created under the same name is left alone). Mapped readers keep
    /// their view until they detach.
    pub fn unlink(self) -> Result<(), ShmError> {
        let path = segment_path(&self.name);
        if file_identity(&path) != Some(self.file_id) {
            return Ok(());
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ShmError::io(&self.name, e)),
        }
    }
}

impl std::fmt::Debug for PriceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriceTable")
            .field("name", &self.name)
            .field("generation", &self.generation)
            .field("symbols", &self.symbols)
            .field("ring_capacity", &self.layout.capacity)
            .field("ticks_written", &self.next_tick)
            .finish()
    }
}

/// The writer's socket for ringing doorbells: unbound, and non-blocking so
/// a reader that does not take its rings can never stall the writer.
fn unbound_bell() -> io::Result<UnixDatagram> {
    let bell = UnixDatagram::unbound()?;
    bell.set_nonblocking(true)?;
    Ok(bell)
}
