//! `--all`: the four roles as supervised child processes of this binary.
//!
//! One [`ChildActor`] per role runs `<this binary> --role NAME --config …
//! --exit-with-parent` in its own process group (so the terminal's Ctrl+C
//! reaches only the supervisor) with its stdin held open (so a supervisor
//! that dies, even by SIGKILL, takes its children with it).
//!
//! * **Start order without sleeps**: ordermanager and gateway first; their
//!   READY lines give the real ports (port 0 works), which every later start
//!   gets as `TRADING__…` overrides; then the orderbook; once it is ready,
//!   the strategy. Clients retry anyway, so order only avoids noise.
//! * **Restarts**: a child that dies is restarted after an exponential
//!   backoff; more than `supervisor.max_restarts` restarts within
//!   `restart_window_s` stops the run with an error naming the role. A child
//!   that exits 0 has finished and is not restarted.
//! * **Stopping**: Ctrl+C or SIGTERM stops the children in order — gateway,
//!   orderbook, strategy, ordermanager, so the last orders still land —
//!   each with SIGTERM, then SIGKILL after `stop_timeout_ms`; then the shm
//!   segment is removed and the summary printed.
//! * **A finite replay** (`gateway.loop = false`) ends by itself: the
//!   gateway and orderbook exit 0 when the data is delivered, the strategy
//!   exits 0 once every order is answered, and then the supervisor stops the
//!   ordermanager and prints the summary.
//!
//! While it runs, a one-line status (ticks/s, orders, rejects, restarts) is
//! redrawn on the terminal; without a terminal it goes to `main.log`.

mod child;
pub mod status;

pub use child::{ChildActor, ChildEvent, ChildSpec, SharedEnv, StartChild, StopChild};
pub use status::RunStats;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture,
};
use anyhow::{anyhow, bail};
use slog::Logger;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::lifecycle::{Role, RoleContext, Shutdown};
use crate::shm::{unlink_segment, PriceTableReader, WriterStatus};

/// How often the status line is redrawn.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// How often the status goes to the log when there is no terminal.
const STATUS_LOG_EVERY: Duration = Duration::from_secs(5);

/// Runs the whole system until Ctrl+C/SIGTERM, a finite run's end, or a
/// child that keeps dying.
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    let exe =
        std::env::current_exe().map_err(|e| anyhow!("cannot find this program's path: {e}"))?;
    let config_path = ctx
        .config_path
        .clone()
        .unwrap_or_else(|| "config/default.toml".into());
    let specs = Role::ALL
        .iter()
        .map(|&role| ChildSpec {
            role,
            program: exe.clone(),
            args: vec![
                "--role".into(),
                role.name().into(),
                "--config".into(),
                config_path.display().to_string(),
                "--exit-with-parent".into(),
            ],
        })
        .collect();
    supervise(ctx.config, specs, ctx.log).map(|_| ())
}

/// How a supervised run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Restarts per role.
    pub restarts: Vec<(Role, u32)>,
    /// The summary table printed at the end.
    pub summary: String,
}

/// Supervises `specs` (one per role) under `config`; the test seam of [`run`].
pub fn supervise(config: Config, specs: Vec<ChildSpec>, log: Logger) -> anyhow::Result<RunReport> {
    let shm = config.orderbook.shared_memory_name.clone();
    if let Ok(r) = PriceTableReader::attach(&shm) {
        if r.writer_status(crate::clock::unix_now_ns(), 2_000_000_000) == WriterStatus::Alive {
            bail!("the price table {shm:?} is written by a live orderbook (pid {}): another run is active", r.writer_pid());
        }
    }
    actix_rt::System::new().block_on(async move {
        let shutdown = Shutdown::install(false)?;
        let (done_tx, done_rx) = oneshot::channel();
        let sup = SupervisorActor::new(config, log.clone(), done_tx).start();
        sup.do_send(Launch(specs));
        let stop = shutdown.clone();
        let sup2 = sup.clone();
        tokio::spawn(async move {
            let reason = stop.requested().await;
            sup2.do_send(StopAll(format!("{reason:?}")));
        });
        done_rx
            .await
            .unwrap_or_else(|_| Err(anyhow!("the supervisor stopped unexpectedly")))
    })
}

#[derive(Message)]
#[rtype(result = "()")]
struct Launch(Vec<ChildSpec>);

/// Stop everything in order, then summarize.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll(pub String);

/// The parent of every [`ChildActor`].
pub struct SupervisorActor {
    config: Config,
    log: Logger,
    children: HashMap<Role, Addr<ChildActor>>,
    /// Overrides every (re)start gets: the resolved ports.
    env: SharedEnv,
    /// Roles whose READY line arrived.
    ready: Vec<Role>,
    /// Once set, no more starts; the value becomes the run's result.
    stopping: Option<Result<(), String>>,
    stats: RunStats,
    restarts: u32,
    terminal: bool,
    done: Option<oneshot::Sender<anyhow::Result<RunReport>>>,
}

impl SupervisorActor {
    fn new(
        config: Config,
        log: Logger,
        done: oneshot::Sender<anyhow::Result<RunReport>>,
    ) -> SupervisorActor {
        let stats = RunStats::new(
            config.ordermanager.journal_path.clone(),
            config.orderbook.shared_memory_name.clone(),
        );
        SupervisorActor {
            config,
            log,
            children: HashMap::new(),
            env: Arc::new(Mutex::new(Vec::new())),
            ready: Vec::new(),
            stopping: None,
            stats,
            restarts: 0,
            terminal: std::io::stderr().is_terminal(),
            done: Some(done),
        }
    }

