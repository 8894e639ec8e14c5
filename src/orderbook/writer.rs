//! [`BookWriterActor`]: frames, parses and publishes market data into the table.

use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use slog::Logger;
use tokio::sync::oneshot;

use super::position::{FeedPosition, Verdict};
use super::MarketData;
use crate::clock::unix_now_ns;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::{LinkDown, LinkEvent, LinkWriter, NetEvent};
use crate::protocol::{
    is_feed_control, parse_feed_control, parse_market_data, write_feed_control, FeedControl,
    FrameBatch,
};
use crate::shm::PriceTable;
use crate::symbol::SymbolIndex;

mod backpressure;

pub use backpressure::Handled;
use backpressure::{Published, RingWait};

/// How often the heartbeat in the table header is refreshed.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
/// Malformed frames logged in full before the log is rate-limited.
const LOG_FIRST_BAD: u64 = 10;

/// Counters of everything the writer saw, for the logs and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, actix::MessageResponse)]
pub struct BookCounts {
    /// Ticks published into the table.
    pub ticks: u64,
    /// Well-formed frames for symbols the table does not have.
    pub unknown_symbols: u64,
    /// Frames that did not parse.
    pub malformed: u64,
    /// Connections dropped for a frame over the size limit.
    pub oversized: u64,
    /// Socket reads handled.
    pub reads: u64,
    /// Frames skipped because an earlier connection already brought them
    /// (a restarted gateway that started behind us).
    pub repeated: u64,
    /// Frames of the feed that never came (a gateway ahead of us).
    pub missed: u64,
    /// Ticks whose event time is earlier than their symbol's last one
    /// (published all the same; equal times are normal).
    pub time_backwards: u64,
    /// Times the ring was full (the slowest live reader a whole ring
    /// behind) and the writer stopped reading the feed until it caught up.
    pub ring_waits: u64,
    /// Milliseconds spent in those waits, in total.
    pub ring_wait_ms: u64,
    /// Reader slots of dead readers the table freed, so they stopped
    /// holding the writer back.
    pub dead_readers: u64,
}

/// How a market data feed ends, which decides what an end of stream means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnding {
    /// A looping feed never ends: an end of stream means "reconnect".
    Never,
    /// A finite feed from a three-field gateway, which cannot say where it
    /// ends: its end of stream is taken as the end (a crash cannot be told
    /// apart; the original protocol has no way to).
    AtEof,
    /// A finite feed from our gateway: only `#END,T` with the count we
    /// received ends it; an end of stream without it is a cut connection
    /// (reconnect and resume), and frames missing end it cut short.
    AtEndFrame,
}

/// The only writer of the shm table.
pub struct BookWriterActor {
    /// The table and ring this process owns.
    table: Option<PriceTable>,
    /// What ends the feed (and what an end of stream means).
    ending: FeedEnding,
    /// Frames received across connections, checked against `#AT`/`#END`.
    position: FeedPosition,
    /// The current connection's writer: `#RESUME` goes through it, and
    /// holding it keeps our side of the connection open.
    link: Option<LinkWriter>,
    /// The finite feed was cut short: nothing more is published.
    cut: bool,
    /// Each symbol's last event time, to notice time running backwards.
    last_event: Vec<i64>,
    /// Keeps backwards-time log lines few.
    time_log: LogLimiter,
    /// Totals since start.
    stats: BookCounts,
    /// Totals at the last stats line, for rates.
    last_stats: (BookCounts, Instant),
    /// Period of the stats line.
    stats_every: Duration,
    /// Keeps bad-input log lines few.
    bad_log: LogLimiter,
    /// Where log lines go.
    log: Logger,
    /// Tells `run` the writer has finished (finite feed end or stop).
    done: Option<oneshot::Sender<()>>,
    /// The wait for a slow ring reader in progress, if any.
    ring_wait: Option<RingWait>,
    /// Keeps wait log lines few when a slow reader fills the ring often.
    wait_log: LogLimiter,
}

impl BookWriterActor {
    /// A writer owning `table`, for a feed that ends as `ending` says,
    /// having `position` of it already (frames behind a taken-over table's
    /// last tick; default for a new table); `done` fires when it stops.
    pub fn new(
        table: PriceTable,
        position: FeedPosition,
        ending: FeedEnding,
        stats_every: Duration,
        log: Logger,
        done: oneshot::Sender<()>,
    ) -> BookWriterActor {
        BookWriterActor {
            last_event: vec![i64::MIN; table.symbols().len()],
            table: Some(table),
            ending,
            position,
            link: None,
            cut: false,
            time_log: LogLimiter::new(LOG_FIRST_BAD, Duration::from_secs(10)),
            stats: BookCounts::default(),
            last_stats: (BookCounts::default(), Instant::now()),
            stats_every,
            bad_log: LogLimiter::new(LOG_FIRST_BAD, Duration::from_secs(1)),
            log,
            done: Some(done),
            ring_wait: None,
            wait_log: LogLimiter::new(LOG_FIRST_BAD, Duration::from_secs(10)),
        }
    }

