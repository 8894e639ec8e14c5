//! A read-only view of a price table, for any number of processes.
//!
//! Attaching validates everything it will later rely on (magic, version,
//! sizes, directory), so the hot-path reads need no checks beyond the slot
//! index. Reads never block the writer: a read that overlaps a write simply
//! retries.

use crate::symbol::SymbolIndex;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;

use memmap2::MmapOptions;

use super::error::ShmError;
use super::layout::*;
use super::owner::{file_identity, read_prefix};
use super::segment_path;
use super::sys::{self, ProcessIdentity};

/// Spins before a blocked read starts yielding the CPU to the writer.
const SPINS_BEFORE_YIELD: u32 = 1 << 10;
/// Yields between checks whether the writer died in the middle of a write.
const YIELDS_PER_LIVENESS_CHECK: u32 = 1 << 10;

/// One slot as last written: a consistent snapshot, never a mix of two writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quote {
    /// The price in 1e-8 units ([`crate::price::Price`]'s representation).
    pub price_units: i64,
    /// When the gateway says the price happened (ns since the epoch).
    pub event_ns: i64,
    /// When the orderbook wrote the slot, for end-to-end latency.
    pub write_ns: i64,
    /// When the gateway sent the price; 0 if the gateway did not say.
    pub send_ns: i64,
    /// Writes to this slot so far; 0 means never written (the other fields
    /// are then meaningless), and the difference between two reads is how
    /// many updates the reader did not see.
    pub updates: u64,
}

/// What a reader can tell about the writer's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterStatus {
    /// The writer process exists and its heartbeat is recent.
    Alive,
    /// The writer process no longer exists: prices will not move again until
    /// a new writer creates a new generation.
    Dead,
    /// The writer process exists but has not refreshed its heartbeat in time:
    /// it may be hung, or its feed may be silent.
    Stale,
}

/// A read-only mapping of a price table.
pub struct PriceTableReader {
    pub(super) name: String,
    pub(super) symbols: Vec<String>,
    pub(super) index: SymbolLookup,
    pub(super) layout: Layout,
    pub(super) region: Region,
    pub(super) generation: u64,
    pub(super) file_id: (u64, u64),
}

impl PriceTableReader {
    /// Maps `/dev/shm/<name>` read-only after checking its magic, layout
    /// version, sizes and directory.
    ///
    /// A missing segment (writer not started yet) is [`ShmError::Io`] with
    /// kind `NotFound`, so callers can retry.
    pub fn attach(name: &str) -> Result<PriceTableReader, ShmError> {
        validate_name(name)?;
        let io_err = |e| ShmError::io(name, e);
        let file = File::open(segment_path(name)).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let mut head = [0u8; HEADER_SIZE];
        let got = read_prefix(&file, &mut head).map_err(io_err)?;
        let layout = check_header(name, &head[..got], meta.len())?;
        let mut dir = vec![0u8; layout.symbols * DIR_ENTRY_SIZE];
        file.read_exact_at(&mut dir, HEADER_SIZE as u64)
            .map_err(io_err)?;
        let symbols = decode_directory(&dir).map_err(|what| corrupt(name, what))?;
        let index = SymbolLookup::build(&symbols).map_err(|e| corrupt(name, e.to_string()))?;
        let map = MmapOptions::new()
            .len(layout.total_size)
            .map_raw_read_only(&file)
            .map_err(io_err)?;
        let word = |off: usize| u64::from_le_bytes(head[off..off + 8].try_into().unwrap_or([0; 8]));
        Ok(PriceTableReader {
            name: name.to_owned(),
            symbols,
            index,
            layout,
            region: Region::new(map),
            generation: word(OFF_GENERATION),
            file_id: (meta.dev(), meta.ino()),
        })
    }

    /// Like [`PriceTableReader::attach`], and also checks the directory lists
    /// exactly `symbols` in this order, so configured indices are right.
    pub fn attach_expecting(name: &str, symbols: &[String]) -> Result<PriceTableReader, ShmError> {
        let reader = PriceTableReader::attach(name)?;
        if reader.symbols != symbols {
            return Err(ShmError::SymbolMismatch {
                name: name.to_owned(),
                expected: symbols.to_vec(),
                found: reader.symbols,
            });
        }
        Ok(reader)
    }

