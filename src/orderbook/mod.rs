//! The orderbook process: market data in over TCP, the shared-memory table out.
//!
//! Two actors:
//!
//! * [`FeedActor`] — TCP client of the gateway's market data stream (the
//!   shared [`ClientLink`](crate::net::ClientLink)). It connects with
//!   backoff and hands the frames of each read (up to 64 KiB) to the writer
//!   as one message, so the per-tick cost is parsing, not actor messaging.
//!   It waits for each batch to be handled before reading again: a slow
//!   writer pushes back on the socket instead of growing a mailbox.
//! * [`BookWriterActor`] — the only writer of the price table and tick ring.
//!   It parses every frame of a read, publishes known symbols, counts unknown
//!   symbols and malformed frames, wakes readers once per read, refreshes the
//!   heartbeat and logs throughput. The ring is lossless: when the slowest
//!   live registered reader (the strategy) is a whole ring behind, the
//!   writer keeps the rest of the read and answers the feed only once it is
//!   published, so the socket is not read and TCP holds the gateway back
//!   (see `writer::backpressure`; counted as `ring_waits`, `ring_wait_ms`).
//!
//! Every connection starts with `#RESUME,N*` (`N` = market data frames
//! received so far, see [`position`]), so a restarted gateway, or one that
//! dropped us, continues exactly where we stopped.
//!
//! With `gateway.loop = false` the market data stream is finite: only its
//! real end — `#END,T*` with `T` equal to the frames received — marks the
//! table "feed ended" so the strategy can finish, and the process exits 0
//! leaving the segment for the readers (the supervisor removes it). An end
//! of stream without `#END` is a cut connection: reconnect and resume. A
//! finite feed that cannot be complete (the gateway skipped frames, or its
//! `#END` disagrees) marks the table "cut short" instead, so the strategy
//! ends non-zero saying so. In the three-field mode (`gateway.send_time =
//! false`) there is no `#END`, and the end of stream is the end, as in the
//! original protocol. Otherwise an end of stream or error means
//! "reconnect". On Ctrl+C/SIGTERM the writer logs its totals and removes
//! the segment.
//!
//! A finite replay reads its feed only once a ring reader (the strategy)
//! has registered (`orderbook.await_ring_reader`), so every tick of it is
//! kept for that reader; a looping feed starts at once.
//!
//! Restarted by the supervisor after a crash, the orderbook takes over the
//! table its dead predecessor wrote ([`PriceTable::take_over`]) instead of
//! creating a new one: the ring continues where it stopped, readers keep
//! their place, and the gateway is asked to resume after the last tick in
//! the ring, so a finite run still gives exactly its orders.
//!
//! A table that cannot be created (its name taken by a live writer or by a
//! file that is not a table) ends the process with
//! [`Exit::Environment`](crate::lifecycle::Exit::Environment): a restart
//! would meet the same name.

mod feed;
pub mod position;
mod writer;

pub use feed::{feed_settings, FeedActor, MarketData};
pub use writer::{BookCounts, BookWriterActor, FeedEnding, Handled};

use actix::Actor;
use anyhow::Context;
use tokio::sync::oneshot;

use crate::lifecycle::{announce_ready, CannotRun, RoleContext, Shutdown, Stop};
use crate::shm::{PriceTable, PriceTableReader, TakeOver};
use position::FeedPosition;

/// How often a finite replay looks for its first ring reader.
const READER_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs the orderbook until it is asked to stop or a finite feed ends.
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(serve(ctx))
}

async fn serve(ctx: RoleContext) -> anyhow::Result<()> {
    let shutdown = Shutdown::install(ctx.watch_parent)?;
    let cfg = &ctx.config;
    let name = &cfg.orderbook.shared_memory_name;
    let (table, position) = open_table(&ctx)?;
    let (done_tx, done_rx) = oneshot::channel();
    let writer = BookWriterActor::new(
        table,
        position,
        feed_ending(cfg),
        std::time::Duration::from_millis(cfg.orderbook.stats_interval_ms.max(1)),
        ctx.log.clone(),
        done_tx,
    )
    .start();
    let metrics = serve_metrics(cfg, &writer, &ctx.log)?;
    announce_ready("orderbook", &crate::metrics::ready_endpoints(&metrics));
    let awaits = cfg.orderbook.await_ring_reader && feed_ending(cfg) != FeedEnding::Never;
    let ready = !awaits || await_ring_reader(name, &shutdown, &ctx.log).await;
    let _feed = ready.then(|| {
        FeedActor::new(
            feed_settings(cfg),
            writer.clone().recipient(),
            shutdown.clone(),
            ctx.log.clone(),
        )
        .start()
    });
    tokio::select! {
        reason = shutdown.requested() => {
            slog::info!(ctx.log, "stopping"; "reason" => format!("{reason:?}"));
            // The writer logs totals and removes the segment; a failure to
            // deliver means it already stopped.
            let _ = writer.send(Stop).await;
        }
        _ = done_rx => {}
    }
    if let Some((_, server)) = metrics {
        server.stop(false).await;
    }
    Ok(())
}