    /// Publishes the frames of one read from frame `from` on (0 for a new
    /// read, later when resuming after a wait); readers are woken once per
    /// call. Stops before a data frame when the ring is full, saying where.
    fn publish_from(&mut self, frames: &FrameBatch, from: usize) -> Published {
        if self.table.is_none() || self.cut {
            return Published::Done(None);
        }
        if from == 0 {
            self.stats.reads += 1;
        }
        let now = unix_now_ns();
        let before = self.stats.ticks;
        let mut outcome = Published::Done(None);
        for (at, frame) in frames.iter().enumerate().skip(from) {
            if is_feed_control(frame) {
                if let Some(verdict) = self.on_control(frame) {
                    outcome = Published::Done(Some(verdict));
                    break;
                }
                continue;
            }
            // Room first, before the frame counts as received, so a
            // resumed batch neither repeats nor skips it.
            if let Some(Err(full)) = self.table.as_mut().map(|t| t.make_room()) {
                outcome = Published::Blocked { at, full };
                break;
            }
            if self.position.data_frame() {
                self.publish_frame(frame, now);
            } else {
                self.stats.repeated += 1;
            }
        }
        if let Some(table) = &self.table {
            if self.stats.ticks != before {
                table.notify_readers();
            }
        }
        outcome
    }

    /// One data frame: parsed, published if its symbol is known, counted.
    fn publish_frame(&mut self, frame: &[u8], now: i64) {
        let Some(table) = self.table.as_mut() else {
            return;
        };
        let (stats, bad_log, log) = (&mut self.stats, &mut self.bad_log, &self.log);
        match parse_market_data(frame) {
            Ok(md) => match table.symbol_index(md.symbol) {
                Some(idx) => {
                    let event = md.event_time_ns.unwrap_or(now);
                    table.set_feed_position(self.position.received());
                    table.publish(idx, md.price.units(), event, md.send_ns.unwrap_or(0), now);
                    stats.ticks += 1;
                    self.check_time(idx, md.symbol, event);
                }
                None => {
                    stats.unknown_symbols += 1;
                    if let Some(skipped) = bad_log.allow() {
                        slog::warn!(log, "unknown symbol"; "symbol" => md.symbol, "not_logged_before" => skipped);
                    }
                }
            },
            Err(e) => {
                stats.malformed += 1;
                if let Some(skipped) = bad_log.allow() {
                    let text = String::from_utf8_lossy(frame).into_owned();
                    slog::warn!(log, "malformed market data frame";
                        "reason" => %e, "frame" => text, "not_logged_before" => skipped);
                }
            }
        }
    }

    /// Counts (and logs, rate-limited) a tick dated before its symbol's
    /// last one. It is published all the same: a looping replay starts its
    /// file again, and a correction is data too; readers see the count.
    fn check_time(&mut self, idx: SymbolIndex, symbol: &str, event: i64) {
        let Some(last) = self.last_event.get_mut(idx.get()) else {
            return;
        };
        if event < *last {
            self.stats.time_backwards += 1;
            if let Some(skipped) = self.time_log.allow() {
                slog::warn!(self.log, "event time went backwards";
                    "symbol" => symbol, "event_ns" => event, "last_event_ns" => *last,
                    "total" => self.stats.time_backwards, "not_logged_before" => skipped);
            }
        }
        *last = event;
    }

    /// A control frame from the gateway; `Some` when it ends the feed.
    fn on_control(&mut self, frame: &[u8]) -> Option<Verdict> {
        let c = match parse_feed_control(frame) {
            Ok(c) => c,
            Err(e) => {
                self.stats.malformed += 1;
                slog::warn!(self.log, "malformed feed control frame"; "reason" => %e,
                    "frame" => String::from_utf8_lossy(frame).into_owned());
                return None;
            }
        };
        let verdict = self.position.control(c);
        let log = &self.log;
        match verdict {
            Verdict::InStep => None,
            Verdict::Repeats(n) => {
                slog::info!(log, "the gateway starts behind us: skipping frames we have"; "frames" => n);
                None
            }
            Verdict::Gap { from, to } => {
                self.stats.missed += to - from;
                if self.ending == FeedEnding::AtEndFrame {
                    return Some(verdict);
                }
                slog::warn!(log, "market data gap: frames missed"; "from" => from, "to" => to,
                    "missed_total" => self.stats.missed);
                None
            }
            Verdict::Complete | Verdict::EndMismatch { .. } => Some(verdict),
            Verdict::Unexpected => {
                slog::warn!(log, "unexpected control frame from the gateway";
                    "frame" => String::from_utf8_lossy(frame).into_owned());
                None
            }
        }
    }