    /// The symbols in slot order, from the table's directory.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The slot index of `s`; resolve once, then read by index.
    #[inline]
    pub fn symbol_index(&self, s: &str) -> Option<SymbolIndex> {
        self.index.get(s).map(SymbolIndex::new)
    }

    /// The segment name (without `/dev/shm/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest consistent contents of slot `idx`.
    ///
    /// Retries while the writer is mid-write (nanoseconds). If the writer
    /// process died in the middle of writing this slot, the slot can never
    /// become consistent again; rather than spin forever or return a torn
    /// price, this returns `Quote::default()` (updates 0, "no usable value"),
    /// and [`PriceTableReader::writer_status`] reports `Dead`.
    ///
    /// # Panics
    /// If `idx` is not below the number of symbols (a caller bug, like an
    /// out-of-range slice index).
    #[inline]
    pub fn read(&self, idx: SymbolIndex) -> Quote {
        let idx = idx.get();
        assert!(
            idx < self.layout.symbols,
            "slot index {idx} out of range for {} symbols",
            self.layout.symbols
        );
        let s = self.region.line(self.layout.slots_offset + idx * SLOT_SIZE);
        let mut attempts: u32 = 0;
        loop {
            let before = load_acquire(&s[0]);
            if before & 1 == 0 {
                let quote = Quote {
                    price_units: s[1].load(Ordering::Relaxed) as i64,
                    event_ns: s[2].load(Ordering::Relaxed) as i64,
                    write_ns: s[3].load(Ordering::Relaxed) as i64,
                    send_ns: s[4].load(Ordering::Relaxed) as i64,
                    updates: s[5].load(Ordering::Relaxed),
                };
                std::sync::atomic::fence(Ordering::Acquire);
                if s[0].load(Ordering::Relaxed) == before {
                    return quote;
                }
            }
            attempts = attempts.wrapping_add(1);
            if attempts < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                continue;
            }
            // The writer was likely preempted mid-write; let it run.
            std::thread::yield_now();
            if attempts.is_multiple_of(YIELDS_PER_LIVENESS_CHECK)
                && before & 1 == 1
                && !sys::process_alive(self.writer())
                && s[0].load(Ordering::Relaxed) == before
            {
                return Quote::default();
            }
        }
    }

    /// The generation this reader mapped; a new writer creates a new one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The pid of the process that created this table.
    pub fn writer_pid(&self) -> u32 {
        self.region.line(0)[OFF_WRITER_PID / 8].load(Ordering::Relaxed) as u32
    }

    /// The start time of the process that created this table (field 22 of
    /// its `/proc/<pid>/stat`, clock ticks since boot; 0 if it could not
    /// tell): with the pid, what tells the writer from a later process that
    /// was given the same pid.
    pub fn writer_start_time(&self) -> u64 {
        self.region.line(LINE_STATUS)[(OFF_WRITER_START - LINE_STATUS) / 8].load(Ordering::Relaxed)
    }

    /// The writer's pid and start time, as the header records them.
    pub fn writer(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.writer_pid(),
            start_time: self.writer_start_time(),
        }
    }

    /// The writer's last heartbeat, ns since the epoch.
    pub fn heartbeat_ns(&self) -> i64 {
        load_acquire(&self.region.line(LINE_STATUS)[0]) as i64
    }

    /// Whether the writer declared its (finite) feed finished: once this is
    /// true and the ring is drained, no tick will ever come.
    pub fn feed_ended(&self) -> bool {
        load_acquire(&self.region.line(LINE_STATUS)[1]) != 0
    }

    /// Whether the feed ended cut short ([`PriceTable::mark_feed_cut`]):
    /// the ticks in the table are not the whole feed, so a finite run that
    /// reads them is incomplete and must say so.
    ///
    /// [`PriceTable::mark_feed_cut`]: super::PriceTable::mark_feed_cut
    pub fn feed_cut(&self) -> bool {
        load_acquire(&self.region.line(LINE_STATUS)[1]) == super::layout::FEED_CUT
    }

    /// Ticks the writer has published (the ring head).
    pub fn ticks_written(&self) -> u64 {
        load_acquire(&self.region.line(LINE_HEAD)[0])
    }

    /// Whether the writer can still be trusted at `now_ns`: `Dead` if its
    /// process is gone (no process with its pid and start time, or only a
    /// zombie), `Stale` if its heartbeat is older than
    /// `max_heartbeat_age_ns`, else `Alive`.
    pub fn writer_status(&self, now_ns: i64, max_heartbeat_age_ns: i64) -> WriterStatus {
        if !sys::process_alive(self.writer()) {
            WriterStatus::Dead
        } else if now_ns.saturating_sub(self.heartbeat_ns()) > max_heartbeat_age_ns {
            WriterStatus::Stale
        } else {
            WriterStatus::Alive
        }
    }

    /// Whether `/dev/shm/<name>` still is the segment this reader mapped;
    /// false once it was unlinked or replaced by a new writer, which is the
    /// cue to re-attach.
    pub fn is_current(&self) -> bool {
        file_identity(&segment_path(&self.name)) == Some(self.file_id)
    }
}

