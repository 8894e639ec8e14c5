//! The order journal: every accepted or rejected order, durably, before its answer.
//!
//! One JSON object per line (a person can read it, `jq` and any JSON library
//! can parse it), appended in the order decisions were made:
//!
//! ```text
//! {"recv_ns":1732512345123456789,"id":"strat1-1a2b3c4d-2a","client":"127.0.0.1:50412","side":"BUY","quantity":100,"symbol":"AAPL","price":"186.73","outcome":"ACCEPTED","reason":null,"raw":null}
//! ```
//!
//! `side`/`quantity`/`symbol`/`price` are null only for a frame that could not
//! be parsed; `raw` then holds its text. Prices are exact decimal strings.
//! Two optional fields appear only when they say something, so journals
//! written before them read unchanged and records of the original client
//! look as they always did: `client_name`, the name an authenticated client
//! gave in its AUTH frame (the scope of its ids), and `frames`, the number
//! of id-less malformed frames a summary record stands for (at most one such
//! record per client per second, `raw` holding the first of them).
//!
//! Durability: records are buffered by [`OrderJournal::append`] and made
//! durable by [`OrderJournal::commit`] (one `write` and one `fdatasync`). The
//! ordermanager commits after every record (`durability = "every"`) or once
//! per group of records that arrived together (`"group"`), and answers an
//! order only after the commit that holds it. A group commit can run off
//! the caller's thread: [`OrderJournal::start_commit`] takes the buffered
//! records as a [`Commit`], whose blocking [`Commit::run`] goes to another
//! thread while new records are buffered, and
//! [`OrderJournal::finish_commit`] takes its outcome back. Several commits
//! may be on their way at once ([`OrderJournal::can_start_commit`] says
//! when another may start): each has its own place in the file, fixed when
//! it starts, so the file holds the records in the order they were
//! appended; each is written through a descriptor opened `O_DSYNC`, which
//! makes only that commit's range durable (an `fdatasync` waits for every
//! dirty page of the file, the other commits' too). Their outcomes must be
//! finished in the order they started, and nothing of a commit may be
//! answered before every earlier one is durable: recovery reads up to the
//! first gap.
//!
//! Reserved space: with [`OrderJournal::reserving`] (the ordermanager's
//! `journal_reserve_kib`), the file is extended ahead of the records in
//! zero-filled steps, written once, and records then overwrite zeros in
//! place. Why: an fdatasync of an append changes the file's size, so it
//! must also commit the filesystem's own journal (ext4's jbd2), which is
//! shared with every other file being appended to, the process logs
//! included; an fdatasync of bytes written in place only flushes them.
//! Measured on this project's VM (200-byte records): p50 168 → 121 µs, and
//! with a logger appending 2 MB/s beside it p99 940 → 180 µs. The next
//! step is zero-filled beside the commits once half of the reserve is used
//! ([`OrderJournal::start_fill`]); only a commit that finds no room
//! reserves space itself, alone. While the ordermanager runs, the file
//! therefore ends in zeros after the last record; it is cut to its records
//! when the journal is closed, and at the next start after a crash. Every reader stops at the first NUL byte (no
//! record can hold one: JSON escapes control characters).
//!
//! Recovery: [`replay_journal`] hands each record to a visitor as it reads
//! it (memory does not grow with the journal), stops at a last line without
//! its newline (a crash mid-write) and reports it as a torn tail, which
//! [`OrderJournal::open`] truncates away; a malformed line with a newline
//! after it is corruption, reported with its line number, never skipped.
//!
//! Starting fresh: [`set_aside`] renames the journal to
//! `<path>.<UTC time>` (never deletes it), so the next open starts empty.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use super::replay::{read_journal, replay_journal, JournalEnd, JournalReader, JournalScan};
use crate::metrics::ordermanager::JournalTally;
use crate::metrics::OrderManagerMetrics;
use crate::price::Price;
use crate::protocol::{write_event_time, BadOrder, Order, RejectReason, Side};

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// Validated, within limits, executed.
    Accepted,
    /// Refused; `reason` says why.
    Rejected,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// When the ordermanager read the order, ns since the epoch.
    pub recv_ns: i64,
    /// The client order id, when the order had one (the exactly-once key).
    #[serde(rename = "id")]
    pub client_order_id: Option<String>,
    /// The client's address, to tell connections apart.
    pub client: String,
    /// The name the client authenticated with: the scope of its ids and the
    /// key of its limits. Absent for an unauthenticated client (keyed by its
    /// IP address) and in journals written before authentication existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Direction; `None` only for an unparsable frame.
    pub side: Option<Side>,
    /// Shares; `None` only for an unparsable frame.
    pub quantity: Option<u64>,
    /// Instrument; `None` only for an unparsable frame.
    pub symbol: Option<String>,
    /// Limit price (the fill price when accepted); `None` only for an unparsable frame.
    pub price: Option<Price>,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// The REJ code of a rejected order, stored as on the wire (`"MAX_POSITION"`)
    /// so that recovery answers a resent id with exactly the same REJ.
    pub reason: Option<RejectReason>,
    /// The frame text when it could not be parsed.
    pub raw: Option<String>,
    /// Id-less malformed frames this record summarizes; absent means one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
}

