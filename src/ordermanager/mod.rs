//! The ordermanager process: orders in from any number of strategies,
//! validated, risk-checked, executed, journaled, answered.
//!
//! * [`OrderSinkActor`] owns the journal and the positions. Each decision is
//!   appended to the [`journal`] and answered (`ACK,ID*` / `REJ,ID,REASON*`,
//!   only to orders that carry an id) after the commit that makes it durable.
//! * Each client connection is a session of [`serve_sessions`]: it frames
//!   what the client sends (a frame over `protocol.max_frame` without `*`
//!   closes that connection) and hands each socket read's frames to the actor
//!   in messages of at most `ordermanager.max_frames_per_turn` frames, each
//!   awaited, so other clients' frames are decided between a flooder's turns
//!   and the flooder is held back by TCP. The journal's commits run off the
//!   actor's thread, one at a time (`commit.rs`): the frames decided while
//!   one is on disk share the next, and a turn is answered (its session
//!   reads on) only once its commit is done. A writer task sends the answers. Connections beyond
//!   `ordermanager.max_connections` are refused; idle and slow-loris clients
//!   are cut. A client whose orders carry no id (the original Python client,
//!   which never reads) is never written to.
//! * On start the journal is streamed ([`OrderJournal::open`], [`replay`]),
//!   one record at a time, never held whole: positions, realised P&L, counts
//!   and the seen ids come back, and a resent id is answered again without a
//!   second execution ([`seen`] says what a very old id gets). A torn last
//!   record is reported and cut off; corruption before it stops start-up.
//!   `--fresh` sets the old journal aside first ([`journal::set_aside`]).
//! * Each frame goes through four steps: verdict (replay the recorded
//!   answer to a resent id; malformed; risk), record (append to the journal),
//!   apply (positions and counts, only from what was appended), answer
//!   (queued until the commit). A failed commit answers nothing more and
//!   exits with [`EXIT_JOURNAL_FAILED`], as does a journal that cannot be
//!   opened; a port that cannot be bound exits with
//!   [`Exit::Environment`].
//! * Admission ([`session`]): a connection's first frame must be
//!   `AUTH,NAME,TOKEN*` (answered `AUTH_OK*`) unless
//!   `ordermanager.require_auth` is off; otherwise it gets
//!   `REJ,-,AUTH_FAILED*` and is closed, unjournaled. The name scopes the
//!   client's ids ([`seen`]) and keys its limits; an unauthenticated client
//!   is keyed by its IP address and shares one id scope with the others.
//! * Risk ([`risk`]): MAX_QUANTITY, PRICE_RANGE, MAX_NOTIONAL, MAX_POSITION
//!   and RATE_LIMIT per client, GLOBAL_POSITION, PRICE_BAND around the shm
//!   table's last price (skipped, and said once, when the table is not
//!   reachable), HALTED between SIGUSR1 and SIGUSR2.
//! * Hostile clients: a resent id with other content gets `ID_MISMATCH`;
//!   id-less malformed frames are journaled as one summary record per
//!   client per second over all its connections (`garbage`); a client
//!   sending `max_malformed_in_a_row` malformed frames in a row, or leaving
//!   `max_reply_backlog` bytes unread, is cut, and its connection closed
//!   after `cut_linger_ms`.

mod commit;
mod garbage;
pub mod journal;
pub mod positions;
pub mod replay;
pub mod risk;
pub mod seen;
pub mod session;
mod sink;
pub(crate) mod verdict;

pub use journal::{read_journal, JournalRecord, JournalScan, OrderJournal, Outcome};
pub use positions::{Position, PositionBook};
pub use replay::{recover, replay_journal, JournalEnd, Recovered};
pub use seen::SeenIds;
pub use session::AuthPolicy;
pub(crate) use sink::SetHalted;
pub use sink::{OrderSinkActor, SinkCounts, SinkSettings};

/// Order clients' connections, as a link kind: the sink handles
/// `NetEvent<OrderClients>` for every client session.
pub enum OrderClients {}

use std::time::Duration;

use actix::{Actor, Addr};
use anyhow::Context as _;

