//! [`ChildActor`]: one supervised child process — start, readiness, restart
//! with backoff within a budget, and an orderly stop.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient, ResponseActFuture,
    WrapFuture,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slog::Logger;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::oneshot;

use crate::config::SupervisorConfig;
use crate::lifecycle::{parse_ready_line, Role};

/// How to start a child: the program and its arguments. The supervisor uses
/// its own executable with `--role NAME`; tests substitute `sh -c '…'`.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Which role the child plays (names logs and summaries).
    pub role: Role,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Environment overrides every start of every child gets (resolved ports).
pub type SharedEnv = Arc<Mutex<Vec<(String, String)>>>;

/// What a child reports to the supervisor.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum ChildEvent {
    /// It printed its READY line (endpoints by name).
    Ready(Role, Vec<(String, SocketAddr)>),
    /// It exited 0: finished, not restarted.
    Finished(Role),
    /// It died more often than the restart budget allows.
    GaveUp(Role, String),
}

/// Start the child (first start; restarts are the actor's own business).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartChild;

/// Stop the child: SIGTERM, then SIGKILL after the grace period. Resolves once it exited.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChild;

/// Restarts so far, for the summary.
#[derive(Message)]
#[rtype(result = "u32")]
pub struct GetRestarts;

#[derive(Message)]
#[rtype(result = "()")]
struct Exited {
    run: u64,
    status: String,
    success: bool,
}

/// Supervises one child process.
pub struct ChildActor {
    spec: ChildSpec,
    env: SharedEnv,
    limits: SupervisorConfig,
    parent: Recipient<ChildEvent>,
    log: Logger,
    /// Pid of the running child.
    pid: Option<u32>,
    /// Held open: the child (`--exit-with-parent`) stops when it closes.
    stdin: Option<ChildStdin>,
    /// Number of the current start, so a stale exit report is ignored.
    run: u64,
    /// Start times of recent restarts, for the budget window.
    recent: VecDeque<Instant>,
    /// Restarts in total.
    restarts: u32,
    /// Next restart delay.
    delay: Duration,
    /// No more restarts: stopping or finished.
    stopping: bool,
    /// Told when the child has exited.
    exit_waiters: Vec<oneshot::Sender<()>>,
}

impl ChildActor {
    /// An actor for `spec`, reporting to `parent`.
    pub fn new(
        spec: ChildSpec,
        env: SharedEnv,
        limits: SupervisorConfig,
        parent: Recipient<ChildEvent>,
        log: Logger,
    ) -> ChildActor {
        let delay = Duration::from_millis(limits.backoff_initial_ms);
        ChildActor {
            spec,
            env,
            limits,
            parent,
            log,
            pid: None,
            stdin: None,
            run: 0,
            recent: VecDeque::new(),
            restarts: 0,
            delay,
            stopping: false,
            exit_waiters: Vec::new(),
        }
    }

    fn spawn(&mut self, ctx: &mut Context<Self>) {
        let role = self.spec.role;
        let mut cmd = Command::new(&self.spec.program);
        cmd.args(&self.spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        for (k, v) in self.env.lock().map(|e| e.clone()).unwrap_or_default() {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                slog::error!(self.log, "cannot start child"; "child" => role.name(), "error" => %e);
                self.parent
                    .do_send(ChildEvent::GaveUp(role, format!("cannot start: {e}")));
                self.stopping = true;
                return;
            }
        };
        self.run += 1;
        self.pid = child.id();
        self.stdin = child.stdin.take();
        slog::info!(self.log, "child started"; "child" => role.name(), "pid" => self.pid.unwrap_or(0));
        if let Some(out) = child.stdout.take() {
            let parent = self.parent.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                let mut ready = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if !ready {
                        if let Some((_, endpoints)) = parse_ready_line(&line) {
                            ready = true;
                            parent.do_send(ChildEvent::Ready(role, endpoints));
                        }
                    }
                }
            });
        }
        let me = ctx.address();
        let run = self.run;
        tokio::spawn(async move {
            let (status, success) = match child.wait().await {
                Ok(s) => (s.to_string(), s.success()),
                Err(e) => (e.to_string(), false),
            };
            me.do_send(Exited {
                run,
                status,
                success,
            });
        });
    }

    /// Whether one more restart fits the budget (and records it).
    fn budget_allows(&mut self) -> bool {
        let now = Instant::now();
        let window = Duration::from_secs(self.limits.restart_window_s);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.limits.max_restarts {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

impl Actor for ChildActor {
    type Context = Context<Self>;
}

impl Handler<StartChild> for ChildActor {
    type Result = ();

    fn handle(&mut self, _: StartChild, ctx: &mut Context<Self>) {
        if self.pid.is_none() && !self.stopping {
            self.spawn(ctx);
        }
    }
}

impl Handler<Exited> for ChildActor {
    type Result = ();

    fn handle(&mut self, msg: Exited, ctx: &mut Context<Self>) {
        if msg.run != self.run {
            return;
        }
        let role = self.spec.role;
        self.pid = None;
        self.stdin = None;
        slog::info!(self.log, "child exited"; "child" => role.name(), "status" => &msg.status);
        for w in self.exit_waiters.drain(..) {
            let _ = w.send(());
        }
        if self.stopping {
            return;
        }
        if msg.success {
            self.stopping = true;
            self.parent.do_send(ChildEvent::Finished(role));
            return;
        }
        if !self.budget_allows() {
            self.stopping = true;
            let why = format!(
                "{} died {} times within {} s (last: {})",
                role.name(),
                self.limits.max_restarts + 1,
                self.limits.restart_window_s,
                msg.status
            );
            slog::crit!(self.log, "restart budget exhausted"; "child" => role.name(), "status" => &msg.status);
            self.parent.do_send(ChildEvent::GaveUp(role, why));
            return;
        }
        self.restarts += 1;
        let delay = self.delay;
        self.delay = (self.delay * 2).min(Duration::from_millis(self.limits.backoff_max_ms));
        slog::warn!(self.log, "restarting"; "child" => role.name(), "delay_ms" => delay.as_millis() as u64, "restarts" => self.restarts);
        ctx.run_later(delay, |act, ctx| {
            if !act.stopping && act.pid.is_none() {
                act.spawn(ctx);
            }
        });
    }
}

impl Handler<StopChild> for ChildActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let Some(pid) = self.pid else {
            return Box::pin(async {}.into_actor(self));
        };
        let (tx, rx) = oneshot::channel();
        self.exit_waiters.push(tx);
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        let grace = Duration::from_millis(self.limits.stop_timeout_ms);
        let run = self.run;
        ctx.run_later(grace, move |act, _| {
            if act.run == run && act.pid == Some(pid) {
                slog::warn!(act.log, "child ignored SIGTERM: killing it"; "child" => act.spec.role.name(), "pid" => pid);
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        });
        Box::pin(
            async move {
                let _ = rx.await;
            }
            .into_actor(self)
            .map(|_, _, _| ()),
        )
    }
}

impl Handler<GetRestarts> for ChildActor {
    type Result = u32;

    fn handle(&mut self, _: GetRestarts, _: &mut Context<Self>) -> u32 {
        self.restarts
    }
}