    /// A new connection: ask for the frames from where we are.
    fn connected(&mut self, writer: LinkWriter) {
        self.position.connected();
        if !self.cut {
            let mut frame = Vec::with_capacity(32);
            write_feed_control(&mut frame, FeedControl::Resume(self.position.received()));
            let _ = writer.send(frame.into());
        }
        self.link = Some(writer);
    }

    /// A verdict that ends the feed: complete, or cut short.
    fn end_with(&mut self, verdict: Verdict, ctx: &mut Context<Self>) {
        match verdict {
            Verdict::Complete => self.feed_ended(ctx),
            other => self.feed_cut(other),
        }
    }

    /// The finite feed cannot be complete: mark the table so readers finish
    /// and report the run incomplete, and publish nothing more. The process
    /// stays up (its table stays valid for the readers) until it is stopped.
    fn feed_cut(&mut self, why: Verdict) {
        self.cut = true;
        if let Some(t) = &self.table {
            t.mark_feed_cut();
            t.notify_readers();
        }
        slog::error!(self.log, "market data feed cut short: the finite run cannot be complete";
            "why" => format!("{why:?}"), "received" => self.position.received(), "missed" => self.stats.missed);
    }

    /// The finite feed is over: mark the table so readers can finish.
    fn feed_ended(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = &self.table {
            t.mark_feed_ended();
            t.notify_readers();
        }
        slog::info!(
            self.log,
            "market data feed ended; table marked so readers can finish"
        );
        self.finish(ctx);
    }

    /// The counters, with the table's count of reclaimed reader slots.
    fn counts(&self) -> BookCounts {
        BookCounts {
            dead_readers: self
                .table
                .as_ref()
                .map_or(self.stats.dead_readers, |t| t.reader_counts().reclaimed),
            ..self.stats
        }
    }

    fn log_stats(&mut self, final_line: bool) {
        let (prev, at) = self.last_stats;
        let secs = at.elapsed().as_secs_f64().max(1e-9);
        let rate = (self.stats.ticks - prev.ticks) as f64 / secs;
        let s = self.counts();
        let what = if final_line { "final stats" } else { "stats" };
        slog::info!(self.log, "{}", what;
            "ticks_per_s" => format!("{rate:.0}"), "ticks" => s.ticks, "reads" => s.reads,
            "malformed" => s.malformed, "unknown_symbols" => s.unknown_symbols, "oversized" => s.oversized,
            "feed_frames" => self.position.received(), "repeated" => s.repeated, "missed" => s.missed,
            "time_backwards" => s.time_backwards, "ring_waits" => s.ring_waits,
            "ring_wait_ms" => s.ring_wait_ms, "dead_readers" => s.dead_readers);
        self.last_stats = (self.stats, Instant::now());
    }

    /// Final stats, then tell `run` we are done.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.log_stats(true);
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        ctx.stop();
    }
}

impl Actor for BookWriterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(HEARTBEAT_EVERY, |act, _| {
            if let Some(t) = &act.table {
                t.heartbeat(unix_now_ns());
            }
        });
        ctx.run_interval(self.stats_every, |act, _| act.log_stats(false));
    }
}

impl Handler<NetEvent<MarketData>> for BookWriterActor {
    /// Done once the whole read is published: the feed's pump awaits it
    /// before reading the socket again, which is the backpressure.
    type Result = Handled;

    fn handle(&mut self, msg: NetEvent<MarketData>, ctx: &mut Context<Self>) -> Handled {
        match msg.event {
            LinkEvent::Up { peer, writer } => {
                slog::info!(self.log, "market data connected"; "peer" => %peer,
                    "resume_from" => self.position.received());
                self.connected(writer);
            }
            LinkEvent::Frames(frames) => return self.publish_or_wait(frames, 0, ctx),
            LinkEvent::Down(LinkDown::Closed) if self.ending == FeedEnding::AtEof => {
                self.feed_ended(ctx)
            }
            LinkEvent::Down(reason) => {
                self.link = None;
                if let LinkDown::Unframeable(_) = reason {
                    self.stats.oversized += 1;
                }
                slog::warn!(self.log, "market data disconnected; reconnecting to resume";
                    "reason" => %reason, "resume_from" => self.position.received());
            }
        }
        Handled::Now
    }
}

impl Handler<Stop> for BookWriterActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.ring_wait_over();
        self.stats.dead_readers = self.counts().dead_readers;
        if let Some(table) = self.table.take() {
            let name = table.name().to_string();
            match table.unlink() {
                Ok(()) => slog::info!(self.log, "price table removed"; "name" => name),
                Err(e) => slog::warn!(self.log, "could not remove the price table"; "error" => %e),
            }
        }
        self.finish(ctx);
    }
}

impl Handler<GetCounts<BookCounts>> for BookWriterActor {
    type Result = BookCounts;

    fn handle(&mut self, _: GetCounts<BookCounts>, _: &mut Context<Self>) -> BookCounts {
        self.counts()
    }
}