impl JournalRecord {
    /// The record of a parsed order: accepted when `verdict` is `Ok`,
    /// otherwise rejected with its reason.
    pub fn for_order(
        recv_ns: i64,
        client: ClientRef<'_>,
        order: &Order<'_>,
        verdict: Result<(), RejectReason>,
    ) -> JournalRecord {
        JournalRecord {
            recv_ns,
            client_order_id: order.client_order_id.map(str::to_string),
            client: client.addr.to_string(),
            client_name: client.name.map(str::to_string),
            side: Some(order.side),
            quantity: Some(order.quantity),
            symbol: Some(order.symbol.to_string()),
            price: Some(order.price),
            outcome: match verdict {
                Ok(()) => Outcome::Accepted,
                Err(_) => Outcome::Rejected,
            },
            reason: verdict.err(),
            raw: None,
            frames: None,
        }
    }

    /// The record of a frame that did not parse: rejected, with its text
    /// (lossy UTF-8) kept in `raw` so the journal shows what was sent.
    pub fn for_malformed(
        recv_ns: i64,
        client: ClientRef<'_>,
        bad: &BadOrder<'_>,
        frame: &[u8],
    ) -> JournalRecord {
        Self::for_raw(recv_ns, client, bad.client_order_id, bad.reason, frame)
    }

    /// A rejected frame kept only as text: malformed, or an id resent with
    /// a malformed frame (`ID_MISMATCH`).
    pub fn for_raw(
        recv_ns: i64,
        client: ClientRef<'_>,
        id: Option<&str>,
        reason: RejectReason,
        frame: &[u8],
    ) -> JournalRecord {
        JournalRecord {
            recv_ns,
            client_order_id: id.map(str::to_string),
            client: client.addr.to_string(),
            client_name: client.name.map(str::to_string),
            side: None,
            quantity: None,
            symbol: None,
            price: None,
            outcome: Outcome::Rejected,
            reason: Some(reason),
            raw: Some(String::from_utf8_lossy(frame).into_owned()),
            frames: None,
        }
    }

    /// The key of the client's limits and positions: its authenticated
    /// name, else `anon@IP` (the address without the port, so a reconnect
    /// is the same client).
    pub fn risk_key(&self) -> String {
        let mut key = String::new();
        self.write_risk_key(&mut key);
        key
    }

    /// [`risk_key`](Self::risk_key) into `key` (cleared first): a caller
    /// that keeps one buffer across records allocates nothing per record.
    pub fn write_risk_key(&self, key: &mut String) {
        key.clear();
        match &self.client_name {
            Some(name) => key.push_str(name),
            None => write_anonymous_key(&self.client, key),
        }
    }

    /// The scope of the record's id: the authenticated name, or `""`, the
    /// one scope every unauthenticated client shares.
    pub fn id_scope(&self) -> &str {
        self.client_name.as_deref().unwrap_or("")
    }
}

/// Who sent a frame, as a record names it.
#[derive(Debug, Clone, Copy)]
pub struct ClientRef<'a> {
    /// The connection's address.
    pub addr: &'a str,
    /// The authenticated name, if any.
    pub name: Option<&'a str>,
}

