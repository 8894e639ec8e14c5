//! Process life cycle shared by every role: readiness, shutdown and exit
//! statuses ([`exit`]: the one table of what each status means).
//!
//! A role that listens prints one `READY` line on stdout once its listeners
//! are bound, naming the real addresses (port 0 in the configuration means
//! "pick a free one"). The supervisor and the integration tests read that
//! line instead of sleeping or guessing ports. Terminal log lines go to
//! stderr, so stdout carries nothing else.
//!
//! Shutdown is requested by SIGINT, SIGTERM or, for a supervised child, by
//! its stdin closing: the supervisor holds the other end, so a supervisor
//! that dies, even by SIGKILL, takes its children with it.

pub mod exit;

pub use exit::{exit_for, CannotRun, Exit};

use std::io::{Read, Write};
use std::net::SocketAddr;

use std::path::PathBuf;

use slog::Logger;
use tokio::sync::watch;

use crate::config::Config;

/// The four processes of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Role {
    /// Market data and news source.
    Gateway,
    /// Market data consumer, the shm table's only writer.
    Orderbook,
    /// Signals and order sending.
    Strategy,
    /// Validation, risk, execution and the journal.
    Ordermanager,
}

impl Role {
    /// Every role, in the order the supervisor stops them (producers first,
    /// so the last orders still reach a running ordermanager).
    pub const ALL: [Role; 4] = [
        Role::Gateway,
        Role::Orderbook,
        Role::Strategy,
        Role::Ordermanager,
    ];

    /// The name used on the command line (`--role NAME`) and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Orderbook => "orderbook",
            Role::Strategy => "strategy",
            Role::Ordermanager => "ordermanager",
        }
    }

    /// The log file under `logs.dir`; names kept from the original system.
    pub fn log_file(self) -> &'static str {
        match self {
            Role::Gateway => "gateway.log",
            Role::Orderbook => "orderbook.log",
            Role::Strategy => "strategy.log",
            Role::Ordermanager => "order_manager.log",
        }
    }
}

/// What a role's `run` gets: everything decided before the role starts.
pub struct RoleContext {
    /// The validated configuration.
    pub config: Config,
    /// Where the configuration came from, so the supervisor can pass it on.
    pub config_path: Option<PathBuf>,
    /// The process's root logger.
    pub log: Logger,
    /// Stop when stdin closes (set for children of the supervisor).
    pub watch_parent: bool,
    /// The dead process of the same role this one was started in place of
    /// (set by the supervisor on a restart): the orderbook continues its
    /// table instead of starting the feed over.
    pub replaces: Option<crate::shm::ProcessIdentity>,
}

/// Writes `READY <role> name=addr ...` on stdout and flushes it.
pub fn announce_ready(role: &str, endpoints: &[(&str, SocketAddr)]) {
    let mut line = format!("READY {role}");
    for (name, addr) in endpoints {
        line.push_str(&format!(" {name}={addr}"));
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout only means nobody listens for readiness.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reads a line written by [`announce_ready`]: the role and its endpoints.
pub fn parse_ready_line(line: &str) -> Option<(String, Vec<(String, SocketAddr)>)> {
    let mut words = line.split_whitespace();
    if words.next()? != "READY" {
        return None;
    }
    let role = words.next()?.to_string();
    let mut endpoints = Vec::new();
    for w in words {
        let (name, addr) = w.split_once('=')?;
        endpoints.push((name.to_string(), addr.parse().ok()?));
    }
    Some((role, endpoints))
}

/// Why the process was asked to stop, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Not asked yet.
    Running,
    /// SIGINT (Ctrl+C).
    Interrupt,
    /// SIGTERM (the supervisor, or `kill`).
    Terminate,
    /// The supervising parent closed our stdin: it is gone.
    ParentGone,
}

/// A cloneable handle that resolves once the process is asked to stop.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<StopReason>,
}

