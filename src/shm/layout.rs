//! The byte layout of a price table and safe, bounds-checked access to it.
//!
//! Everything that knows an offset lives here, so the documented layout in
//! the module docs of [`crate::shm`] and the code cannot drift apart in more
//! than one place. [`Region`] is the only place that turns a mapping into
//! references; it hands out whole 64-byte lines as `[AtomicU64; 8]`, so no
//! plain (racy) load or store of shared memory can be written elsewhere.
#![allow(unsafe_code)] // the mapping is read and written through raw pointers cast to atomics; see each SAFETY comment.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use memmap2::MmapRaw;

use super::error::ShmError;

#[cfg(not(all(target_os = "linux", target_endian = "little")))]
compile_error!("the shared-memory price table is defined for little-endian Linux only");

/// The first eight bytes of every table, as ASCII: rejects files that merely
/// share the name.
pub const MAGIC: [u8; 8] = *b"TSPXTBL\0";
/// Bumped whenever any offset or field meaning changes. Version 2 added the
/// writer's start time (offset 80), without which a reused pid or a zombie
/// writer looked alive. Version 3 added the reader-cursor area (offsets 88
/// and 96, and a page after the ring), without which the writer could not
/// tell that overwriting the oldest entry loses a tick some reader needs.
/// Version 4 added the doorbell words of a reader slot (24 and 32), without
/// which a reader arming its doorbell would sleep through every tick of an
/// older writer, and the feed position of a ring entry (its word 7), which
/// a writer taking a table over resumes the feed from.
pub const LAYOUT_VERSION: u32 = 4;
/// Bytes before the symbol directory: four 64-byte lines.
pub const HEADER_SIZE: usize = 256;
/// Bytes per directory entry: up to 15 symbol bytes, NUL padded.
pub const DIR_ENTRY_SIZE: usize = 16;
/// Bytes per symbol slot: one cache line, so writers of neighbouring symbols
/// never invalidate each other's readers.
pub const SLOT_SIZE: usize = 64;
/// Bytes per ring entry: one cache line for the same reason.
pub const RING_ENTRY_SIZE: usize = 64;
/// Reader-cursor slots in a table: how many ring readers can register at
/// once. 64 slots of one line each fill exactly one 4 KiB page, which a
/// reader maps writable on its own while the rest stays read-only to it.
pub const READER_SLOTS: usize = 64;
/// Bytes per reader-cursor slot: one cache line, so one reader publishing
/// its cursor never invalidates another's.
pub const READER_SLOT_SIZE: usize = 64;
/// The reader area starts on a multiple of this, so it can be mapped alone.
pub const READER_AREA_ALIGN: usize = 4096;
/// Longest symbol in bytes; the 16th byte of an entry is always NUL.
pub const MAX_SYMBOL_LEN: usize = 15;
/// Most symbols a table may hold (a 64 KiB directory).
pub const MAX_SYMBOLS: usize = 4096;
/// Largest ring (1 GiB of entries), so sizes never overflow and a typo does
/// not exhaust `/dev/shm`.
pub const MAX_RING_CAPACITY: usize = 1 << 24;
/// Longest segment name; leaves room below `NAME_MAX` for the temporary name
/// used while creating.
pub const MAX_NAME_LEN: usize = 200;
/// The feed-ended word (header offset 72) of a finite feed cut short:
/// ended, with frames missing. 1 is a complete end, 0 a running feed.
pub const FEED_CUT: u64 = 2;

// Header byte offsets (see the module docs of `crate::shm` for meanings).
pub(crate) const OFF_VERSION_AND_COUNT: usize = 8;
pub(crate) const OFF_RING_CAPACITY: usize = 16;
pub(crate) const OFF_GENERATION: usize = 24;
pub(crate) const OFF_WRITER_PID: usize = 32;
pub(crate) const OFF_SLOTS: usize = 40;
pub(crate) const OFF_RING: usize = 48;
pub(crate) const OFF_TOTAL: usize = 56;
pub(crate) const LINE_STATUS: usize = 64;
/// The writer's start time: word 2 of the status line (byte 80).
pub(crate) const OFF_WRITER_START: usize = 80;
/// Byte offset of the reader-cursor area: word 3 of the status line (88).
pub(crate) const OFF_READERS: usize = 88;
/// Number of reader-cursor slots: word 4 of the status line (96).
pub(crate) const OFF_READER_SLOTS: usize = 96;
pub(crate) const LINE_HEAD: usize = 128;
pub(crate) const OFF_FUTEX: usize = 192;