/// The table to write and how much of the feed it already holds: the dead
/// predecessor's table taken over when the supervisor names one (its ring
/// continues, and the gateway resumes after its last tick), else a new one.
fn open_table(ctx: &RoleContext) -> anyhow::Result<(PriceTable, FeedPosition)> {
    let cfg = &ctx.config;
    let (name, ring) = (
        &cfg.orderbook.shared_memory_name,
        cfg.orderbook.ring_capacity,
    );
    if let Some(previous) = ctx.replaces {
        let taken = PriceTable::take_over(name, &cfg.symbols, ring, previous)
            .with_context(|| format!("taking over the price table {name:?}"))
            .map_err(CannotRun::Environment)?;
        match taken {
            TakeOver::Taken {
                table,
                feed_position,
                repaired_slots,
            } => {
                slog::info!(ctx.log, "price table taken over from the previous orderbook";
                    "name" => name, "previous_pid" => previous.pid,
                    "ticks" => table.ticks_written(), "resume_from" => feed_position,
                    "repaired_slots" => repaired_slots,
                    "generation" => format!("{:016x}", table.generation()));
                return Ok((*table, FeedPosition::resumed_at(feed_position)));
            }
            TakeOver::NotTaken(why) => {
                slog::warn!(ctx.log, "not taking over the previous orderbook's table: creating a new one (its readers start again)";
                    "name" => name, "previous_pid" => previous.pid, "why" => why);
            }
        }
    }
    let table = PriceTable::create(name, &cfg.symbols, ring)
        .with_context(|| format!("creating the price table {name:?}"))
        .map_err(CannotRun::Environment)?;
    if table.replaced_stale() {
        slog::warn!(ctx.log, "replaced a segment left by a dead writer"; "name" => name);
    }
    slog::info!(ctx.log, "price table created";
        "name" => name, "symbols" => cfg.symbols.len(),
        "ring_capacity" => ring, "generation" => format!("{:016x}", table.generation()));
    Ok((table, FeedPosition::default()))
}

/// Serves the role's `/metrics` on loopback when `orderbook.metrics_port`
/// is not -1: the writer's counts and the ring lag of its table.
fn serve_metrics(
    cfg: &crate::config::Config,
    writer: &actix::Addr<BookWriterActor>,
    log: &slog::Logger,
) -> anyhow::Result<Option<crate::metrics::Served>> {
    let Some(port) = crate::metrics::port_setting(cfg.orderbook.metrics_port) else {
        return Ok(None);
    };
    let table = PriceTableReader::attach(&cfg.orderbook.shared_memory_name)
        .context("viewing our own table for the metrics")
        .map_err(CannotRun::Environment)?;
    let source = crate::metrics::OrderbookSource {
        metrics: crate::metrics::OrderbookMetrics::new(),
        writer: writer.clone(),
        table: std::sync::Mutex::new(table),
    };
    let source = std::sync::Arc::new(source);
    let served =
        crate::metrics::serve_role("127.0.0.1", port, "orderbook.metrics_port", source, log)?;
    Ok(Some(served))
}

/// Waits until a ring reader has registered with table `name` (polled;
/// the writer's heartbeat goes on meanwhile); false if a stop came first.
/// Every tick of a finite replay is owed to its strategy, and the
/// guarantee starts at a reader's registration.
async fn await_ring_reader(name: &str, shutdown: &Shutdown, log: &slog::Logger) -> bool {
    let view = match PriceTableReader::attach(name) {
        Ok(view) => view,
        Err(e) => {
            slog::warn!(log, "cannot watch our own table for a ring reader; reading the feed now"; "error" => %e);
            return true;
        }
    };
    slog::info!(log, "waiting for a ring reader (the strategy) before reading the finite feed";
        "key" => "orderbook.await_ring_reader");
    while view.registered_readers().is_empty() {
        tokio::select! {
            _ = tokio::time::sleep(READER_POLL) => {}
            _ = shutdown.requested() => return false,
        }
    }
    true
}

/// What ends this run's feed: nothing when it loops; our gateway's
/// `#END` when it speaks the extensions (`gateway.send_time = true`);
/// otherwise the end of stream, as in the original protocol.
pub fn feed_ending(cfg: &crate::config::Config) -> FeedEnding {
    match (cfg.gateway.loop_replay, cfg.gateway.send_time) {
        (true, _) => FeedEnding::Never,
        (false, true) => FeedEnding::AtEndFrame,
        (false, false) => FeedEnding::AtEof,
    }
}

#[cfg(test)]
mod tests;