impl Shutdown {
    /// Installs the signal handlers (and the stdin watch when `watch_parent`).
    ///
    /// Must be called inside a tokio runtime (an actix system is one).
    pub fn install(watch_parent: bool) -> std::io::Result<Shutdown> {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, rx) = watch::channel(StopReason::Running);
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let sig_tx = tx.clone();
        tokio::spawn(async move {
            let reason = tokio::select! {
                _ = int.recv() => StopReason::Interrupt,
                _ = term.recv() => StopReason::Terminate,
            };
            let _ = sig_tx.send(reason);
        });
        if watch_parent {
            std::thread::Builder::new()
                .name("parent-watch".into())
                .spawn(move || {
                    let mut sink = [0u8; 64];
                    let mut stdin = std::io::stdin();
                    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                    let _ = tx.send(StopReason::ParentGone);
                })?;
        }
        Ok(Shutdown { rx })
    }

    /// A handle that only stops when [`ShutdownTrigger::trigger`] is called on its pair (tests).
    pub fn manual() -> (Shutdown, ShutdownTrigger) {
        let (tx, rx) = watch::channel(StopReason::Running);
        (Shutdown { rx }, ShutdownTrigger { tx })
    }

    /// Resolves with the reason once a stop is requested.
    pub async fn requested(&self) -> StopReason {
        let mut rx = self.rx.clone();
        loop {
            let now = *rx.borrow_and_update();
            if now != StopReason::Running {
                return now;
            }
            if rx.changed().await.is_err() {
                // Every sender is gone: nothing can ask us to stop any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether a stop has been requested, without waiting.
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow() != StopReason::Running
    }
}

/// Requests a stop of a [`Shutdown::manual`] handle.
pub struct ShutdownTrigger {
    tx: watch::Sender<StopReason>,
}

impl ShutdownTrigger {
    /// Asks every clone of the paired handle to stop.
    pub fn trigger(&self) {
        let _ = self.tx.send(StopReason::Terminate);
    }
}

/// Asks a role's main actor to finish: flush what it owes (answers, journal
/// records, final counts in the log), then stop. One message type for every
/// role, so "stop" means the same thing wherever it is sent.
#[derive(actix::Message, Debug, Clone, Copy, Default)]
#[rtype(result = "()")]
pub struct Stop;

/// Asks an actor for a snapshot of its counters of type `C` (tests, the
/// final log line, status). Generic so every role's query reads the same:
/// `addr.send(GetCounts::<SinkCounts>::new())`.
pub struct GetCounts<C>(std::marker::PhantomData<fn() -> C>);

impl<C> GetCounts<C> {
    /// The query.
    pub fn new() -> Self {
        GetCounts(std::marker::PhantomData)
    }
}

impl<C> Default for GetCounts<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: 'static> actix::Message for GetCounts<C> {
    type Result = C;
}

/// Polls `cond` every few milliseconds until it holds; panics naming `what`
/// after `limit`. Tests use it instead of fixed sleeps, so a slow machine
/// only makes them slower, and a condition that never comes fails loudly
/// instead of letting the test go on with a timed-out wait.
#[cfg(test)]
pub(crate) async fn wait_until<F, Fut>(what: &str, limit: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_round_trip() {
        let line = "READY gateway md=127.0.0.1:4000 news=127.0.0.1:4001";
        let (role, eps) = parse_ready_line(line).unwrap();
        assert_eq!(role, "gateway");
        assert_eq!(eps[0].0, "md");
        assert_eq!(eps[1].1, "127.0.0.1:4001".parse().unwrap());
        assert!(parse_ready_line("hello").is_none());
        assert!(parse_ready_line("READY x md=nonsense").is_none());
    }

    #[actix_rt::test]
    async fn a_manual_trigger_resolves_every_clone() {
        let (shutdown, trigger) = Shutdown::manual();
        let other = shutdown.clone();
        assert!(!shutdown.is_requested());
        trigger.trigger();
        assert_eq!(other.requested().await, StopReason::Terminate);
        assert!(shutdown.is_requested());
    }
}
