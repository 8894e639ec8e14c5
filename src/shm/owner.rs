//! Who made the segment under a name, and removing it only if that is us.
//!
//! The name of a table is shared by everything configured with it, so the
//! file under it at the end of a run may not be the one the run created: a
//! writer of another run may have it (the run's own orderbook then never got
//! to create one), or it may be a file of another program. A run removes
//! only a table whose header names one of its own writers.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::ShmError;
use super::layout::*;
use super::segment_path;
use super::sys::ProcessIdentity;

/// What a table's header says about its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOwner {
    /// The generation of the table, new on every creation.
    pub generation: u64,
    /// The process that created it (pid and start time).
    pub writer: ProcessIdentity,
}

/// What [`unlink_segment_if_written_by`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The table was made by one of the given writers and is removed.
    Removed(SegmentOwner),
    /// Nothing is under the name.
    Missing,
    /// Another process made the table under the name; it is left alone.
    NotOurs(SegmentOwner),
}

/// Reads the creator of the table under `name` (`None` if the name is free).
///
/// A file that is not a table is [`ShmError::BadMagic`]; a table of another
/// layout version is [`ShmError::VersionMismatch`].
pub fn segment_owner(name: &str) -> Result<Option<SegmentOwner>, ShmError> {
    Ok(read_owner(name)?.map(|(owner, _)| owner))
}

/// Removes the table under `name` only if its header names one of
/// `writers` as its creator (same pid **and** start time); otherwise leaves
/// the file alone and says whose it is.
///
/// For the supervisor at the end of a run: `writers` are the orderbook
/// processes it started, so a table of another run's live writer, or a file
/// that is not a table at all (an error here), is never removed.
pub fn unlink_segment_if_written_by(
    name: &str,
    writers: &[ProcessIdentity],
) -> Result<Removal, ShmError> {
    let Some((owner, file_id)) = read_owner(name)? else {
        return Ok(Removal::Missing);
    };
    if !writers.contains(&owner.writer) {
        return Ok(Removal::NotOurs(owner));
    }
    let path = segment_path(name);
    // Only the file whose header we read, not one linked in meanwhile.
    if file_identity(&path) != Some(file_id) {
        return Ok(Removal::Missing);
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(Removal::Removed(owner)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Missing),
        Err(e) => Err(ShmError::io(name, e)),
    }
}

/// The (device, inode) pair naming one file, whatever name it has now.
type FileId = (u64, u64);

/// The header's owner fields and the identity of the file read.
fn read_owner(name: &str) -> Result<Option<(SegmentOwner, FileId)>, ShmError> {
    validate_name(name)?;
    let file = match File::open(segment_path(name)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ShmError::io(name, e)),
    };
    let (head, meta) = read_table_head(name, &file)?;
    let word = |off: usize| u64::from_le_bytes(head[off..off + 8].try_into().unwrap_or([0; 8]));
    let version = word(OFF_VERSION_AND_COUNT) as u32;
    if version != LAYOUT_VERSION {
        return Err(ShmError::VersionMismatch {
            name: name.to_owned(),
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let owner = SegmentOwner {
        generation: word(OFF_GENERATION),
        writer: ProcessIdentity {
            pid: word(OFF_WRITER_PID) as u32,
            start_time: word(OFF_WRITER_START),
        },
    };
    Ok(Some((owner, (meta.dev(), meta.ino()))))
}

/// The (device, inode) pair naming the file at `path`, if it exists.
pub(crate) fn file_identity(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The first 128 bytes of the file at a segment's name, which must be a
/// table: its magic checked and the whole header there, with the file's
/// metadata (its identity). Shared by every look at a segment this process
/// did not map itself.
pub(crate) fn read_table_head(
    name: &str,
    file: &File,
) -> Result<([u8; 128], std::fs::Metadata), ShmError> {
    let meta = file.metadata().map_err(|e| ShmError::io(name, e))?;
    let mut head = [0u8; 128];
    let got = read_prefix(file, &mut head).map_err(|e| ShmError::io(name, e))?;
    if got < 8 || head[..8] != MAGIC {
        return Err(ShmError::BadMagic {
            name: name.to_owned(),
        });
    }
    if got < head.len() {
        return Err(ShmError::TooSmall {
            name: name.to_owned(),
            size: meta.len(),
            needed: HEADER_SIZE as u64,
        });
    }
    Ok((head, meta))
}

/// Reads up to `buf.len()` bytes from the start of `file`; returns how many.
pub(crate) fn read_prefix(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{poke_writer, syms, LiveChild, Seg};
    use super::super::PriceTable;
    use super::*;

    #[test]
    fn only_a_table_of_one_of_the_writers_is_removed() {
        let seg = Seg::new();
        let path = segment_path(&seg.0);
        assert_eq!(
            unlink_segment_if_written_by(&seg.0, &[]).unwrap(),
            Removal::Missing
        );
        assert_eq!(segment_owner(&seg.0).unwrap(), None);

        let table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
        let me = ProcessIdentity::current();
        let owner = SegmentOwner {
            generation: table.generation(),
            writer: me,
        };
        assert_eq!(segment_owner(&seg.0).unwrap(), Some(owner));
        let other = LiveChild::spawn();
        let same_pid_other_start = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        for writers in [&[][..], &[other.identity()], &[same_pid_other_start]] {
            assert_eq!(
                unlink_segment_if_written_by(&seg.0, writers).unwrap(),
                Removal::NotOurs(owner)
            );
            assert!(path.exists());
        }
        assert_eq!(
            unlink_segment_if_written_by(&seg.0, &[other.identity(), me]).unwrap(),
            Removal::Removed(owner)
        );
        assert!(!path.exists());

        // A table another process created (its header says so) stays.
        let _again = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
        poke_writer(&seg.0, other.identity());
        assert!(matches!(
            unlink_segment_if_written_by(&seg.0, &[me]).unwrap(),
            Removal::NotOurs(SegmentOwner { writer, .. }) if writer == other.identity()
        ));
        assert!(path.exists());
    }

    #[test]
    fn a_file_that_is_not_a_table_is_never_removed() {
        let seg = Seg::new();
        let path = segment_path(&seg.0);
        std::fs::write(&path, b"not a table").unwrap();
        let me = ProcessIdentity::current();
        let err = unlink_segment_if_written_by(&seg.0, &[me]).unwrap_err();
        assert!(matches!(err, ShmError::BadMagic { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not a table");
        std::fs::write(&path, MAGIC).unwrap();
        let err = unlink_segment_if_written_by(&seg.0, &[me]).unwrap_err();
        assert!(matches!(err, ShmError::TooSmall { .. }), "{err}");
        assert!(path.exists());
    }
}
