//! Creating a price table: the whole segment is built under a temporary
//! name and then hard-linked into place, so a reader can never map a
//! half-initialised table, and `link(2)` failing with `EEXIST` gives O_EXCL
//! semantics. A leftover segment whose writer is dead is replaced; one
//! whose writer lives is refused.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapOptions;

use super::error::ShmError;
use super::layout::*;
use super::owner::{file_identity, read_table_head};
use super::segment_path;
use super::sys::{self, ProcessIdentity};
use super::writer::PriceTable;

/// How many times creation retries when the name keeps being taken and
/// freed by others between our checks.
const CREATE_ATTEMPTS: usize = 8;

/// What was found under the name when our link failed.
enum Existing {
    /// Vanished between the failed link and the inspection.
    Gone,
    /// A live process other than us writes it (pid and start time match a
    /// running, non-zombie process).
    Live(u32),
    /// Its writer is gone; identified by device/inode for a safe removal.
    Stale {
        generation: u64,
        file_id: (u64, u64),
    },
}

/// Removes the temporary name however creation ends.
struct TempName<'a>(&'a Path);

impl Drop for TempName<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

impl PriceTable {
    /// Creates the segment `/dev/shm/<name>` (mode 0600) for `symbols`, with
    /// a tick ring of `ring_capacity` entries (a power of two).
    ///
    /// A leftover segment from a dead writer (or from this very process) is
    /// replaced, which [`PriceTable::replaced_stale`] reports; a segment of a
    /// live writer gives [`ShmError::InUse`]; a file that is not a price
    /// table gives [`ShmError::BadMagic`] and is left alone.
    pub fn create(
        name: &str,
        symbols: &[String],
        ring_capacity: usize,
    ) -> Result<PriceTable, ShmError> {
        validate_name(name)?;
        // Checked before any file is made.
        SymbolLookup::build(symbols)?;
        validate_capacity(ring_capacity)?;
        let layout = Layout::new(symbols.len(), ring_capacity);
        let io_err = |e| ShmError::io(name, e);

        let path = segment_path(name);
        static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = segment_path(&format!(
            ".{name}.{}.{}.creating",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_err)?;
        let _temp_guard = TempName(&temp);
        // The umask may only have removed bits; make the mode exactly 0600.
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err)?;
        file.set_len(layout.total_size as u64).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let map = MmapOptions::new()
            .len(layout.total_size)
            .map_raw(&file)
            .map_err(io_err)?;
        let mut table = PriceTable::continuing(
            name,
            symbols,
            layout,
            Region::new(map),
            sys::new_generation(0),
            0,
            (meta.dev(), meta.ino()),
        )?;
        table.init_header();
        table.link_into_place(&temp, &path)?;
        Ok(table)
    }

    /// Links the finished segment at `temp` under the table's name `path`,
    /// replacing a dead writer's leftover (at most [`CREATE_ATTEMPTS`]
    /// times, when others keep taking and freeing the name); a live
    /// writer's table is [`ShmError::InUse`].
    fn link_into_place(&mut self, temp: &Path, path: &Path) -> Result<(), ShmError> {
        let name = self.name().to_owned();
        let io_err = |e| ShmError::io(&name, e);
        for _ in 0..CREATE_ATTEMPTS {
            match fs::hard_link(temp, path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(e)),
            }
            match inspect_existing(&name, path)? {
                Existing::Gone => {}
                Existing::Live(pid) => {
                    return Err(ShmError::InUse {
                        name: name.clone(),
                        pid,
                    })
                }
                Existing::Stale {
                    generation,
                    file_id,
                } => {
                    if generation == self.generation {
                        self.generation = sys::new_generation(generation);
                        self.header()[OFF_GENERATION / 8].store(self.generation, Ordering::Relaxed);
                    }
                    // Only remove the file we inspected, not one another
                    // creator linked in meanwhile.
                    if file_identity(path) == Some(file_id) {
                        match fs::remove_file(path) {
                            Ok(()) => self.replaced_stale = true,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(io_err(e)),
                        }
                    }
                }
            }
        }
        Err(io_err(io::Error::other(
            "the name kept being re-created by another process; giving up",
        )))
    }

    /// Writes every header field and the directory, magic last, while the
    /// segment is still private to us.
    fn init_header(&mut self) {
        let l = self.layout;
        self.region
            .write_initial_bytes(HEADER_SIZE, &encode_directory(&self.symbols));
        let h = self.header();
        let version_and_count = u64::from(LAYOUT_VERSION) | ((l.symbols as u64) << 32);
        h[OFF_VERSION_AND_COUNT / 8].store(version_and_count, Ordering::Relaxed);
        h[OFF_RING_CAPACITY / 8].store(l.capacity as u64, Ordering::Relaxed);
        h[OFF_GENERATION / 8].store(self.generation, Ordering::Relaxed);
        let me = ProcessIdentity::current();
        h[OFF_WRITER_PID / 8].store(u64::from(me.pid), Ordering::Relaxed);
        self.region.line(LINE_STATUS)[(OFF_WRITER_START - LINE_STATUS) / 8]
            .store(me.start_time, Ordering::Relaxed);
        h[OFF_SLOTS / 8].store(l.slots_offset as u64, Ordering::Relaxed);
        h[OFF_RING / 8].store(l.ring_offset as u64, Ordering::Relaxed);
        h[OFF_TOTAL / 8].store(l.total_size as u64, Ordering::Relaxed);
        let status = self.region.line(LINE_STATUS);
        status[(OFF_READERS - LINE_STATUS) / 8].store(l.readers_offset as u64, Ordering::Relaxed);
        status[(OFF_READER_SLOTS - LINE_STATUS) / 8].store(READER_SLOTS as u64, Ordering::Relaxed);
        self.heartbeat(crate::clock::unix_now_ns());
        h[0].store(u64::from_le_bytes(MAGIC), Ordering::Release);
    }
}

/// Reads the header of the segment already under `path` and decides whether
/// it may be replaced.
fn inspect_existing(name: &str, path: &Path) -> Result<Existing, ShmError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Gone),
        Err(e) => return Err(ShmError::io(name, e)),
    };
    let (head, meta) = read_table_head(name, &file)?;
    // The pid and generation sit at the same offsets in every layout
    // version, so a leftover of another build is recognised too. The start
    // time is read only where this version keeps it (version 1 has zero
    // there; a later version may not): otherwise only the pid is compared.
    let word = |off: usize| u64::from_le_bytes(head[off..off + 8].try_into().unwrap_or([0; 8]));
    let version = word(OFF_VERSION_AND_COUNT) as u32;
    let writer = ProcessIdentity {
        pid: word(OFF_WRITER_PID) as u32,
        start_time: if version == LAYOUT_VERSION {
            word(OFF_WRITER_START)
        } else {
            0
        },
    };
    // Our own pid is never another live writer: either this very process
    // left the segment, or a dead process had our pid before us.
    if writer.pid != std::process::id() && sys::process_alive(writer) {
        return Ok(Existing::Live(writer.pid));
    }
    Ok(Existing::Stale {
        generation: word(OFF_GENERATION),
        file_id: (meta.dev(), meta.ino()),
    })
}