/// Where each part of a table with a given shape starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Number of symbols (directory entries and slots).
    pub symbols: usize,
    /// Number of ring entries, a power of two.
    pub capacity: usize,
    /// Byte offset of slot 0, a multiple of 64.
    pub slots_offset: usize,
    /// Byte offset of ring entry 0, a multiple of 64.
    pub ring_offset: usize,
    /// Byte offset of reader-cursor slot 0, a multiple of 4096.
    pub readers_offset: usize,
    /// Size of the whole segment in bytes.
    pub total_size: usize,
}

impl Layout {
    /// The layout for `symbols` slots and a ring of `capacity` entries; both
    /// must already be within [`MAX_SYMBOLS`] and [`MAX_RING_CAPACITY`].
    pub fn new(symbols: usize, capacity: usize) -> Layout {
        let dir_end = HEADER_SIZE + symbols * DIR_ENTRY_SIZE;
        let slots_offset = dir_end.div_ceil(64) * 64;
        let ring_offset = slots_offset + symbols * SLOT_SIZE;
        let ring_end = ring_offset + capacity * RING_ENTRY_SIZE;
        let readers_offset = ring_end.div_ceil(READER_AREA_ALIGN) * READER_AREA_ALIGN;
        Layout {
            symbols,
            capacity,
            slots_offset,
            ring_offset,
            readers_offset,
            total_size: readers_offset + READER_SLOTS * READER_SLOT_SIZE,
        }
    }
}