use crate::lifecycle::{announce_ready, CannotRun, Exit, RoleContext, Shutdown, Stop};
use crate::net::{bind, serve_sessions};

/// The default of `ordermanager.max_reply_backlog`: answer bytes a client
/// may leave unread before it is disconnected. Small (thousands of answers),
/// so a client that never reads costs little memory and is cut early.
pub const MAX_REPLY_BACKLOG: usize = 256 * 1024;

/// Exit status of an ordermanager whose journal could not be written (a
/// failed write or fdatasync) or opened: [`Exit::Journal`] of the one table
/// of statuses. Fatal, so the supervisor stops the run instead of restarting
/// into the same disk; no order was answered that the journal does not hold.
pub const EXIT_JOURNAL_FAILED: i32 = Exit::Journal.code() as i32;

/// Why the ordermanager stopped on its own; each has its exit status.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The journal could not be written (see the log for the I/O error);
    /// the orders it did not hold were left unanswered.
    #[error("the order journal could not be written: stopped without answering")]
    JournalFailed,
}

impl StopError {
    /// The process exit status for this stop.
    pub fn exit_code(&self) -> i32 {
        match self {
            StopError::JournalFailed => EXIT_JOURNAL_FAILED,
        }
    }
}

/// How long a finished stop waits for a journal failure of its own final
/// flush to reach the system's stop code (one pass of the system's task).
const FINAL_FLUSH_VERDICT: Duration = Duration::from_millis(100);

/// Runs the ordermanager until it is asked to stop, or until the sink stops
/// the actix system itself (a journal failure, [`EXIT_JOURNAL_FAILED`]).
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    let system = actix_rt::System::new();
    let stopped = system.stop_future();
    system.block_on(async move {
        tokio::pin!(stopped);
        tokio::select! {
            served = serve(ctx) => served?,
            code = &mut stopped => return stop_code(code?),
        }
        // The stop's last flush may have failed too: the sink then stopped
        // the system with the journal's code, which must not become 0.
        match tokio::time::timeout(FINAL_FLUSH_VERDICT, stopped).await {
            Ok(code) => stop_code(code?),
            Err(_) => Ok(()),
        }
    })
}

/// The result for the code the actix system was stopped with.
fn stop_code(code: i32) -> anyhow::Result<()> {
    match code {
        0 => Ok(()),
        EXIT_JOURNAL_FAILED => Err(CannotRun::Journal(StopError::JournalFailed.into()).into()),
        code => Err(anyhow::anyhow!("the actix system stopped with code {code}")),
    }
}

async fn serve(ctx: RoleContext) -> anyhow::Result<()> {
    let shutdown = Shutdown::install(ctx.watch_parent)?;
    let cfg = &ctx.config;
    let om = &cfg.ordermanager;
    let log = ctx.log.clone();
    let token = cfg.ordermanager_token()?.map(str::to_string);
    if token.is_none() {
        slog::warn!(log, "require_auth is off and no token is set: ANY local user can trade";
            "key" => "ordermanager.require_auth");
    } else if !om.require_auth {
        slog::warn!(log, "require_auth is off: unauthenticated clients may trade, keyed by address";
            "key" => "ordermanager.require_auth");
    }
    let (journal, recovered) = open_journal(om, &log)?;
    let settings = SinkSettings {
        symbols: cfg.symbols.clone(),
        limits: om.risk_limits(),
        max_orders_per_sec: om.max_orders_per_sec,
        durability: om.durability,
        group_commit: Duration::from_millis(om.group_commit_ms),
        commit_lanes: om.commit_lanes.max(1),
        band_table: om.shared_memory_name.clone(),
        positions_every: Duration::from_millis(om.positions_interval_ms),
        max_reply_backlog: om.max_reply_backlog,
        auth: AuthPolicy {
            token,
            required: om.require_auth,
        },
        max_malformed_in_a_row: om.max_malformed_in_a_row,
    };
    let listener = bind(&om.host, om.port, "orders", "ordermanager.port").await?;
    let addr = listener.local_addr()?;
    slog::info!(log, "listening"; "orders" => %addr, "durability" => format!("{:?}", om.durability));
    let mut endpoints = vec![("orders", addr)];
    let (journal, metrics_server) = serve_metrics(journal, om, &log, &mut endpoints)?;
    let sink = OrderSinkActor::new(
        settings,
        journal,
        recovered.book,
        recovered.seen,
        log.clone(),
    )
    .start();
    announce_ready("ordermanager", &endpoints);
    let acceptor = tokio::spawn(serve_sessions(
        listener,
        cfg.order_session_limits(),
        sink.clone().recipient(),
        "orders",
        log.clone(),
    ));
    let halts = tokio::spawn(halt_signals(sink.clone()));
    let reason = shutdown.requested().await;
    slog::info!(log, "stopping"; "reason" => format!("{reason:?}"));
    acceptor.abort();
    halts.abort();
    let _ = sink.send(Stop).await;
    if let Some(server) = metrics_server {
        server.stop(false).await;
    }
    Ok(())
}

