//! [`FeedActor`]: paces one stream and fans it out to every subscriber.
//!
//! Frames are produced in batches (one buffer, one `Bytes`, shared by every
//! subscriber) and each subscriber has its own bounded queue of batches
//! drained by its own writer task, so one slow reader never slows the rest:
//!
//! * `rate > 0`: a timer turn every millisecond sends exactly the frames due
//!   at `rate` since the stream started (the long-run rate is exact). A
//!   subscriber whose queue is full is dropped at once, with a log line.
//! * `rate = 0`: batches go out as fast as every queue takes them, but a
//!   queue holds at most [`FULL_SPEED_QUEUED_BATCHES`] (not `queue_len`):
//!   the subscriber's socket is the real buffer, and a deeper queue would
//!   only hold megabytes of frames the reader is not ready for. A queue at
//!   that depth holds the stream back for at most `max_stall`, then its
//!   subscriber is dropped.
//!
//! Memory is thus bounded by the settings, never by the source's length:
//! per subscriber at most [`FULL_SPEED_QUEUED_BATCHES`] batches of
//! `MAX_BATCH_FRAMES` (1024) at rate 0, and `queue_len` batches of one
//! millisecond's frames at `rate > 0`.
//!
//! The stream starts when the first subscriber connects, so a finite replay
//! loses no ticks to nobody. When a finite source is exhausted, every queue
//! is closed: the writer tasks send what is queued, shut the write side down
//! (the reader sees a clean EOF), and the actor reports the end.
//!
//! With [`FeedSettings::resume_wait`] (market data for our own orderbook,
//! see [`crate::protocol::feed_control`]) a subscriber joins only once its
//! `#RESUME,N*` arrived (or the wait passed): with no other subscriber the
//! source seeks to frame `N`, so a restarted gateway or a dropped and
//! reconnected orderbook continues exactly where it stopped; the
//! subscriber's first frame is `#AT,M*` (`M` = the next frame's position,
//! which differs from `N` only when others were being served), a finite
//! stream's last frame is `#END,T*`, and the stream pauses while nobody
//! is subscribed, so a finite replay never ends to nobody.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};
use bytes::Bytes;
use slog::Logger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use super::resume::{read_resume, Activate};
use super::source::FrameSource;
use crate::lifecycle::GetCounts;
use crate::protocol::{write_feed_control, FeedControl};

/// Frames at most in one batch (one write per subscriber).
const MAX_BATCH_FRAMES: u64 = 1024;
/// Batches a subscriber may have queued with `rate = 0` before the stream
/// waits for it: at about 60 bytes a frame, 1 MiB per subscriber, and
/// enough to keep a reader busy between two timer turns (16 Ki frames a
/// millisecond, far above what a reader takes).
pub const FULL_SPEED_QUEUED_BATCHES: usize = 16;
/// Batches at most per timer turn with `rate = 0`, so the actor stays responsive.
const MAX_BATCHES_PER_TURN: u32 = 64;
/// Period of the pacing timer.
const TURN: Duration = Duration::from_millis(1);

/// A new TCP subscriber for this stream.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// The accepted connection; only ever written to.
    pub stream: TcpStream,
    /// Its address, for the log.
    pub peer: SocketAddr,
    /// Its place under the listener's connection cap, given back when its
    /// writer ends (`None`: not counted).
    pub slot: Option<OwnedSemaphorePermit>,
}

/// How a finite stream ended, sent once when its source is exhausted.
#[derive(Debug)]
pub struct FeedEnd {
    /// Frames produced.
    pub frames: u64,
    /// Subscribers dropped for not keeping up.
    pub dropped: u64,
    /// Writer tasks still flushing their queues: await them before exiting.
    pub writers: Vec<JoinHandle<()>>,
}

/// One stream's counts, asked for with [`GetCounts`] at each `/metrics`
/// scrape: the actor is their one keeper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, actix::MessageResponse)]
pub struct FeedCounts {
    /// Frames produced (and offered to every subscriber) so far.
    pub frames: u64,
    /// Subscribers being sent the stream now (not those awaiting `#RESUME`).
    pub subscribers: u64,
    /// Subscribers dropped for falling behind.
    pub dropped: u64,
}