/// Checks a segment name can be one file directly under `/dev/shm`.
pub(crate) fn validate_name(name: &str) -> Result<(), ShmError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == 0);
    if ok {
        Ok(())
    } else {
        Err(ShmError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Checks the ring capacity is a power of two in range.
pub(crate) fn validate_capacity(capacity: usize) -> Result<(), ShmError> {
    if capacity.is_power_of_two() && (2..=MAX_RING_CAPACITY).contains(&capacity) {
        Ok(())
    } else {
        Err(ShmError::BadCapacity {
            capacity,
            max: MAX_RING_CAPACITY,
        })
    }
}

/// A symbol packed into one integer: its bytes NUL padded, with the length
/// in the last byte so that "AB" and "AB\0" can never compare equal.
fn pack(symbol: &str) -> Option<u128> {
    let bytes = symbol.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_SYMBOL_LEN {
        return None;
    }
    // Built in a register, byte by byte: the same value as copying the bytes
    // into a zeroed `[u8; 16]` and reading it little-endian, without the
    // short variable-length copy whose bytes the 16-byte read then had to
    // wait for (a store-forwarding stall that was most of the orderbook's
    // per-tick publish time in a profile).
    let mut key = (bytes.len() as u128) << 120;
    for (i, &b) in bytes.iter().enumerate() {
        key |= u128::from(b) << (8 * i);
    }
    Some(key)
}

/// Symbol-to-index lookup without allocation: packed keys in an
/// open-addressed table at most half full, so a lookup is one multiply and
/// usually one compare. (A bisection of sorted keys did the same in a few
/// dependent, unpredictable branches per tick: a third of the orderbook's
/// publish time in a profile at full speed.)
#[derive(Debug, Clone)]
pub(crate) struct SymbolLookup {
    /// `(key, slot index)`; key 0 is an empty place (`pack` never gives 0:
    /// its length byte is at least 1).
    places: Vec<(u128, u32)>,
    /// The table's size is `1 << bits`.
    bits: u32,
}

impl SymbolLookup {
    /// Validates `symbols` (count, length, no NUL, no duplicates) and builds
    /// the lookup table.
    pub fn build(symbols: &[String]) -> Result<SymbolLookup, ShmError> {
        if symbols.len() > MAX_SYMBOLS {
            return Err(ShmError::TooManySymbols {
                count: symbols.len(),
                max: MAX_SYMBOLS,
            });
        }
        let mut keys = Vec::with_capacity(symbols.len());
        for (i, symbol) in symbols.iter().enumerate() {
            let bad = |reason| ShmError::BadSymbol {
                symbol: symbol.clone(),
                reason,
            };
            if symbol.bytes().any(|b| b == 0) {
                return Err(bad("it contains a NUL byte"));
            }
            let key = pack(symbol).ok_or_else(|| bad("it must be 1 to 15 bytes long"))?;
            keys.push((key, i as u32));
        }
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(bad_duplicate(&symbols[w[0].1 as usize]));
        }
        let bits = (2 * keys.len()).max(2).next_power_of_two().trailing_zeros();
        let mut lookup = SymbolLookup {
            places: vec![(0, 0); 1 << bits],
            bits,
        };
        for (key, index) in keys {
            let mut at = lookup.home(key);
            while lookup.places[at].0 != 0 {
                at = (at + 1) & (lookup.places.len() - 1);
            }
            lookup.places[at] = (key, index);
        }
        Ok(lookup)
    }

    /// The slot index of `symbol`, if the table has it.
    #[inline]
    pub fn get(&self, symbol: &str) -> Option<usize> {
        let key = pack(symbol)?;
        let mask = self.places.len() - 1;
        let mut at = self.home(key);
        loop {
            let (k, index) = self.places[at];
            if k == key {
                return Some(index as usize);
            }
            if k == 0 {
                return None;
            }
            at = (at + 1) & mask;
        }
    }

    /// Where `key`'s probe starts: a multiplicative hash of both halves,
    /// top bits taken.
    #[inline]
    fn home(&self, key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }
}

fn bad_duplicate(symbol: &str) -> ShmError {
    ShmError::BadSymbol {
        symbol: symbol.to_owned(),
        reason: "it appears more than once",
    }
}

/// The directory bytes for `symbols` (already validated).
pub(crate) fn encode_directory(symbols: &[String]) -> Vec<u8> {
    let mut dir = vec![0u8; symbols.len() * DIR_ENTRY_SIZE];
    for (entry, symbol) in dir.chunks_exact_mut(DIR_ENTRY_SIZE).zip(symbols) {
        entry[..symbol.len()].copy_from_slice(symbol.as_bytes());
    }
    dir
}

/// Decodes directory bytes, saying which entry is malformed and why.
pub(crate) fn decode_directory(dir: &[u8]) -> Result<Vec<String>, String> {
    dir.chunks_exact(DIR_ENTRY_SIZE)
        .enumerate()
        .map(|(i, entry)| {
            let len = entry.iter().position(|&b| b == 0).unwrap_or(DIR_ENTRY_SIZE);
            if len == 0 || len > MAX_SYMBOL_LEN {
                return Err(format!("directory entry {i} is not 1 to 15 bytes long"));
            }
            if entry[len..].iter().any(|&b| b != 0) {
                return Err(format!(
                    "directory entry {i} has bytes after its NUL padding"
                ));
            }
            std::str::from_utf8(&entry[..len])
                .map(str::to_owned)
                .map_err(|_| format!("directory entry {i} is not UTF-8"))
        })
        .collect()
}

/// A loaded value with acquire semantics, written as a relaxed load plus an
/// acquire fence: Rust only promises that *relaxed* word-sized loads work on
/// read-only mappings, which is what readers have.
#[inline(always)]
pub(crate) fn load_acquire(word: &AtomicU64) -> u64 {
    let value = word.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    value
}

/// A mapped segment, handed out only as atomic words.
///
/// Every byte another process may write concurrently is accessed through an
/// atomic; a reader's mapping is read-only and the reader code only ever
/// performs relaxed loads on it (plus fences), as Rust requires for
/// read-only memory.
pub(crate) struct Region {
    map: MmapRaw,
}

impl Region {
    /// Wraps a mapping of at least [`HEADER_SIZE`] bytes (the whole table,
    /// or a reader's writable view of the reader-cursor area alone).
    pub fn new(map: MmapRaw) -> Region {
        assert!(map.len() >= HEADER_SIZE, "mapping shorter than the header");
        assert!(
            (map.as_ptr() as usize).is_multiple_of(64),
            "mapping not line-aligned"
        );
        Region { map }
    }

    /// The 64-byte line at `offset` as eight atomic words.
    ///
    /// # Panics
    /// If `offset` is not a multiple of 64 or the line is not inside the
    /// mapping; callers compute offsets from a validated [`Layout`], so a
    /// panic here is a bug in this module, never bad input.
    #[inline(always)]
    pub fn line(&self, offset: usize) -> &[AtomicU64; 8] {
        assert!(offset.is_multiple_of(64) && offset + 64 <= self.map.len());
        // SAFETY: the base is 64-byte aligned (checked in `new`: `mmap`
        // returns a page, or for the reader area a page plus a multiple of
        // 4096), so `base + offset` is 64-byte aligned (checked above), which satisfies the alignment of
        // `[AtomicU64; 8]` (8); the 64 bytes are inside the mapping (checked
        // above), which lives as long as `self.map` and thus as long as the
        // returned borrow of `self`. The bytes are always initialised (a file
        // mapping), and every concurrent access to them from any process goes
        // through atomics of the same size, so no data race is possible.
        unsafe { &*(self.map.as_ptr().add(offset) as *const [AtomicU64; 8]) }
    }

    /// The 32-bit futex word readers sleep on.
    #[inline]
    pub fn futex(&self) -> &AtomicU32 {
        // SAFETY: OFF_FUTEX (192) + 4 <= HEADER_SIZE <= map.len() (checked in
        // `new`); the address is page-aligned base + 192, so 4-byte aligned.
        // The word is only ever accessed atomically (here and by the kernel's
        // futex calls, which read it atomically).
        unsafe { &*(self.map.as_ptr().add(OFF_FUTEX) as *const AtomicU32) }
    }

    /// Copies `bytes` into the mapping at `offset`.
    ///
    /// Only for the writer, before the segment is published under its name,
    /// when no other process can have it mapped yet.
    pub fn write_initial_bytes(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.map.len());
        // SAFETY: the range is inside the writable mapping (checked above).
        // The segment is still only reachable through a temporary name known
        // to this process alone, so nothing accesses these bytes concurrently.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pack_is_the_padded_bytes_read_little_endian_with_the_length_last() {
        let text = "ABCDEFGHIJKLMNOPQ";
        for len in 1..=MAX_SYMBOL_LEN {
            let symbol = &text[..len];
            let mut bytes = [0u8; 16];
            bytes[..len].copy_from_slice(symbol.as_bytes());
            bytes[15] = len as u8;
            assert_eq!(pack(symbol), Some(u128::from_le_bytes(bytes)), "{symbol}");
        }
        assert_eq!(pack(""), None);
        assert_eq!(pack(&text[..MAX_SYMBOL_LEN + 1]), None);
        assert_ne!(pack("AB"), pack("AB\0"));
    }

    #[test]
    fn layout_offsets_are_line_aligned() {
        let l = Layout::new(3, 8);
        assert_eq!(l.slots_offset, 320);
        assert_eq!(l.ring_offset, 320 + 3 * 64);
        // The ring ends at 1024; the reader area starts on the next page.
        assert_eq!(l.readers_offset, 4096);
        assert_eq!(l.total_size, 4096 + 64 * 64);
        let l = Layout::new(4, 2);
        assert_eq!(l.slots_offset, 320);
        let l = Layout::new(0, 2);
        assert_eq!(
            (
                l.slots_offset,
                l.ring_offset,
                l.readers_offset,
                l.total_size
            ),
            (256, 256, 4096, 8192)
        );
        // A ring ending just past a page starts the area on the next one.
        let l = Layout::new(0, 64);
        assert_eq!((l.ring_offset, l.readers_offset), (256, 8192));
    }

    #[test]
    fn index_finds_every_symbol_and_nothing_else() {
        let s = syms(&["MSFT", "AAPL", "A", "GOOGLEXYZ123456"]);
        let ix = SymbolLookup::build(&s).unwrap();
        assert_eq!(ix.get("MSFT"), Some(0));
        assert_eq!(ix.get("AAPL"), Some(1));
        assert_eq!(ix.get("A"), Some(2));
        assert_eq!(ix.get("GOOGLEXYZ123456"), Some(3));
        assert_eq!(ix.get("AAPL\0"), None);
        assert_eq!(ix.get("AAP"), None);
        assert_eq!(ix.get(""), None);
        assert_eq!(ix.get("GOOGLEXYZ1234567"), None);
    }

    #[test]
    fn a_full_index_finds_each_of_its_symbols_at_its_place_and_no_other() {
        for count in [0, 1, 2, 3, 100, MAX_SYMBOLS] {
            let s: Vec<String> = (0..count).map(|i| format!("S{i}")).collect();
            let ix = SymbolLookup::build(&s).unwrap();
            for (i, symbol) in s.iter().enumerate() {
                assert_eq!(ix.get(symbol), Some(i), "{symbol} of {count}");
            }
            for i in count..count + 200 {
                assert_eq!(ix.get(&format!("S{i}")), None, "S{i} of {count}");
            }
            assert_eq!(ix.get("T0"), None);
        }
    }

    #[test]
    fn bad_symbols_are_rejected_with_a_reason() {
        let e = SymbolLookup::build(&syms(&["A", "B", "A"])).unwrap_err();
        assert!(matches!(e, ShmError::BadSymbol { ref symbol, reason }
            if symbol == "A" && reason.contains("more than once")));
        let e = SymbolLookup::build(&syms(&["0123456789ABCDEF"])).unwrap_err();
        assert!(matches!(e, ShmError::BadSymbol { reason, .. } if reason.contains("15")));
        let e = SymbolLookup::build(&syms(&[""])).unwrap_err();
        assert!(matches!(e, ShmError::BadSymbol { .. }));
        let e = SymbolLookup::build(&syms(&["A\0B"])).unwrap_err();
        assert!(matches!(e, ShmError::BadSymbol { reason, .. } if reason.contains("NUL")));
        let many: Vec<String> = (0..MAX_SYMBOLS + 1).map(|i| format!("S{i}")).collect();
        let e = SymbolLookup::build(&many).unwrap_err();
        assert!(matches!(
            e,
            ShmError::TooManySymbols {
                count: 4097,
                max: 4096
            }
        ));
    }

    #[test]
    fn directory_round_trips_and_rejects_garbage() {
        let s = syms(&["MSFT", "ABCDEFGHIJKLMNO"]);
        let dir = encode_directory(&s);
        assert_eq!(dir.len(), 32);
        assert_eq!(&dir[..5], b"MSFT\0");
        assert_eq!(decode_directory(&dir).unwrap(), s);
        let mut bad = dir.clone();
        bad[6] = b'X';
        assert!(decode_directory(&bad).unwrap_err().contains("entry 0"));
        bad = dir.clone();
        bad[16] = 0;
        assert!(decode_directory(&bad).unwrap_err().contains("entry 1"));
        bad = dir;
        bad[31] = b'Z';
        assert!(decode_directory(&bad).unwrap_err().contains("entry 1"));
    }

    #[test]
    fn names_and_capacities_are_validated() {
        for bad in ["", ".", "..", "a/b", "a\0b", &"x".repeat(201)] {
            assert!(matches!(
                validate_name(bad),
                Err(ShmError::InvalidName { .. })
            ));
        }
        assert!(validate_name("prices.v1-x_y").is_ok());
        assert!(validate_name(&"x".repeat(200)).is_ok());
        for bad in [0, 1, 3, 100, MAX_RING_CAPACITY * 2] {
            assert!(matches!(
                validate_capacity(bad),
                Err(ShmError::BadCapacity { capacity, .. }) if capacity == bad
            ));
        }
        assert!(validate_capacity(2).is_ok());
        assert!(validate_capacity(MAX_RING_CAPACITY).is_ok());
    }
}
