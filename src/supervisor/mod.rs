//! `--all`: the four roles as supervised child processes of this binary.
//!
//! One [`ChildActor`] per role runs `<this binary> --role NAME --config …
//! --exit-with-parent` in its own process group (so the terminal's Ctrl+C
//! reaches only the supervisor) with its stdin held open (so a supervisor
//! that dies, even by SIGKILL, takes its children with it); a
//! [`SupervisorActor`] decides what the run does with their news.
//!
//! * **Start order without sleeps**: ordermanager and gateway first; their
//!   READY lines give the real ports (port 0 works), which every later start
//!   — restarts of the listeners themselves included — gets as `TRADING__…`
//!   overrides; then the orderbook; once it is ready, the strategy. A start
//!   that prints no READY line within [`READY_TIMEOUT`] ends the run with an
//!   error naming the role.
//! * **Restarts**: a child that dies unexpectedly (exit status 1, or any
//!   status outside the table of [`crate::lifecycle::exit`], or a signal) is
//!   restarted after an exponential backoff (`supervisor.backoff_initial_ms`
//!   doubling up to `backoff_max_ms` while earlier restarts are inside the
//!   window); more than `supervisor.max_restarts` restarts within
//!   `restart_window_s` stop the run with an error naming the role (exit
//!   status 1). A child that exits 0 has finished and is not restarted.
//! * **Fatal exits**: a child that exits with a fatal status (2
//!   configuration, 3 journal, 4 environment such as a port in use, 5 data
//!   file) is not restarted: the run stops at once, in order, and ends with
//!   `error: <role> cannot run: <the child's last error line>` on the
//!   terminal and the child's status as its own.
//! * **Stopping**: Ctrl+C or SIGTERM stops the children in order — gateway,
//!   orderbook, strategy, ordermanager, so the strategy's last orders still
//!   reach the ordermanager — each with SIGTERM, then SIGKILL after
//!   `stop_timeout_ms`; then the shm segment is removed, the summary printed
//!   on stdout, and the process exits 0. Only a segment this run's orderbook
//!   created is removed: its header must name one of the orderbook processes
//!   the run started (pid and start time). Another run's table, or a file
//!   that is not a table, is left alone, and the log says so.
//! * **A finite replay** (`gateway.loop = false`) ends by itself: the gateway
//!   sends the data once and exits 0, the orderbook marks the table's feed
//!   ended and exits 0, and the strategy exits 0 once it has read every tick
//!   and every order it sent is answered. When the strategy has exited 0 the
//!   supervisor stops what still runs (the ordermanager, last) in the same
//!   order as for Ctrl+C, removes the segment, prints the summary and exits 0.
//!   (Any run in which every child has exited 0 ends the same way.)
//! * **One run per table**: a configuration whose shm table already has a
//!   live writer (another run; alive even if stopped or hung, which leaves its
//!   heartbeat stale) is refused before any child starts.
//!
//! While it runs, a one-line status (ticks/s and ticks from the table,
//! accepted orders and rejects from the journal, restarts) is redrawn on the
//! terminal four times a second; without a terminal it goes to `main.log`
//! every few seconds. Child starts, exits and restarts are logged there too
//! (`child started` with `role` and `pid`, `child exited` with `role` and
//! `status`, `restarting` with `role`, `delay_ms` and `restarts`).

mod actor;
mod child;
mod messages;
mod output;
pub mod status;

pub use actor::{generate_token, run_token_env, Launch, StopRun, SupervisorActor};
pub use child::ChildActor;
pub use messages::{ChildEvent, ChildSpec, GetRestarts, GetStarted, SharedEnv, StartChild};
pub use status::RunStats;

use std::io::IsTerminal;
use std::time::Duration;

use actix::Actor;
use anyhow::{anyhow, bail};
use slog::Logger;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::lifecycle::{Role, RoleContext, Shutdown};
use crate::shm::{PriceTableReader, WriterStatus};

/// How long a child may take from its start to its READY line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A writer whose heartbeat is older than this is called stopped or hung
/// in the refusal message (it still owns the table while it exists).
const LIVE_WRITER_MAX_AGE_NS: i64 = 2_000_000_000;