/// `anon@IP` for an address `IP:PORT` (anything else is kept whole): the
/// risk key of an unauthenticated client.
pub fn anonymous_key(addr: &str) -> String {
    let mut key = String::new();
    write_anonymous_key(addr, &mut key);
    key
}

/// [`anonymous_key`] appended to `key`.
fn write_anonymous_key(addr: &str, key: &mut String) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => write!(key, "anon@{}", a.ip()),
        Err(_) => write!(key, "anon@{addr}"),
    };
}

/// The append side of the journal.
#[derive(Debug)]
pub struct OrderJournal {
    /// Opened for writing at explicit offsets; shared with the [`Commit`]s
    /// in flight, which write it from other threads.
    file: Arc<File>,
    /// The same file opened `O_DSYNC`: a write through it returns once its
    /// bytes are durable, without waiting for other commits' bytes.
    dsync: Option<Arc<File>>,
    /// Commits started and not yet finished.
    in_flight: usize,
    /// A commit in flight is zero-filling the next reserve: no other may
    /// start until it is finished (it writes where they would).
    reserving: bool,
    /// Where the next commit's records go: just after the last record.
    end: u64,
    /// The file's length: zeros from `end` to here, written ahead.
    reserved: u64,
    /// How far ahead of the records the file is extended at a time (0:
    /// never; each commit extends the file by its records).
    reserve_step: u64,
    /// The end of the zeros a [`Fill`] on its way is writing, if one is.
    filling: Option<u64>,
    /// Records appended but not yet committed.
    pending: Vec<u8>,
    /// Buffers of finished commits, reused for the records appended while
    /// the next ones run (no allocation per commit).
    spare: Vec<Vec<u8>>,
    /// Records in `pending`.
    pending_records: usize,
    /// fdatasync on commit (off only in tests and benchmarks of the write path).
    sync: bool,
    /// The role's `/metrics`, when served: fed at each commit.
    metrics: Option<JournalMetrics>,
    /// Tests: the next commit waits this long before writing, so a test
    /// can hold one commit on its way while others run.
    #[cfg(test)]
    pub(crate) delay_next: Option<Duration>,
    /// Tests: true while a delayed commit waits.
    #[cfg(test)]
    pub(crate) holding: Arc<std::sync::atomic::AtomicBool>,
}

/// The journal's side of the ordermanager's metrics.
#[derive(Debug)]
struct JournalMetrics {
    /// Where each commit's counts and fdatasync time go.
    sink: Arc<OrderManagerMetrics>,
    /// Outcomes appended since the last commit.
    tally: JournalTally,
}

