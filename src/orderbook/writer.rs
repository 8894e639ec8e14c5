//! [`BookWriterActor`]: frames, parses and publishes market data into the table.

use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use slog::Logger;
use tokio::sync::oneshot;

use super::MarketData;
use crate::clock::unix_now_ns;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::{LinkDown, LinkEvent, NetEvent};
use crate::protocol::{parse_market_data, FrameBatch};
use crate::shm::PriceTable;

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
}

/// The only writer of the shm table.
pub struct BookWriterActor {
    /// The table and ring this process owns.
    table: Option<PriceTable>,
    /// `gateway.loop = false`: the feed's end of stream is the end of the
    /// data, to be marked in the table, not a failure.
    finite: bool,
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
}

impl BookWriterActor {
    /// A writer owning `table`; `done` fires when it stops.
    pub fn new(
        table: PriceTable,
        finite: bool,
        stats_every: Duration,
        log: Logger,
        done: oneshot::Sender<()>,
    ) -> BookWriterActor {
        BookWriterActor {
            table: Some(table),
            finite,
            stats: BookCounts::default(),
            last_stats: (BookCounts::default(), Instant::now()),
            stats_every,
            bad_log: LogLimiter::new(LOG_FIRST_BAD, Duration::from_secs(1)),
            log,
            done: Some(done),
        }
    }

    /// Publishes the frames of one read; readers are woken once per read.
    fn publish_batch(&mut self, frames: &FrameBatch) {
        let BookWriterActor {
            table,
            stats,
            bad_log,
            log,
            ..
        } = self;
        let Some(table) = table.as_mut() else {
            return;
        };
        stats.reads += 1;
        let now = unix_now_ns();
        let before = stats.ticks;
        for frame in frames.iter() {
            match parse_market_data(frame) {
                Ok(md) => match table.symbol_index(md.symbol) {
                    Some(idx) => {
                        let event = md.event_time_ns.unwrap_or(now);
                        table.publish(idx, md.price.units(), event, md.send_ns.unwrap_or(0), now);
                        stats.ticks += 1;
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
        if stats.ticks != before {
            table.notify_readers();
        }
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

    fn log_stats(&mut self, final_line: bool) {
        let (prev, at) = self.last_stats;
        let secs = at.elapsed().as_secs_f64().max(1e-9);
        let rate = (self.stats.ticks - prev.ticks) as f64 / secs;
        let s = self.stats;
        let what = if final_line { "final stats" } else { "stats" };
        slog::info!(self.log, "{}", what;
            "ticks_per_s" => format!("{rate:.0}"), "ticks" => s.ticks, "reads" => s.reads,
            "malformed" => s.malformed, "unknown_symbols" => s.unknown_symbols, "oversized" => s.oversized);
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
    type Result = ();

    fn handle(&mut self, msg: NetEvent<MarketData>, ctx: &mut Context<Self>) {
        match msg.event {
            LinkEvent::Up { peer, .. } => {
                slog::info!(self.log, "market data connected"; "peer" => %peer);
            }
            LinkEvent::Frames(frames) => self.publish_batch(&frames),
            LinkEvent::Down(LinkDown::Closed) if self.finite => self.feed_ended(ctx),
            LinkEvent::Down(reason) => {
                if let LinkDown::Unframeable(_) = reason {
                    self.stats.oversized += 1;
                }
                slog::warn!(self.log, "market data disconnected"; "reason" => %reason);
            }
        }
    }
}

impl Handler<Stop> for BookWriterActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
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
        self.stats
    }
}