/// Pacing and fan-out settings of one stream.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Stream name for logs (`md`, `news`).
    pub name: &'static str,
    /// Frames per second; 0 = as fast as subscribers take them.
    pub rate: u64,
    /// Batches a subscriber may have queued.
    pub queue_len: usize,
    /// With rate 0, how long a full queue may hold the stream back.
    pub max_stall: Duration,
    /// Produce nothing (a news rate of 0).
    pub paused: bool,
    /// Speak the resume extension (`#RESUME`/`#AT`/`#END`), waiting this
    /// long for a new subscriber's `#RESUME`; `None` for the original
    /// one-way protocol (news, and market data for three-field peers).
    pub resume_wait: Option<Duration>,
}

pub(super) struct Subscriber {
    /// Names it for [`Activate`].
    id: u64,
    peer: SocketAddr,
    queue: mpsc::Sender<Bytes>,
    /// When its queue was first seen full in a row (rate 0 only).
    full_since: Option<Instant>,
    writer: JoinHandle<()>,
}

/// Produces one stream's frames and broadcasts them.
pub struct FeedActor<S: FrameSource + Unpin + 'static> {
    source: S,
    settings: FeedSettings,
    subscribers: Vec<Subscriber>,
    /// Subscribers whose `#RESUME` is awaited (resume mode only).
    pending: Vec<Subscriber>,
    /// Id of the next subscriber.
    next_id: u64,
    /// The start of pacing and the frame count then; `None` while not
    /// streaming (before the first subscriber; in resume mode, while nobody
    /// is subscribed).
    paced: Option<(Instant, u64)>,
    /// Frames produced so far.
    frames: u64,
    /// Subscribers dropped for falling behind.
    dropped: u64,
    /// Reused batch buffer.
    batch: Vec<u8>,
    /// When the last turn ended: a timer that fell behind fires its missed
    /// turns back to back in one go, and those are skipped (see
    /// [`FeedActor::turn`]).
    last_turn: Option<Instant>,
    /// Told when a finite source is exhausted.
    end: Option<oneshot::Sender<FeedEnd>>,
    log: Logger,
}