impl OrderJournal {
    /// Opens (creating) the journal at `path`, handing every record already
    /// there to `visit` in order (recovery streams them; none is kept here).
    /// A torn tail is cut off so new records start on a clean line; the end
    /// says whether that happened. Anything but a regular file (or nothing)
    /// at `path` is refused, as by [`replay_journal`].
    pub fn open(
        path: &Path,
        visit: impl FnMut(&JournalRecord),
    ) -> io::Result<(OrderJournal, JournalEnd)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut scan = replay_journal(path, 0, visit)?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        // A torn record, or space a crashed run reserved: cut, so the file
        // is its records and new ones start on a clean line. Bytes after
        // the reserved zeros (a commit whose earlier pages never reached
        // the disk, so none of it was answered) are a torn tail too.
        if file.metadata()?.len() > scan.end_offset {
            scan.torn_tail |= !all_zero_from(&file, scan.end_offset)?;
            file.set_len(scan.end_offset)?;
            file.sync_all()?;
        }
        let dsync = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(path)?;
        let journal = OrderJournal::over(file, Some(dsync), scan.end_offset);
        Ok((journal, scan))
    }

    /// A journal appending to `file` as it is (tests: e.g. `/dev/full`,
    /// whose every write fails).
    #[cfg(test)]
    pub(crate) fn on_file(file: File) -> OrderJournal {
        OrderJournal::over(file, None, 0)
    }

    /// A journal whose records end at `end` in `file` (written through
    /// `dsync` when given), with nothing reserved or on its way.
    fn over(file: File, dsync: Option<File>, end: u64) -> OrderJournal {
        OrderJournal {
            file: Arc::new(file),
            dsync: dsync.map(Arc::new),
            in_flight: 0,
            reserving: false,
            end,
            reserved: end,
            reserve_step: 0,
            filling: None,
            pending: Vec::with_capacity(64 * 1024),
            spare: Vec::new(),
            pending_records: 0,
            sync: true,
            metrics: None,
            #[cfg(test)]
            delay_next: None,
            #[cfg(test)]
            holding: Default::default(),
        }
    }

    /// Extends the file `step` bytes (rounded up to 4 KiB pages) ahead of
    /// the records at a time, zero-filled, so that commits write in place
    /// (see the module doc); 0 keeps plain appends.
    pub fn reserving(mut self, step: u64) -> OrderJournal {
        self.reserve_step = step.next_multiple_of(4096);
        self
    }

    /// Turns fdatasync off (benchmarks of the formatting path only).
    pub fn without_sync(mut self) -> OrderJournal {
        self.sync = false;
        self
    }

    /// Counts each commit's records and times its fdatasync into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<OrderManagerMetrics>) -> OrderJournal {
        self.metrics = Some(JournalMetrics {
            sink: metrics,
            tally: JournalTally::default(),
        });
        self
    }

    /// The metrics this journal feeds, if any (the sink counts connections there).
    pub fn metrics(&self) -> Option<&OrderManagerMetrics> {
        self.metrics.as_ref().map(|m| &*m.sink)
    }

    /// Buffers one record; it is durable after the next [`commit`](Self::commit).
    pub fn append(&mut self, record: &JournalRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.pending, record).map_err(io::Error::other)?;
        self.pending.push(b'\n');
        self.pending_records += 1;
        if let Some(m) = &mut self.metrics {
            m.tally.add(record);
        }
        Ok(())
    }

    /// Records appended and not yet taken by a commit.
    pub fn uncommitted(&self) -> usize {
        self.pending_records
    }

    /// Writes every buffered record with one write and makes it durable,
    /// on this thread. Refused (an error, nothing written) while a commit
    /// or fill started elsewhere could be writing where this one would.
    pub fn commit(&mut self) -> io::Result<()> {
        if !self.can_start_commit() {
            // A caller mixing this with commits or fills on other threads:
            // writing now could overlap them.
            return Err(io::Error::other(
                "a journal commit or fill is still on its way",
            ));
        }
        match self.start_commit() {
            Some(commit) => self.finish_commit(commit.run()),
            None => Ok(()),
        }
    }

    /// Whether a commit of what is buffered may start now, with the
    /// commits already on their way: not while one of them reserves
    /// space, and one that must reserve space waits until it is alone.
    pub fn can_start_commit(&self) -> bool {
        let must_reserve =
            self.reserve_step > 0 && self.end + self.pending.len() as u64 > self.reserved;
        let alone = self.in_flight == 0 && self.filling.is_none();
        !self.reserving && (alone || !must_reserve)
    }

    /// The zero-filling of the next step of reserve, once the records have
    /// used half of what is reserved and no fill is on its way: run it off
    /// the caller's thread beside the commits (they write below the
    /// reserve, it writes beyond), then [`finish_fill`](Self::finish_fill).
    /// Commits then seldom have to reserve space themselves, which they do
    /// alone: a well-behaved order is not held behind a megabyte of zeros.
    pub fn start_fill(&mut self) -> Option<Fill> {
        let due = self.reserve_step > 0
            && !self.reserving
            && self.filling.is_none()
            && self.end + self.reserve_step / 2 > self.reserved;
        if !due {
            return None;
        }
        let to = self.reserved + self.reserve_step;
        self.filling = Some(to);
        Some(Fill {
            file: self.file.clone(),
            from: self.reserved,
            to,
        })
    }

    /// Whether a [`Fill`] is on its way (a stop waits for it, so the closed
    /// journal can be cut to its records).
    pub fn filling(&self) -> bool {
        self.filling.is_some()
    }

    /// Takes back a fill that ran: the reserve now reaches its end, or its
    /// error (the disk refused zeros; records would fare no better).
    pub fn finish_fill(&mut self, done: io::Result<()>) -> io::Result<()> {
        let to = self.filling.take();
        done?;
        self.reserved = self.reserved.max(to.unwrap_or(0));
        Ok(())
    }

    /// Takes every buffered record as one [`Commit`] (`None`: nothing is
    /// buffered); records appended from now on wait for the next one.
    /// Start it only when [`can_start_commit`](Self::can_start_commit), and
    /// finish commits in the order they started.
    pub fn start_commit(&mut self) -> Option<Commit> {
        if self.pending.is_empty() {
            return None;
        }
        debug_assert!(self.can_start_commit());
        let next = self.spare.pop().unwrap_or_default();
        let records = std::mem::replace(&mut self.pending, next);
        self.pending_records = 0;
        let offset = self.end;
        self.end += records.len() as u64;
        // Past the reserved space: reserve the next step in this commit (its
        // one fdatasync then also commits the new length, once per step).
        let reserve_to = (self.reserve_step > 0 && self.end > self.reserved).then(|| {
            self.reserved = self.end.next_multiple_of(self.reserve_step);
            self.reserved
        });
        self.in_flight += 1;
        self.reserving = reserve_to.is_some();
        Some(Commit {
            #[cfg(test)]
            delay: self.delay_next.take().map(|d| (d, self.holding.clone())),
            file: self.file.clone(),
            dsync: self.dsync.clone().filter(|_| self.sync),
            offset,
            reserve_to,
            records,
            sync: self.sync,
            tally: self.metrics.as_mut().map(|m| std::mem::take(&mut m.tally)),
        })
    }

    /// Takes back a commit that ran: its error, if the write or the
    /// fdatasync failed (its records must then be treated as not written);
    /// otherwise its records are counted in the metrics as durable.
    pub fn finish_commit(&mut self, done: Committed) -> io::Result<()> {
        let Committed {
            result,
            fsync,
            mut records,
            tally,
            reserved,
        } = done;
        self.in_flight = self.in_flight.saturating_sub(1);
        if reserved {
            self.reserving = false;
        }
        result?;
        if let (Some(m), Some(mut tally)) = (&self.metrics, tally) {
            m.sink.committed(&mut tally, fsync);
        }
        records.clear();
        self.spare.push(records);
        Ok(())
    }
}

