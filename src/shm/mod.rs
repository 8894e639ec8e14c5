//! The lock-free shared-memory price table between the orderbook (its one
//! writer, [`PriceTable`]) and any number of readers in other processes
//! ([`PriceTableReader`]), e.g. the strategy.
//!
//! Two views of the same prices live in one segment:
//!
//! * one **slot** per symbol holding the latest price, guarded by a seqlock —
//!   readers retry a read that overlapped a write, so they never block the
//!   writer and never see a torn value; the slot's update count tells a reader
//!   how many updates it did not see;
//! * a **tick ring** holding every tick in order, so a reader that needs every
//!   tick gets them all. Readers can sleep on a futex until ticks come, or,
//!   when registered, have the writer ring their [`Doorbell`] (a socket
//!   their own event loop watches, so no extra thread wakes them).
//!
//! # The ring is lossless for registered readers
//!
//! A reader that needs every tick registers ([`PriceTableReader::register_ring_reader`])
//! in one of [`READER_SLOTS`] slots with its pid and start time, and publishes
//! how far it has read once per batch ([`RingRegistration::publish`]). The
//! writer never overwrites a tick a live registered reader has not read:
//! [`PriceTable::try_publish`] answers [`RingFull`] instead, and the orderbook
//! then stops reading its feed until the slowest reader moves on (see
//! `orderbook::writer`). A reader whose process died (pid and start time no
//! longer a live process) is noticed when it holds the writer back, and its
//! slot is reclaimed. The guarantee covers every tick from the head at
//! registration on ([`RingRegistration::guaranteed_from`]); a reader that
//! does not register (one wanting only the latest prices, or a program in
//! another language that only reads) never holds the writer back, and if it
//! falls a ring behind it is told the exact count it lost ([`RingRead::Lost`]).
//! See `cursors` for the protocol, and the README for which runs are lossless.
//!
//! The header carries the writer's pid and start time, a heartbeat and a
//! generation number,
//! so a reader can tell a live table from a dead or hung writer's
//! ([`PriceTableReader::writer_status`]) and notice re-creation
//! ([`PriceTableReader::is_current`]).
//!
//! # Byte layout (layout version 4)
//!
//! The segment is the file `/dev/shm/<name>`. All integers are native
//! **little-endian**; `u64`/`i64` fields are 8-byte aligned; times are
//! nanoseconds since the Unix epoch; prices are `i64` counts of 1e-8 (so
//! `1.5` is `150_000_000`). A reader in another language maps the file (or
//! reads it) and uses these offsets:
//!
//! ## Header, bytes 0..256 (four 64-byte lines)
//!
//! | offset | size | type | field |
//! |---|---|---|---|
//! | 0 | 8 | bytes | magic, ASCII `TSPXTBL` followed by one NUL byte |
//! | 8 | 4 | u32 | layout version, `4` |
//! | 12 | 4 | u32 | symbol count `N` (0..=4096) |
//! | 16 | 8 | u64 | ring capacity `C`, a power of two, 2..=2^24 |
//! | 24 | 8 | u64 | generation: nonzero, new on every creation |
//! | 32 | 4 | u32 | writer pid |
//! | 36 | 4 | — | zero |
//! | 40 | 8 | u64 | `SLOTS` = byte offset of slot 0 |
//! | 48 | 8 | u64 | `RING` = byte offset of ring entry 0 |
//! | 56 | 8 | u64 | total segment size in bytes |
//! | 64 | 8 | i64 | writer heartbeat time (refreshed by the writer) |
//! | 72 | 8 | u64 | feed ended: 1 once a finite feed ended complete, 2 if it ended cut short (frames missing: the run is incomplete), else 0 |
//! | 80 | 8 | u64 | writer start time: field 22 (`starttime`) of `/proc/<pid>/stat`, clock ticks since boot; 0 if unknown |
//! | 88 | 8 | u64 | `READERS` = byte offset of reader-cursor slot 0 (a multiple of 4096) |
//! | 96 | 8 | u64 | reader-cursor slot count `R`, 64 |
//! | 104..128 | | — | zero |
//! | 128 | 8 | u64 | ticks written `H` (the ring head; next tick's seq) |
//! | 136..192 | | — | zero |
//! | 192 | 4 | u32 | futex word, incremented by the writer before a wake-up |
//! | 196..256 | | — | zero |
//!
//! The magic, the writer pid (32) and the generation (24) keep their offsets
//! in every future layout version.
//!
//! The writer is alive only while a process with the recorded pid exists,
//! has the recorded start time (a pid is reused once its process has been
//! reaped) and is not a zombie (state `Z` in `/proc/<pid>/stat`; its pid
//! stays taken until its parent reaps it). Version 1, without the start
//! time, is refused by readers ([`ShmError::VersionMismatch`] names both
//! versions); a writer replacing a version-1 leftover compares its pid only.
//!
//! ## Symbol directory, bytes 256..256 + 16·N
//!
//! Entry `i` (16 bytes at `256 + 16·i`) is symbol `i`: 1 to 15 UTF-8 bytes,
//! NUL padded to 16 (byte 15 is always NUL). Written once, before the segment
//! appears under its name; never changes.
//!
//! ## Slots, `SLOTS` = 256 + 16·N rounded up to a multiple of 64
//!
//! Slot `i` is the 64 bytes at `SLOTS + 64·i`:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u64 | sequence: odd while a write is in progress, `2 × updates` at rest |
//! | 8 | i64 | price units |
//! | 16 | i64 | event time (from the gateway) |
//! | 24 | i64 | write time (when the orderbook wrote the slot) |
//! | 32 | i64 | gateway send time, 0 if unknown |
//! | 40 | u64 | update count (0 = never written) |
//! | 48..64 | | zero |
//!
//! To read slot `i` consistently: read the sequence `s1`; if odd, retry; read
//! the fields; read the sequence again as `s2` (with a read barrier before
//! it); the fields are valid only if `s1 == s2`, else retry. (In numpy: copy
//! the 64 bytes, check the sequence is even, copy again and keep the copy if
//! both sequences are equal and even.)
//!
//! ## Tick ring, `RING` = `SLOTS` + 64·N
//!
//! `C` entries of 64 bytes; tick number `n` (from 0) is stored in entry
//! `n mod C` at `RING + 64·(n mod C)`:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u64 | stamp: `2n+1` while tick `n` is being written, `2n+2` once written |
//! | 8 | u64 | tick sequence number `n` |
//! | 16 | u32 | symbol index (slot) of the tick |
//! | 20 | | zero |
//! | 24 | i64 | price units |
//! | 32 | i64 | event time |
//! | 40 | i64 | gateway send time, 0 if unknown |
//! | 48 | i64 | write time |
//! | 56 | u64 | feed position: frames of the gateway's stream the writer had received when it wrote this tick, this tick's frame included (where a writer taking the table over resumes the feed); 0 if unknown |
//!
//! The writer stores tick `n`'s stamp `2n+2` before setting `H = n+1`. A
//! reader wanting tick `c`: if `c >= H` there is none yet; if `H - c > C` the
//! ticks `c .. H-C` are lost; otherwise the entry is valid if its stamp equals
//! `2c+2` both before and after reading the fields. (A registered reader is
//! never lost ticks from its registration on: see below.)
//!
//! ## Reader-cursor slots, `READERS` = `RING + 64·C` rounded up to 4096
//!
//! `R` slots of 64 bytes, one page: a registered reader maps this page
//! read-write on its own (the rest stays read-only to it). Slot `i` at
//! `READERS + 64·i`:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u64 | owner: pid in the low 32 bits (0 = free), a claim count in the high 32 |
//! | 8 | u64 | owner's start time (field 22 of `/proc/<pid>/stat`), 0 while unknown |
//! | 16 | u64 | owner's cursor: the next tick it will read (every earlier one is read) |
//! | 24 | u64 | owner's doorbell token, 0 = none: the abstract Unix datagram address `trading-stack/ring-doorbell/` + 16 lowercase hex digits |
//! | 32 | u64 | armed: 1 while the owner sleeps and wants its doorbell rung |
//! | 40..64 | | zero |
//!
//! To register: compare-and-swap a free owner word (pid 0) to `claims+1`
//! and your pid, store your start time and cursor, issue a full fence, then
//! read `H`: every tick from there on is kept for you. Store your cursor
//! (release) after each batch you read. To leave: zero start time, cursor
//! and the doorbell words, then the pid. The writer publishes tick `n` only while `n - C` is
//! below every live owner's cursor; it frees a slot whose owner is dead.
//! To sleep without a thread of your own on the futex: store a doorbell
//! token, then per sleep store armed = 1, full fence, read `H` once more,
//! and wait for a datagram only if there is still nothing new. After each
//! batch (`H` stored, full fence) the writer swaps every armed word to 0
//! and sends one byte to each doorbell it disarmed.
//!
//! The total size is `READERS + 64·R`.
//!
//! ## Reading it from numpy
//!
//! ```text
//! buf = np.memmap("/dev/shm/NAME", dtype=np.uint8, mode="r")
//! n, cap = buf[12:16].view("<u4")[0], buf[16:24].view("<u8")[0]
//! slots_at, ring_at = buf[40:56].view("<u8")
//! slot = np.dtype([("seq", "<u8"), ("price_units", "<i8"), ("event_ns", "<i8"),
//!                  ("write_ns", "<i8"), ("send_ns", "<i8"), ("updates", "<u8"),
//!                  ("_pad", "V16")])
//! tick = np.dtype([("stamp", "<u8"), ("seq", "<u8"), ("symbol_idx", "<u4"),
//!                  ("_pad1", "V4"), ("price_units", "<i8"), ("event_ns", "<i8"),
//!                  ("send_ns", "<i8"), ("write_ns", "<i8"), ("feed_position", "<u8")])
//! slots = buf[slots_at:slots_at + 64 * n].view(slot)
//! ring = buf[ring_at:ring_at + 64 * cap].view(tick)
//! ```
//!
//! # Lifetime
//!
//! The writer creates the segment with mode 0600 under a temporary name and
//! hard-links it into place, so readers never see it half-initialised.
//! Dropping the writer leaves the segment (readers keep the last prices); the
//! supervisor removes it with [`unlink_segment_if_written_by`], only if the
//! header names one of the orderbooks it started (another run's table, or a
//! file that is not a table, is left alone). A segment left by a dead writer
//! is replaced on the next creation with a new generation, except by the
//! orderbook the supervisor restarts in its place: that one takes the table
//! over ([`PriceTable::take_over`]) and continues its ring, so readers lose
//! and repeat nothing.