impl<S: FrameSource + Unpin + 'static> FeedActor<S> {
    /// A feed of `source`; `end` is told when a finite source is exhausted.
    pub fn new(
        source: S,
        settings: FeedSettings,
        end: oneshot::Sender<FeedEnd>,
        log: Logger,
    ) -> Self {
        FeedActor {
            source,
            settings,
            subscribers: Vec::new(),
            pending: Vec::new(),
            next_id: 0,
            paced: None,
            frames: 0,
            dropped: 0,
            batch: Vec::with_capacity(64 * 1024),
            last_turn: None,
            end: Some(end),
            log,
        }
    }

    /// One timer turn. actix fires the turns a late timer missed back to
    /// back, without yielding; each would send a batch of the frame or two
    /// due since the previous one, so a stall of a few hundred milliseconds
    /// (a loaded machine) would fill every queue of `queue_len` batches and
    /// drop every subscriber at `rate > 0`. Those turns are skipped: the
    /// first turn after a stall sends everything due, in full batches.
    /// They are timed from the end of the last turn, not its start: a turn
    /// that itself takes longer than [`TURN`] (64 full batches with no
    /// subscriber to hold them back, in a debug build) would otherwise make
    /// every turn it missed due again, and the timer would never yield to
    /// the mailbox: a stop was never handled.
    fn turn(&mut self, ctx: &mut Context<Self>) {
        if self.last_turn.is_some_and(|t| t.elapsed() < TURN / 2) {
            return;
        }
        self.send_due(ctx);
        self.last_turn = Some(Instant::now());
    }

    /// What is due at this turn: at a `rate`, the frames due since the
    /// start; at full speed, up to [`MAX_BATCHES_PER_TURN`] batches while
    /// every queue has room.
    fn send_due(&mut self, ctx: &mut Context<Self>) {
        if self.settings.resume_wait.is_some() && self.subscribers.is_empty() {
            self.paced = None;
        }
        let Some((started, base)) = self.paced else {
            return;
        };
        if self.settings.paused {
            return;
        }
        if self.settings.rate > 0 {
            let due = base
                + (self.settings.rate as u128 * started.elapsed().as_nanos() / 1_000_000_000)
                    as u64;
            let mut left = due.saturating_sub(self.frames);
            while left > 0 && self.end.is_some() {
                let n = left.min(MAX_BATCH_FRAMES);
                self.send_batch(n, ctx);
                left -= n;
            }
        } else {
            for _ in 0..MAX_BATCHES_PER_TURN {
                if self.end.is_none() || !self.room_in_every_queue() {
                    break;
                }
                self.send_batch(MAX_BATCH_FRAMES, ctx);
            }
        }
    }

    /// With rate 0: whether every queue holds fewer than
    /// [`FULL_SPEED_QUEUED_BATCHES`]; drops subscribers stalled too long.
    fn room_in_every_queue(&mut self) -> bool {
        let now = Instant::now();
        let max_stall = self.settings.max_stall;
        let mut room = true;
        let log = &self.log;
        let name = self.settings.name;
        let mut dropped = 0;
        self.subscribers.retain_mut(|s| {
            let queued = s.queue.max_capacity() - s.queue.capacity();
            if queued < FULL_SPEED_QUEUED_BATCHES.min(s.queue.max_capacity()) {
                s.full_since = None;
                return true;
            }
            let since = *s.full_since.get_or_insert(now);
            if now - since > max_stall {
                slog::warn!(log, "subscriber dropped: it stopped reading";
                    "stream" => name, "peer" => %s.peer, "stalled_ms" => (now - since).as_millis() as u64);
                s.writer.abort();
                dropped += 1;
                return false;
            }
            room = false;
            true
        });
        self.dropped += dropped;
        room
    }

    /// Produces up to `n` frames as one batch and offers it to every subscriber.
    fn send_batch(&mut self, n: u64, ctx: &mut Context<Self>) {
        self.batch.clear();
        let mut made = 0;
        while made < n && self.source.next_frame(&mut self.batch) {
            made += 1;
        }
        self.frames += made;
        let exhausted = made < n;
        if exhausted && self.settings.resume_wait.is_some() {
            write_feed_control(&mut self.batch, FeedControl::End(self.frames));
        }
        if !self.batch.is_empty() {
            let batch = Bytes::copy_from_slice(&self.batch);
            let (log, name) = (&self.log, self.settings.name);
            let mut dropped = 0;
            self.subscribers.retain(|s| match s.queue.try_send(batch.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slog::warn!(log, "subscriber dropped: its queue is full"; "stream" => name, "peer" => %s.peer);
                    s.writer.abort();
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    slog::info!(log, "subscriber left"; "stream" => name, "peer" => %s.peer);
                    false
                }
            });
            self.dropped += dropped;
        }
        if exhausted {
            self.finish(ctx);
        }
    }

    /// The source is exhausted: close every queue and report.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        let writers = self
            .subscribers
            .drain(..)
            .chain(self.pending.drain(..))
            .map(|s| s.writer)
            .collect();
        if let Some(why) = self.source.failure() {
            slog::error!(self.log, "stream ended early: its source failed"; "stream" => self.settings.name, "frames" => self.frames, "error" => why);
        }
        slog::info!(self.log, "stream ended"; "stream" => self.settings.name, "frames" => self.frames, "dropped_subscribers" => self.dropped);
        if let Some(end) = self.end.take() {
            let _ = end.send(FeedEnd {
                frames: self.frames,
                dropped: self.dropped,
                writers,
            });
        }
        ctx.stop();
    }
}

impl<S: FrameSource + Unpin + 'static> Actor for FeedActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TURN, |act, ctx| act.turn(ctx));
    }
}

impl<S: FrameSource + Unpin + 'static> Handler<Subscribe> for FeedActor<S> {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        let (tx, rx) = mpsc::channel(self.settings.queue_len);
        let _ = msg.stream.set_nodelay(true);
        let (slot, stream, id) = (msg.slot, msg.stream, self.next_id);
        self.next_id += 1;
        let handshake = self
            .settings
            .resume_wait
            .map(|wait| (wait, ctx.address().recipient(), id));
        let writer = tokio::spawn(async move {
            write_queue(rx, stream, handshake).await;
            drop(slot);
        });
        let sub = Subscriber {
            id,
            peer: msg.peer,
            queue: tx,
            full_since: None,
            writer,
        };
        if self.settings.resume_wait.is_some() {
            self.pending.push(sub);
            return;
        }
        slog::info!(self.log, "subscriber joined"; "stream" => self.settings.name, "peer" => %msg.peer);
        self.subscribers.push(sub);
        self.start_pacing();
    }
}