/// Whether every byte of `file` from `offset` on is zero.
fn all_zero_from(file: &File, mut offset: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
}

impl Drop for OrderJournal {
    /// Cuts the reserved zeros off, so a stopped ordermanager leaves a file
    /// of records only. Not while a commit still holds the file (it would
    /// race it); the next start cuts them then.
    fn drop(&mut self) {
        if self.reserved > self.end && Arc::strong_count(&self.file) == 1 {
            // Best effort: a journal that cannot be cut now is cut at start.
            let _ = self
                .file
                .set_len(self.end)
                .and_then(|()| self.file.sync_all());
        }
    }
}

/// The next step of reserve, zero-filled off the commits' way (see
/// [`OrderJournal::start_fill`]).
#[derive(Debug)]
pub struct Fill {
    /// The journal's file.
    file: Arc<File>,
    /// The reserve's end when the fill started: zeros go from here…
    from: u64,
    /// …to here.
    to: u64,
}

impl Fill {
    /// Writes the zeros and makes them and the new length durable.
    pub fn run(self) -> io::Result<()> {
        write_zeros(&self.file, self.from, self.to)?;
        self.file.sync_data()
    }
}

/// Zeros from `at` to `to` in `file`, 64 KiB at a time.
fn write_zeros(file: &File, mut at: u64, to: u64) -> io::Result<()> {
    while at < to {
        let n = (to - at).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Zeros written at a time when reserving space.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Records on their way to disk, taken by [`OrderJournal::start_commit`]:
/// [`run`](Self::run) blocks for a write and an fdatasync, so a caller
/// that must stay responsive runs it on another thread.
#[derive(Debug)]
pub struct Commit {
    /// Tests: wait this long first (see `OrderJournal::delay_next`).
    #[cfg(test)]
    delay: Option<(Duration, Arc<std::sync::atomic::AtomicBool>)>,
    /// The journal's file, written at `offset`.
    file: Arc<File>,
    /// The file opened `O_DSYNC`, when the commit syncs: its records are
    /// written through it, durable when the write returns.
    dsync: Option<Arc<File>>,
    /// Where the records go: just after the previous commit's.
    offset: u64,
    /// Zero-fill the file from the records' end to here first (reserving
    /// the next step of space), when the records reach past the reserve.
    reserve_to: Option<u64>,
    /// The records, one JSON line each.
    records: Vec<u8>,
    /// fdatasync after the write (see [`OrderJournal::without_sync`]).
    sync: bool,
    /// The records' outcomes, counted once they are durable.
    tally: Option<JournalTally>,
}

/// What a [`Commit`] came to, for [`OrderJournal::finish_commit`].
#[derive(Debug)]
pub struct Committed {
    /// The write's or the fdatasync's error, if any.
    result: io::Result<()>,
    /// How long the fdatasync took (`None` without sync or after an error).
    fsync: Option<Duration>,
    /// The written records' buffer, for reuse.
    records: Vec<u8>,
    /// The records' outcomes.
    tally: Option<JournalTally>,
    /// This commit zero-filled the next reserve.
    reserved: bool,
}

impl Committed {
    /// A commit that could not run at all (its thread panicked): failed,
    /// so its records count as not written.
    pub fn failed(error: io::Error) -> Committed {
        Committed {
            result: Err(error),
            fsync: None,
            records: Vec::new(),
            tally: None,
            reserved: false,
        }
    }
}

impl Commit {
    /// Writes the records at their offset with one write and, unless the
    /// journal does not sync, waits for them to be on disk: through the
    /// `O_DSYNC` descriptor (this range only), or, when the commit also
    /// reserves the next step of zeros after them, with one fdatasync of
    /// both (the only sync that must commit the file's new length).
    pub fn run(self) -> Committed {
        #[cfg(test)]
        if let Some((delay, holding)) = &self.delay {
            use std::sync::atomic::Ordering::SeqCst;
            holding.store(true, SeqCst);
            std::thread::sleep(*delay);
            holding.store(false, SeqCst);
        }
        let started = Instant::now();
        let result = match (&self.dsync, self.reserve_to) {
            (Some(dsync), None) => dsync.write_all_at(&self.records, self.offset),
            _ => self.write().and_then(|()| match self.sync {
                true => self.file.sync_data(),
                false => Ok(()),
            }),
        };
        Committed {
            fsync: (self.sync && result.is_ok()).then(|| started.elapsed()),
            result,
            records: self.records,
            tally: self.tally,
            reserved: self.reserve_to.is_some(),
        }
    }

    /// The records, then the zeros of a new reserve after them.
    fn write(&self) -> io::Result<()> {
        self.file.write_all_at(&self.records, self.offset)?;
        match self.reserve_to {
            Some(to) => write_zeros(&self.file, self.offset + self.records.len() as u64, to),
            None => Ok(()),
        }
    }
}

/// Moves the journal at `path` aside as `<path>.<UTC time>` (e.g.
/// `orders.journal.20261125T144553Z`, `.1`, `.2`… if taken), never deleting
/// anything, so the next start recovers nothing: `--fresh`. Returns where it
/// went; `None` when there was no journal.
pub fn set_aside(path: &Path, now_ns: i64) -> io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut text = Vec::new();
    write_event_time(&mut text, now_ns - now_ns.rem_euclid(1_000_000_000));
    let stamp: String = String::from_utf8_lossy(&text)
        .chars()
        .filter_map(|c| match c {
            '-' | ':' => None,
            ' ' => Some('T'),
            c => Some(c),
        })
        .collect();
    let base = format!("{}.{stamp}Z", path.display());
    let mut n = 0;
    loop {
        let to = match n {
            0 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}.{n}")),
        };
        // A hard link refuses an existing name, so no earlier journal set
        // aside is ever replaced; the original name is then removed.
        match std::fs::hard_link(path, &to) {
            Ok(()) => {
                std::fs::remove_file(path)?;
                return Ok(Some(to));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
