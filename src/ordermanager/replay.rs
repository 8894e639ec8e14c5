//! Reading the journal back: one record at a time, never all of them.
//!
//! A journal holds every order ever recorded (millions after long runs), so
//! every reader streams it: a [`JournalReader`] parses one line at a time
//! into one [`JournalRecord`] it reuses (see [`line`](mod@line) for the parser), and
//! [`replay_journal`] hands each to a visitor; what is kept is up to it.
//! Recovery folds the records into a [`Recovered`] (positions, counts and a
//! bounded [`SeenIds`]); the supervisor's status folds them into its
//! counters. [`read_journal`]
//! collects a journal into a `Vec` for tests and tools reading small ones.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::journal::{JournalRecord, Outcome};
use super::positions::PositionBook;
use super::seen::SeenIds;

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 256 * 1024;

/// Where a replay of the journal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalEnd {
    /// Complete records read (each handed to the visitor).
    pub records: u64,
    /// The offset just after the last complete record: where reading (or
    /// appending, after a torn tail) continues.
    pub end_offset: u64,
    /// Whether bytes after `end_offset` form an incomplete last record.
    pub torn_tail: bool,
    /// `recv_ns` of the first record read: when the journal (read from
    /// offset 0) was started, shown so that nobody mistakes its history
    /// for this run's.
    pub first_recv_ns: Option<i64>,
}

/// A journal read forward one record at a time ([`advance`](Self::advance)),
/// keeping one record (and at most one line split across reads) in memory.
#[derive(Debug)]
pub struct JournalReader {
    /// The file, buffered; `None` for a missing journal (empty).
    reader: Option<BufReader<File>>,
    /// For error messages.
    path: PathBuf,
    /// A line that a read of the file cut in two, gathered until its
    /// newline: lines whole in the buffer are parsed where they lie.
    partial: Vec<u8>,
    /// The record of the last line read, overwritten by the next one so
    /// that reading allocates nothing per record.
    record: JournalRecord,
    /// Lines read, for error messages (counted from the starting offset).
    line_no: u64,
    /// Progress so far.
    end: JournalEnd,
}

impl JournalReader {
    /// Opens `path` for reading from `from_offset`; a missing file is empty.
    /// Anything but a regular file is an `InvalidInput` error: a device such
    /// as `/dev/full` or `/dev/zero` would be read to an end that never
    /// comes (the ordermanager at start, the supervisor's status line every
    /// few seconds).
    pub fn open(path: &Path, from_offset: u64) -> io::Result<JournalReader> {
        let end = JournalEnd {
            records: 0,
            end_offset: from_offset,
            torn_tail: false,
            first_recv_ns: None,
        };
        let file = match File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let reader = match file {
            Some(mut file) => {
                if !file.metadata()?.is_file() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} is not a regular file", path.display()),
                    ));
                }
                file.seek(SeekFrom::Start(from_offset))?;
                Some(BufReader::with_capacity(READ_BUFFER, file))
            }
            None => None,
        };
        Ok(JournalReader {
            reader,
            path: path.to_path_buf(),
            partial: Vec::new(),
            record: line::blank_record(),
            line_no: 0,
            end,
        })
    }

    /// The next complete record, lent until the next call; `None` at the
    /// end (or at a torn last line, which [`end`](Self::end) then reports).
    /// A malformed complete line is an `InvalidData` error naming its line
    /// number; the offset stays before it.
    pub fn advance(&mut self) -> io::Result<Option<&JournalRecord>> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        loop {
            if self.end.torn_tail {
                return Ok(None);
            }
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                // Bytes without their newline at the end: a crash mid-write.
                self.end.torn_tail = !self.partial.is_empty();
                return Ok(None);
            }
            let Some(newline) = memchr::memchr2(b'\n', 0, buf) else {
                self.partial.extend_from_slice(buf);
                let taken = buf.len();
                reader.consume(taken);
                continue;
            };
            if buf[newline] == 0 {
                // Space the writer reserved (see `journal`): the records end
                // here, and bytes before the NUL on this line are a record a
                // crash cut short. Nothing is consumed, so the next read
                // from the end offset finds what was written since.
                self.end.torn_tail = newline > 0 || !self.partial.is_empty();
                self.reader = None;
                return Ok(None);
            }
            self.line_no += 1;
            let parsed = if self.partial.is_empty() {
                let text = &buf[..newline];
                let parsed = (!text.is_empty())
                    .then(|| line::parse_line_into(text, &mut self.record).map(|()| text.len()));
                reader.consume(newline + 1);
                parsed
            } else {
                self.partial.extend_from_slice(&buf[..newline]);
                reader.consume(newline + 1);
                let text = &self.partial[..];
                let parsed = (!text.is_empty())
                    .then(|| line::parse_line_into(text, &mut self.record).map(|()| text.len()));
                self.partial.clear();
                parsed
            };
            match parsed {
                // An empty line: skipped, its newline counted.
                None => self.end.end_offset += 1,
                Some(Ok(len)) => {
                    self.end.end_offset += len as u64 + 1;
                    self.end.first_recv_ns.get_or_insert(self.record.recv_ns);
                    self.end.records += 1;
                    return Ok(Some(&self.record));
                }
                Some(Err(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} line {}: corrupt record: {e}",
                            self.path.display(),
                            self.line_no
                        ),
                    ))
                }
            }
        }
    }

    /// The next complete record, owned: as [`advance`](Self::advance), for
    /// readers that keep records.
    pub fn next_record(&mut self) -> io::Result<Option<JournalRecord>> {
        Ok(self.advance()?.cloned())
    }

    /// Where reading got to: after the last complete record returned.
    pub fn end(&self) -> JournalEnd {
        self.end
    }
}

