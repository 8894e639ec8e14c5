//! [`ChildActor`]: one supervised child process — start, readiness, restart
//! with backoff within a budget, and an orderly stop.
//!
//! The actor owns everything about its process: the stdin it holds open
//! (closing it tells a `--exit-with-parent` child that its parent is gone),
//! the stdout it reads the READY line from and then drains, the stderr
//! whose last line says why it failed, the restart budget, and the
//! SIGTERM-then-SIGKILL stop ([`Stop`]). The [`SupervisorActor`] only hears
//! what matters to the whole run as [`ChildEvent`]s.
//!
//! A child that exits with a fatal status of the table in
//! [`crate::lifecycle::exit`] (configuration, journal, environment, data)
//! is not restarted: a restart would hit the same wall. It is reported as
//! [`ChildEvent::CannotRun`] with its own last error line.
//!
//! [`SupervisorActor`]: super::SupervisorActor

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient, ResponseActFuture,
    WrapFuture,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slog::Logger;
use tokio::process::{ChildStdin, Command};
use tokio::sync::oneshot;

use super::messages::{ChildEvent, ChildSpec, GetRestarts, GetStarted, SharedEnv, StartChild};
use super::output::{last_error_line, watch_stdout};
use crate::config::SupervisorConfig;
use crate::lifecycle::{Exit, Stop};
use crate::shm::ProcessIdentity;

/// How long an exited child's stdout and stderr may stay open before its
/// exit is reported anyway (a grandchild could hold them). Waiting for them
/// at all is what guarantees a READY line is reported before the exit that
/// follows it, and that the exit carries the child's last error line.
const OUTPUT_LINGER: Duration = Duration::from_millis(500);

/// The READY line of start number `run`.
#[derive(Message)]
#[rtype(result = "()")]
struct ReadySeen {
    run: u64,
    endpoints: Vec<(String, SocketAddr)>,
}

/// Start number `run` exited.
#[derive(Message)]
#[rtype(result = "()")]
struct Exited {
    /// Which start.
    run: u64,
    /// How it ended, for the log (`exit status: 3`, `signal: 9 (SIGKILL)`).
    status: String,
    /// Its exit code; `None` when a signal ended it.
    code: Option<i32>,
    /// Its last stderr line, if any.
    last_error: Option<String>,
}

/// Supervises one child process.
pub struct ChildActor {
    /// What to run.
    spec: ChildSpec,
    /// Overrides added to every start.
    env: SharedEnv,
    /// Backoff, budget and grace period.
    limits: SupervisorConfig,
    /// How long a start may take to print READY before the run fails.
    ready_timeout: Duration,
    /// The supervisor.
    parent: Recipient<ChildEvent>,
    /// main.log.
    log: Logger,
    /// Pid of the running child.
    pid: Option<u32>,
    /// Held open: the child (`--exit-with-parent`) stops when it closes.
    stdin: Option<ChildStdin>,
    /// Number of the current start, so that reports of an earlier one are ignored.
    run: u64,
    /// Whether the current start printed READY.
    ready: bool,
    /// Times of the restarts still inside the budget window.
    recent: VecDeque<Instant>,
    /// Restarts in total.
    restarts: u32,
    /// No more restarts: stopping, finished or failed.
    stopping: bool,
    /// Told when the child has exited.
    exit_waiters: Vec<oneshot::Sender<()>>,
    /// Identity of every process started, for [`GetStarted`].
    started: Vec<ProcessIdentity>,
}

impl ChildActor {
    /// An actor for `spec`, reporting to `parent`.
    pub fn new(
        spec: ChildSpec,
        env: SharedEnv,
        limits: SupervisorConfig,
        ready_timeout: Duration,
        parent: Recipient<ChildEvent>,
        log: Logger,
    ) -> ChildActor {
        ChildActor {
            spec,
            env,
            limits,
            ready_timeout,
            parent,
            log,
            pid: None,
            stdin: None,
            run: 0,
            ready: false,
            recent: VecDeque::new(),
            restarts: 0,
            stopping: false,
            exit_waiters: Vec::new(),
            started: Vec::new(),
        }
    }

    /// The child exited with a fatal status: no restart, the run must end.
    fn cannot_run(&mut self, exit: Exit, line: Option<String>) {
        self.stopping = true;
        slog::crit!(self.log, "child cannot run: not restarting it";
            "child" => self.spec.role.name(), "exit" => %exit,
            "line" => line.as_deref().unwrap_or("(nothing on stderr)"));
        self.parent.do_send(ChildEvent::CannotRun {
            role: self.spec.role,
            exit,
            line,
        });
    }

    fn fail(&mut self, why: String) {
        self.stopping = true;
        slog::crit!(self.log, "child failed"; "child" => self.spec.role.name(), "why" => &why);
        self.parent.do_send(ChildEvent::Failed(self.spec.role, why));
    }