impl<S: FrameSource + Unpin + 'static> Handler<GetCounts<FeedCounts>> for FeedActor<S> {
    type Result = FeedCounts;

    fn handle(&mut self, _: GetCounts<FeedCounts>, _: &mut Context<Self>) -> FeedCounts {
        FeedCounts {
            frames: self.frames,
            subscribers: self.subscribers.len() as u64,
            dropped: self.dropped,
        }
    }
}

impl<S: FrameSource + Unpin + 'static> Handler<Activate> for FeedActor<S> {
    type Result = ();

    /// A resume-mode subscriber's `#RESUME` arrived (or its wait passed).
    fn handle(&mut self, msg: Activate, _: &mut Context<Self>) {
        let Some(i) = self.pending.iter().position(|s| s.id == msg.id) else {
            return;
        };
        let sub = self.pending.swap_remove(i);
        if let Some(n) = msg.resume {
            self.reposition(n, sub.peer);
        }
        let mut at = Vec::with_capacity(24);
        write_feed_control(&mut at, FeedControl::At(self.frames));
        // The queue is new and empty: this cannot find it full.
        let _ = sub.queue.try_send(Bytes::from(at));
        slog::info!(self.log, "subscriber joined"; "stream" => self.settings.name, "peer" => %sub.peer,
            "resume" => msg.resume.map_or("none".to_string(), |n| n.to_string()), "at" => self.frames);
        self.subscribers.push(sub);
        self.start_pacing();
    }
}

impl<S: FrameSource + Unpin + 'static> FeedActor<S> {
    /// Starts (or, after a pause, restarts) pacing from now and the current
    /// position, so a resumed stream does not burst to catch up.
    fn start_pacing(&mut self) {
        if self.paced.is_none() {
            slog::info!(self.log, "stream started"; "stream" => self.settings.name,
                "rate" => self.settings.rate, "at" => self.frames);
            self.paced = Some((Instant::now(), self.frames));
        }
    }

    /// Moves the source to frame `n`, which a joining subscriber asked for.
    /// Only when nobody else is being served: a live stream cannot rewind
    /// for one subscriber. Otherwise that subscriber learns from `#AT` where
    /// its frames start and judges the gap itself.
    fn reposition(&mut self, n: u64, peer: SocketAddr) {
        let (name, at) = (self.settings.name, self.frames);
        if n == at {
            return;
        }
        if !self.subscribers.is_empty() {
            slog::warn!(self.log, "cannot resume where the subscriber asked: others are being served";
                "stream" => name, "peer" => %peer, "asked" => n, "at" => at);
        } else if self.source.seek(n) {
            slog::info!(self.log, "resuming where the subscriber stopped";
                "stream" => name, "peer" => %peer, "from" => n, "was_at" => at);
            self.frames = n;
            self.paced = None;
        } else {
            slog::warn!(self.log, "cannot resume where the subscriber asked: the source cannot go there";
                "stream" => name, "peer" => %peer, "asked" => n, "at" => at);
        }
    }
}

/// Drains one subscriber's queue into its socket, then shuts the write side.
///
/// With a `handshake`, the subscriber's `#RESUME` is read first (at most
/// its wait) and reported to the actor as [`Activate`]; nothing is queued
/// before that. Whatever the subscriber sends afterwards is read and
/// discarded, so it can never fill our receive buffer.
async fn write_queue(
    mut queue: mpsc::Receiver<Bytes>,
    stream: TcpStream,
    handshake: Option<(Duration, actix::Recipient<Activate>, u64)>,
) {
    let (mut rd, mut wr) = stream.into_split();
    if let Some((wait, to, id)) = handshake {
        let resume = read_resume(&mut rd, wait).await;
        to.do_send(Activate { id, resume });
    }
    let discard = tokio::spawn(async move {
        let mut sink = [0u8; 1024];
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    while let Some(batch) = queue.recv().await {
        if wr.write_all(&batch).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    discard.abort();
}
