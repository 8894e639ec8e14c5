//! Why opening, creating or validating a price table failed.
//!
//! Callers branch on these (a supervisor treats [`ShmError::InUse`] very
//! differently from [`ShmError::Io`]), and an operator reads the message, so
//! every variant names the segment and says what to do about it where that is
//! not obvious.

use std::io;

/// Every way the shared-memory layer can refuse a request.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// The operating system refused a file or mapping operation; `source`
    /// carries the reason (missing segment, permissions, out of memory).
    #[error("shared-memory segment /dev/shm/{name}: {source}")]
    Io {
        /// The segment name, so the operator knows which file to look at.
        name: String,
        /// The system error, kept for callers that branch on its kind
        /// (e.g. `NotFound` while the writer has not started yet).
        #[source]
        source: io::Error,
    },

    /// The file exists but is not a price table of this program; it is left
    /// untouched because it may belong to someone else.
    #[error(
        "/dev/shm/{name} is not a price table (wrong magic); \
         if it is a leftover of another program, remove it by hand"
    )]
    BadMagic {
        /// The segment name.
        name: String,
    },

    /// The segment was written by a build with another byte layout; reading it
    /// would misinterpret every field.
    #[error(
        "price table /dev/shm/{name} has layout version {found}, this build reads version \
         {expected}; restart the writer with the same build"
    )]
    VersionMismatch {
        /// The segment name.
        name: String,
        /// The version stored in the segment.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },

    /// The file is shorter than its own header says it must be, so mapping
    /// it would read past its end.
    #[error("price table /dev/shm/{name} is {size} bytes long but needs {needed} bytes")]
    TooSmall {
        /// The segment name.
        name: String,
        /// The file's actual size in bytes.
        size: u64,
        /// The size its header (or the bare header) requires.
        needed: u64,
    },

    /// Header fields contradict each other or the directory is unreadable:
    /// the segment is damaged, not merely from another version.
    #[error("price table /dev/shm/{name} is corrupt: {what}")]
    Corrupt {
        /// The segment name.
        name: String,
        /// Which field is wrong and why.
        what: String,
    },

    /// The table lists other symbols than the reader was configured with, so
    /// indices would point at the wrong instruments.
    #[error(
        "price table /dev/shm/{name} holds symbols {found:?} but the configuration expects \
         {expected:?}; both processes must use the same symbol list"
    )]
    SymbolMismatch {
        /// The segment name.
        name: String,
        /// The symbols the caller expected, in order.
        expected: Vec<String>,
        /// The symbols found in the segment's directory, in order.
        found: Vec<String>,
    },

    /// Another live process is the writer of this segment; there can only be
    /// one writer, so creation is refused instead of corrupting its table.
    #[error(
        "price table /dev/shm/{name} is in use by writer process {pid}; \
         stop that process or use another shared_memory_name"
    )]
    InUse {
        /// The segment name.
        name: String,
        /// The pid of the live writer recorded in the segment.
        pid: u32,
    },

    /// The name cannot be used as a single file name under `/dev/shm`.
    #[error(
        "shared-memory name {name:?} is invalid: it must be 1 to 200 bytes, contain no '/' \
         or NUL, and not be \".\" or \"..\""
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },

    /// More symbols than the directory format allows.
    #[error("{count} symbols is too many for a price table (at most {max})")]
    TooManySymbols {
        /// The number of symbols requested.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A symbol cannot be stored in a 16-byte NUL-padded directory entry, or
    /// it appears twice (which would make lookups ambiguous).
    #[error("symbol {symbol:?} cannot be used in a price table: {reason}")]
    BadSymbol {
        /// The rejected symbol.
        symbol: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The ring capacity must be a power of two so a tick's entry is
    /// `seq & (capacity - 1)`, and bounded so the segment stays mappable.
    #[error("ring capacity {capacity} is invalid: it must be a power of two from 2 to {max}")]
    BadCapacity {
        /// The rejected capacity.
        capacity: usize,
        /// The largest accepted capacity.
        max: usize,
    },

    /// Every reader-cursor slot belongs to a live process, so this reader
    /// cannot register: reading the ring unregistered would let the writer
    /// overwrite ticks it has not read, so the caller must not go on as if
    /// the ring were lossless for it.
    #[error(
        "price table /dev/shm/{name}: all {slots} ring reader slots are held by live \
         processes; stop a reader (or read only the latest prices, which needs no slot)"
    )]
    ReadersFull {
        /// The segment name.
        name: String,
        /// How many slots a table has.
        slots: usize,
    },
}

impl ShmError {
    /// Wraps an I/O error with the segment name it concerns.
    pub(crate) fn io(name: &str, source: io::Error) -> ShmError {
        ShmError::Io {
            name: name.to_owned(),
            source,
        }
    }
}