/// Runs the whole system until Ctrl+C/SIGTERM, a finite run's end, or a
/// child that keeps dying.
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    let exe =
        std::env::current_exe().map_err(|e| anyhow!("cannot find this program's path: {e}"))?;
    // Children read the same file; with none, they fall back to the same
    // built-in defaults as this process (same working directory).
    let config_args: Vec<String> = match &ctx.config_path {
        Some(path) => vec!["--config".into(), path.display().to_string()],
        None => Vec::new(),
    };
    let specs = Role::ALL
        .iter()
        .map(|&role| ChildSpec {
            role,
            program: exe.clone(),
            args: ["--role", role.name()]
                .into_iter()
                .map(String::from)
                .chain(config_args.iter().cloned())
                .chain(["--exit-with-parent".to_string()])
                .collect(),
            names_predecessor: role == Role::Orderbook,
        })
        .collect();
    supervise(ctx.config, specs, ctx.log, Supervision::default()).map(|_| ())
}

/// How a supervised run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Restarts per role, in stop order: the budget's record of the run.
    pub restarts: Vec<(Role, u32)>,
    /// The summary table printed at the end.
    pub summary: String,
}

/// What [`supervise`] may be told besides the configuration; the defaults
/// are those of a real run, tests shorten or replace them.
pub struct Supervision {
    /// How long a child may take to print its READY line.
    pub ready_timeout: Duration,
    /// Where stop requests come from; `None`: this process's SIGINT/SIGTERM.
    pub shutdown: Option<Shutdown>,
    /// Redraw a status line on stderr; `None`: when stderr is a terminal.
    pub terminal: Option<bool>,
}

impl Default for Supervision {
    fn default() -> Supervision {
        Supervision {
            ready_timeout: READY_TIMEOUT,
            shutdown: None,
            terminal: None,
        }
    }
}

/// Supervises `specs` (one per role) under `config` until the run ends; the
/// test seam of [`run`], where fake children replace the roles.
pub fn supervise(
    config: Config,
    specs: Vec<ChildSpec>,
    log: Logger,
    how: Supervision,
) -> anyhow::Result<RunReport> {
    refuse_a_live_table(&config.orderbook.shared_memory_name)?;
    let terminal = how
        .terminal
        .unwrap_or_else(|| std::io::stderr().is_terminal());
    actix_rt::System::new().block_on(async move {
        let shutdown = match how.shutdown {
            Some(s) => s,
            None => Shutdown::install(false)?,
        };
        let (done_tx, done_rx) = oneshot::channel();
        let sup =
            SupervisorActor::new(config, log.clone(), how.ready_timeout, terminal, done_tx).start();
        sup.do_send(Launch(specs));
        let stopper = sup.clone();
        actix_rt::spawn(async move {
            let reason = shutdown.requested().await;
            stopper.do_send(StopRun(format!("{reason:?}")));
        });
        done_rx
            .await
            .unwrap_or_else(|_| Err(anyhow!("the supervisor stopped unexpectedly")))
    })
}

/// Refuses to start when another run's orderbook writes the table.
///
/// A writer whose process exists owns the table even when its heartbeat is
/// stale (stopped with SIGSTOP, or hung): our orderbook could not create the
/// table anyway, and the run would only fail later, less clearly.
fn refuse_a_live_table(name: &str) -> anyhow::Result<()> {
    if let Ok(r) = PriceTableReader::attach(name) {
        let now = crate::clock::unix_now_ns();
        let quiet = match r.writer_status(now, LIVE_WRITER_MAX_AGE_NS) {
            WriterStatus::Dead => return Ok(()),
            WriterStatus::Alive => "",
            WriterStatus::Stale => ", though its heartbeat is stale: stopped or hung?",
        };
        bail!(
            "the price table {name:?} is being written by a live orderbook (pid {}{quiet}): \
             another run is active; stop it or set orderbook.shared_memory_name",
            r.writer_pid()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_child;