    fn start_child(&self, role: Role) {
        if self.stopping.is_none() {
            if let Some(c) = self.children.get(&role) {
                c.do_send(StartChild);
            }
        }
    }

    fn set_env(&self, pairs: &[(&str, String)]) {
        if let Ok(mut env) = self.env.lock() {
            for (k, v) in pairs {
                env.retain(|(key, _)| key != k);
                env.push((k.to_string(), v.clone()));
            }
        }
    }

    /// Stops every child in order, removes the segment, prints the summary.
    fn stop_all(&mut self, result: Result<(), String>, ctx: &mut Context<Self>) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(result);
        let order: Vec<Addr<ChildActor>> = Role::ALL
            .iter()
            .filter_map(|r| self.children.get(r).cloned())
            .collect();
        let all: Vec<(Role, Addr<ChildActor>)> =
            self.children.iter().map(|(r, a)| (*r, a.clone())).collect();
        let fut = async move {
            for child in order {
                let _ = child.send(StopChild).await;
            }
            let mut restarts = Vec::new();
            for (role, child) in all {
                restarts.push((role, child.send(child::GetRestarts).await.unwrap_or(0)));
            }
            restarts.sort_by_key(|(r, _)| Role::ALL.iter().position(|x| x == r));
            restarts
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(|restarts, act, ctx| act.finish(restarts, ctx)),
        );
    }

    fn finish(&mut self, restarts: Vec<(Role, u32)>, ctx: &mut Context<Self>) {
        // Read the final tick count before the segment goes.
        self.stats.refresh();
        let shm = &self.config.orderbook.shared_memory_name;
        match unlink_segment(shm) {
            Ok(true) => slog::info!(self.log, "price table removed"; "name" => shm),
            Ok(false) => {}
            Err(e) => slog::warn!(self.log, "could not remove the price table"; "error" => %e),
        }
        if self.terminal {
            eprintln!();
        }
        let summary = self.stats.summary(&restarts);
        println!("{summary}");
        slog::info!(self.log, "run ended"; "summary" => &summary);
        let result = self
            .stopping
            .take()
            .unwrap_or(Ok(()))
            .map(|()| RunReport { restarts, summary })
            .map_err(|e| anyhow!(e));
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        ctx.stop();
    }

    fn draw_status(&mut self) {
        self.stats.refresh();
        let line = self.stats.status_line(self.restarts);
        if self.terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        }
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(STATUS_EVERY, |act, _| {
            if act.stopping.is_none() {
                act.draw_status();
            }
        });
        ctx.run_interval(STATUS_LOG_EVERY, |act, _| {
            if !act.terminal && act.stopping.is_none() {
                slog::info!(act.log, "status"; "line" => act.stats.status_line(act.restarts));
            }
        });
    }
}

impl Handler<Launch> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: Launch, ctx: &mut Context<Self>) {
        for spec in msg.0 {
            let role = spec.role;
            let child = ChildActor::new(
                spec,
                self.env.clone(),
                self.config.supervisor.clone(),
                ctx.address().recipient(),
                self.log.clone(),
            )
            .start();
            self.children.insert(role, child);
        }
        slog::info!(self.log, "starting"; "children" => self.children.len());
        self.start_child(Role::Ordermanager);
        self.start_child(Role::Gateway);
    }
}

impl Handler<ChildEvent> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: ChildEvent, ctx: &mut Context<Self>) {
        match msg {
            ChildEvent::Ready(role, endpoints) => {
                let port = |name: &str| {
                    endpoints
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, a)| a.port().to_string())
                };
                match role {
                    Role::Gateway => {
                        if let (Some(md), Some(news)) = (port("md"), port("news")) {
                            self.set_env(&[
                                ("TRADING__GATEWAY__MD_PORT", md.clone()),
                                ("TRADING__ORDERBOOK__MD_PORT", md),
                                ("TRADING__GATEWAY__NEWS_PORT", news.clone()),
                                ("TRADING__STRATEGY__NEWS_PORT", news),
                            ]);
                        }
                    }
                    Role::Ordermanager => {
                        if let Some(p) = port("orders") {
                            self.set_env(&[
                                ("TRADING__ORDERMANAGER__PORT", p.clone()),
                                ("TRADING__STRATEGY__ORDER_MANAGER_PORT", p),
                            ]);
                        }
                    }
                    _ => {}
                }
                if !self.ready.contains(&role) {
                    self.ready.push(role);
                    slog::info!(self.log, "child ready"; "child" => role.name());
                    let up = |r| self.ready.contains(&r);
                    if (role == Role::Gateway || role == Role::Ordermanager)
                        && up(Role::Gateway)
                        && up(Role::Ordermanager)
                    {
                        self.start_child(Role::Orderbook);
                    }
                    if role == Role::Orderbook {
                        self.start_child(Role::Strategy);
                    }
                }
            }
            ChildEvent::Finished(role) => {
                slog::info!(self.log, "child finished"; "child" => role.name());
                if role == Role::Strategy && !self.config.gateway.loop_replay {
                    slog::info!(self.log, "finite run complete: stopping the rest");
                    self.stop_all(Ok(()), ctx);
                }
            }
            ChildEvent::GaveUp(role, why) => {
                slog::crit!(self.log, "giving up"; "child" => role.name(), "why" => &why);
                self.stop_all(Err(format!("{} keeps failing: {why}", role.name())), ctx);
            }
        }
    }
}

impl Handler<StopAll> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: StopAll, ctx: &mut Context<Self>) {
        slog::info!(self.log, "stopping every child"; "reason" => msg.0);
        self.stop_all(Ok(()), ctx);
    }
}

#[cfg(test)]
mod tests;