/// Hands every complete record from `from_offset` on to `visit`, in order,
/// and says where they ended; errors as [`JournalReader`] (records before a
/// corrupt line have been visited).
pub fn replay_journal(
    path: &Path,
    from_offset: u64,
    mut visit: impl FnMut(&JournalRecord),
) -> io::Result<JournalEnd> {
    let mut reader = JournalReader::open(path, from_offset)?;
    while let Some(record) = reader.advance()? {
        visit(record);
    }
    Ok(reader.end())
}

/// The client order ids of every record of the journal at `path`, in
/// order (tests: every record there has an id).
#[cfg(test)]
pub(crate) fn recorded_ids(path: &Path) -> Vec<String> {
    read_journal(path, 0)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.client_order_id.unwrap())
        .collect()
}

/// A journal read whole by [`read_journal`]: for tests and tools on small
/// journals only; processes stream with [`replay_journal`].
#[derive(Debug, Clone, PartialEq)]
pub struct JournalScan {
    /// Every complete record from the starting offset, in order.
    pub records: Vec<JournalRecord>,
    /// The offset just after the last complete record.
    pub end_offset: u64,
    /// Whether bytes after `end_offset` form an incomplete last record.
    pub torn_tail: bool,
}

/// Every complete record from `from_offset` on, collected (see
/// [`JournalScan`]); errors as [`replay_journal`].
pub fn read_journal(path: &Path, from_offset: u64) -> io::Result<JournalScan> {
    let mut records = Vec::new();
    let end = replay_journal(path, from_offset, |r| records.push(r.clone()))?;
    Ok(JournalScan {
        records,
        end_offset: end.end_offset,
        torn_tail: end.torn_tail,
    })
}

/// What the journal says happened before this start.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Positions and P&L.
    pub book: PositionBook,
    /// Every recorded id, by client scope, with its answer and content
    /// (recent ones exactly, older ones compacted: see [`SeenIds`]).
    pub seen: SeenIds,
    /// Accepted records.
    pub accepted: u64,
    /// Rejected orders (a summary record counts the frames it stands for).
    pub rejected: u64,
    /// Room for each record's client key in the book, reused.
    fill_key: String,
}

impl Recovered {
    /// Nothing recovered yet.
    pub fn new() -> Recovered {
        Recovered::default()
    }

    /// Takes in the next journal record.
    pub fn take(&mut self, rec: &JournalRecord) {
        self.book.apply_keyed(rec, &mut self.fill_key);
        match rec.outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Rejected => self.rejected += rec.frames.unwrap_or(1),
        }
        self.seen.recover(rec);
    }
}

/// Replays journal records into positions, answers and counts.
pub fn recover<'a>(records: impl IntoIterator<Item = &'a JournalRecord>) -> Recovered {
    let mut r = Recovered::new();
    for rec in records {
        r.take(rec);
    }
    r
}

pub mod line;

#[cfg(test)]
mod tests;