impl std::fmt::Debug for PriceTableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriceTableReader")
            .field("name", &self.name)
            .field("generation", &self.generation)
            .field("symbols", &self.symbols)
            .field("ring_capacity", &self.layout.capacity)
            .finish()
    }
}

fn corrupt(name: &str, what: String) -> ShmError {
    ShmError::Corrupt {
        name: name.to_owned(),
        what,
    }
}

/// Validates the header bytes `head` of a file of `file_len` bytes and
/// returns the layout they describe.
fn check_header(name: &str, head: &[u8], file_len: u64) -> Result<Layout, ShmError> {
    if head.len() < 8 || head[..8] != MAGIC {
        return Err(ShmError::BadMagic {
            name: name.to_owned(),
        });
    }
    let too_small = |needed: u64| ShmError::TooSmall {
        name: name.to_owned(),
        size: file_len,
        needed,
    };
    if head.len() < HEADER_SIZE {
        return Err(too_small(HEADER_SIZE as u64));
    }
    let word = |off: usize| u64::from_le_bytes(head[off..off + 8].try_into().unwrap_or([0; 8]));
    let version = word(OFF_VERSION_AND_COUNT) as u32;
    if version != LAYOUT_VERSION {
        return Err(ShmError::VersionMismatch {
            name: name.to_owned(),
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let count = (word(OFF_VERSION_AND_COUNT) >> 32) as usize;
    if count > MAX_SYMBOLS {
        return Err(corrupt(
            name,
            format!("symbol count {count} exceeds {MAX_SYMBOLS}"),
        ));
    }
    let capacity = word(OFF_RING_CAPACITY);
    if !capacity.is_power_of_two() || !(2..=MAX_RING_CAPACITY as u64).contains(&capacity) {
        return Err(corrupt(
            name,
            format!("ring capacity {capacity} is not a power of two in range"),
        ));
    }
    let layout = Layout::new(count, capacity as usize);
    let stored = (
        word(OFF_SLOTS),
        word(OFF_RING),
        word(OFF_READERS),
        word(OFF_READER_SLOTS),
        word(OFF_TOTAL),
    );
    let expected = (
        layout.slots_offset as u64,
        layout.ring_offset as u64,
        layout.readers_offset as u64,
        READER_SLOTS as u64,
        layout.total_size as u64,
    );
    if stored != expected {
        return Err(corrupt(
            name,
            format!(
                "offsets (slots, ring, readers, reader slots, total) {stored:?} \
                 should be {expected:?}"
            ),
        ));
    }
    if file_len < layout.total_size as u64 {
        return Err(too_small(layout.total_size as u64));
    }
    Ok(layout)
}