mod create;
mod cursors;
mod doorbell;
mod error;
mod layout;
mod owner;
mod reader;
mod ring;
mod sys;
mod takeover;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cursors;
#[cfg(test)]
mod tests_ring;
#[cfg(test)]
mod tests_takeover;
#[cfg(test)]
pub(crate) mod testutil;

use std::io;
use std::path::PathBuf;

pub use cursors::{ReaderScanCounts, RegisteredReader, RingFull, RingRegistration};
pub use doorbell::Doorbell;
pub use error::ShmError;
pub use layout::{
    LAYOUT_VERSION, MAGIC, MAX_RING_CAPACITY, MAX_SYMBOLS, MAX_SYMBOL_LEN, READER_SLOTS,
};
pub use owner::{segment_owner, unlink_segment_if_written_by, Removal, SegmentOwner};
pub use reader::{PriceTableReader, Quote, WriterStatus};
pub use ring::{RingCursor, RingRead, Tick};
pub use sys::ProcessIdentity;
pub use takeover::TakeOver;
pub use writer::PriceTable;

/// The directory holding POSIX shared-memory segments on Linux.
const SHM_DIR: &str = "/dev/shm";

/// The file behind segment `name` (already validated).
fn segment_path(name: &str) -> PathBuf {
    PathBuf::from(SHM_DIR).join(name)
}

/// Removes segment `name`, whoever created it; returns whether it existed.
///
/// For tests cleaning up what they made; a run removes its table with
/// [`unlink_segment_if_written_by`], which checks who created it. Processes that
/// still have it mapped keep their view until they unmap it.
pub fn unlink_segment(name: &str) -> Result<bool, ShmError> {
    layout::validate_name(name)?;
    match std::fs::remove_file(segment_path(name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ShmError::io(name, e)),
    }
}