    fn spawn(&mut self, ctx: &mut Context<Self>) {
        let role = self.spec.role;
        let mut cmd = Command::new(&self.spec.program);
        cmd.args(&self.spec.args);
        if let Some(previous) = self.started.last().filter(|_| self.spec.names_predecessor) {
            cmd.arg("--replaces").arg(previous.to_string());
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: the terminal's Ctrl+C reaches only us.
            .process_group(0)
            .kill_on_drop(false);
        for (k, v) in self.env.lock().map(|e| e.clone()).unwrap_or_default() {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let program = self.spec.program.display();
                return self.fail(format!(
                    "{} cannot be started ({program}): {e}",
                    role.name()
                ));
            }
        };
        self.run += 1;
        self.ready = false;
        self.pid = child.id();
        // Read before anything can reap it: until our `wait` below, the pid
        // stays this child's (a zombie at worst) with its start time.
        if let Some(id) = self.pid.and_then(ProcessIdentity::of) {
            self.started.push(id);
        }
        self.stdin = child.stdin.take();
        slog::info!(self.log, "child started"; "child" => role.name(), "pid" => self.pid.unwrap_or(0));
        let me = ctx.address();
        let run = self.run;
        let reader = child.stdout.take().map(|out| {
            let me = me.clone();
            tokio::spawn(watch_stdout(out, move |endpoints| {
                me.do_send(ReadySeen { run, endpoints })
            }))
        });
        let errors = child
            .stderr
            .take()
            .map(|err| tokio::spawn(last_error_line(err, role.name(), self.log.clone())));
        tokio::spawn(async move {
            let (status, code) = match child.wait().await {
                Ok(s) => (s.to_string(), s.code()),
                Err(e) => (format!("wait failed: {e}"), None),
            };
            let linger = tokio::time::Instant::now() + OUTPUT_LINGER;
            if let Some(reader) = reader {
                let _ = tokio::time::timeout_at(linger, reader).await;
            }
            let mut last_error = None;
            if let Some(errors) = errors {
                if let Ok(Ok(line)) = tokio::time::timeout_at(linger, errors).await {
                    last_error = line;
                }
            }
            me.do_send(Exited {
                run,
                status,
                code,
                last_error,
            });
        });
        ctx.run_later(self.ready_timeout, move |act, _| {
            if act.run == run && act.pid.is_some() && !act.ready && !act.stopping {
                let why = format!(
                    "{} printed no READY line within {:.1} s",
                    role.name(),
                    act.ready_timeout.as_secs_f64()
                );
                act.fail(why);
            }
        });
    }

    /// Counts a restart against the budget: `Some(delay)` if it fits.
    ///
    /// The delay doubles with every restart still inside the window, from
    /// `backoff_initial_ms` up to `backoff_max_ms`, so a child that has run
    /// quietly for a whole window starts again from the short delay.
    fn budget_allows(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let window = Duration::from_secs(self.limits.restart_window_s);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.limits.max_restarts as usize {
            return None;
        }
        let doublings = self.recent.len().min(32) as u32;
        self.recent.push_back(now);
        let ms = self
            .limits
            .backoff_initial_ms
            .saturating_mul(1u64 << doublings)
            .min(
                self.limits
                    .backoff_max_ms
                    .max(self.limits.backoff_initial_ms),
            );
        Some(Duration::from_millis(ms))
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

impl Handler<ReadySeen> for ChildActor {
    type Result = ();

    fn handle(&mut self, msg: ReadySeen, _: &mut Context<Self>) {
        if msg.run == self.run && !self.ready {
            self.ready = true;
            // Reported even when stopping: a finite run's orderbook may have
            // finished already, and the strategy still has to start.
            self.parent
                .do_send(ChildEvent::Ready(self.spec.role, msg.endpoints));
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
        match msg.code.and_then(Exit::from_code) {
            Some(Exit::Ok) => {
                self.stopping = true;
                self.parent.do_send(ChildEvent::Finished(role));
                return;
            }
            Some(exit) if exit.is_fatal() => return self.cannot_run(exit, msg.last_error),
            _ => {}
        }
        let Some(delay) = self.budget_allows() else {
            let why = format!(
                "{} died more than {} times within {} s (last: {})",
                role.name(),
                self.limits.max_restarts,
                self.limits.restart_window_s,
                msg.status
            );
            return self.fail(why);
        };
        self.restarts += 1;
        slog::warn!(self.log, "restarting"; "child" => role.name(),
            "delay_ms" => delay.as_millis() as u64, "restarts" => self.restarts);
        self.parent.do_send(ChildEvent::Restarting {
            role,
            delay,
            restarts: self.restarts,
        });
        ctx.run_later(delay, |act, ctx| {
            if !act.stopping && act.pid.is_none() {
                act.spawn(ctx);
            }
        });
    }
}

/// Stop the child: SIGTERM, then SIGKILL after the grace period. Resolves
/// once it has exited; no restart follows.
impl Handler<Stop> for ChildActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
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
                slog::warn!(act.log, "child ignored SIGTERM: killing it";
                    "child" => act.spec.role.name(), "pid" => pid);
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

impl Handler<GetStarted> for ChildActor {
    type Result = Vec<ProcessIdentity>;

    fn handle(&mut self, _: GetStarted, _: &mut Context<Self>) -> Vec<ProcessIdentity> {
        self.started.clone()
    }
}

impl Handler<GetRestarts> for ChildActor {
    type Result = u32;

    fn handle(&mut self, _: GetRestarts, _: &mut Context<Self>) -> u32 {
        self.restarts
    }
}