/// Opens the journal at `ordermanager.journal_path`, reserving space ahead
/// as configured, and recovers what it holds (logged, with a torn tail
/// reported): the sink starts from it.
fn open_journal(
    om: &crate::config::OrderManagerConfig,
    log: &slog::Logger,
) -> anyhow::Result<(OrderJournal, Recovered)> {
    let mut recovered = Recovered::new();
    let (journal, scan) = OrderJournal::open(&om.journal_path, |r| recovered.take(r))
        .with_context(|| {
            format!(
                "opening the journal {} (ordermanager.journal_path)",
                om.journal_path.display()
            )
        })
        .map_err(CannotRun::Journal)?;
    let journal = journal.reserving(om.journal_reserve_kib.saturating_mul(1024));
    if scan.torn_tail {
        slog::warn!(log, "journal ended in a torn record (a crash mid-write): it was cut off";
            "kept_bytes" => scan.end_offset);
    }
    // The journal's first record says since when its history runs: a
    // start without `--fresh` carries every earlier run's positions.
    let since = scan
        .first_recv_ns
        .map_or_else(|| "empty".to_string(), utc_time);
    slog::info!(log, "recovered"; "records" => scan.records, "accepted" => recovered.accepted,
        "rejected" => recovered.rejected, "ids" => recovered.seen.len(),
        "ids_exact" => recovered.seen.exact_len(), "torn_tail" => scan.torn_tail,
        "journal" => %om.journal_path.display(), "journal_since" => since);
    Ok((journal, recovered))
}

/// Serves the role's `/metrics` when `ordermanager.metrics_port` is not -1,
/// with `journal` feeding it, and adds its address to `endpoints`.
fn serve_metrics(
    journal: OrderJournal,
    om: &crate::config::OrderManagerConfig,
    log: &slog::Logger,
    endpoints: &mut Vec<(&'static str, std::net::SocketAddr)>,
) -> anyhow::Result<(OrderJournal, Option<actix_web::dev::ServerHandle>)> {
    let Some(port) = crate::metrics::port_setting(om.metrics_port) else {
        return Ok((journal, None));
    };
    let metrics = std::sync::Arc::new(crate::metrics::OrderManagerMetrics::new());
    let key = "ordermanager.metrics_port";
    let (addr, server) = crate::metrics::serve_role(&om.host, port, key, metrics.clone(), log)?;
    endpoints.push(("metrics", addr));
    Ok((journal.with_metrics(metrics), Some(server)))
}

/// `ns` since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (whole seconds), for
/// the journal's start time in the log and the run summary.
pub fn utc_time(ns: i64) -> String {
    let mut text = Vec::new();
    crate::protocol::write_event_time(&mut text, ns - ns.rem_euclid(1_000_000_000));
    format!("{} UTC", String::from_utf8_lossy(&text))
}

/// SIGUSR1 halts trading, SIGUSR2 resumes it.
async fn halt_signals(sink: Addr<OrderSinkActor>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut halt = signal(SignalKind::user_defined1())?;
    let mut resume = signal(SignalKind::user_defined2())?;
    loop {
        tokio::select! {
            _ = halt.recv() => sink.do_send(SetHalted(true)),
            _ = resume.recv() => sink.do_send(SetHalted(false)),
        }
    }
}

#[cfg(test)]
mod tests;
