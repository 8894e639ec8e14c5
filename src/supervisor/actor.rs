//! [`SupervisorActor`]: the parent of every [`ChildActor`] — start order,
//! port propagation, the run's end, the status line and the summary.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture,
};
use anyhow::anyhow;
use slog::Logger;
use tokio::sync::oneshot;

use super::child::ChildActor;
use super::messages::{ChildEvent, ChildSpec, GetRestarts, GetStarted, SharedEnv, StartChild};
use super::status::RunStats;
use super::RunReport;
use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::lifecycle::{CannotRun, Exit, Role, Stop};
use crate::shm::{unlink_segment_if_written_by, ProcessIdentity, Removal};

/// How often the status line is redrawn on a terminal, the journal read for
/// it with or without one, and the dashboard given a new snapshot.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// How often the status goes to main.log when stderr is not a terminal.
const STATUS_LOG_EVERY: Duration = Duration::from_secs(5);

/// Create one [`ChildActor`] per spec and start the first wave.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Launch(pub Vec<ChildSpec>);

/// Stop the whole run: every child in order, then the summary; the string
/// says why (for the log). Unlike [`Stop`], which one actor gets, this
/// ends the run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRun(pub String);

/// The parent of every [`ChildActor`].
pub struct SupervisorActor {
    /// The run's configuration (shm name, journal, limits, loop flag).
    config: Config,
    /// main.log.
    log: Logger,
    /// How long each start may take to print READY.
    ready_timeout: Duration,
    /// One actor per role.
    children: HashMap<Role, Addr<ChildActor>>,
    /// Overrides every (re)start gets: the resolved ports.
    env: SharedEnv,
    /// Roles whose READY line arrived at least once.
    ready: Vec<Role>,
    /// Roles that exited 0.
    finished: Vec<Role>,
    /// Once set, no more starts; the value becomes the run's result.
    stopping: Option<anyhow::Result<()>>,
    /// Ticks, orders, rejects and positions of this run.
    stats: RunStats,
    /// Restarts of every child, for the status line.
    restarts: u32,
    /// Whether stderr is a terminal: a redrawn line, else periodic log lines.
    terminal: bool,
    /// Where the run's result goes.
    done: Option<oneshot::Sender<anyhow::Result<RunReport>>>,
    /// The live view: snapshots for the page, `/metrics` and total P&L.
    dashboard: Dashboard,
}

/// A fresh random token: 128 bits from the thread's CSPRNG (seeded by the
/// OS), as 32 hex digits, which the token rule accepts.
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The AUTH token environment of every child of this run. An empty
/// `ordermanager.auth_token` gets a token generated for this run, so the
/// default `--all` is closed to other local users without any set-up; an
/// empty `strategy.auth_token` gets the ordermanager's. Configured tokens are
/// left as they are. Children inherit the variables privately (their
/// environment is readable only by this user and root).
pub fn run_token_env(config: &Config) -> Vec<(String, String)> {
    let configured = &config.ordermanager.auth_token;
    let token = if configured.is_empty() {
        generate_token()
    } else {
        configured.clone()
    };
    let mut env = Vec::new();
    if configured.is_empty() {
        env.push((
            "TRADING__ORDERMANAGER__AUTH_TOKEN".to_string(),
            token.clone(),
        ));
    }
    if config.strategy.auth_token.is_empty() {
        env.push(("TRADING__STRATEGY__AUTH_TOKEN".to_string(), token));
    }
    env
}

impl SupervisorActor {
    /// A supervisor that reports the run's end on `done`.
    pub fn new(
        config: Config,
        log: Logger,
        ready_timeout: Duration,
        terminal: bool,
        done: oneshot::Sender<anyhow::Result<RunReport>>,
    ) -> SupervisorActor {
        let mut stats = RunStats::new(
            config.ordermanager.journal_path.clone(),
            config.orderbook.shared_memory_name.clone(),
        );
        stats.watch_staleness(crate::strategy::max_tick_age(&config));
        let dashboard = Dashboard::new(&config);
        stats.tap = Some(dashboard.tap());
        let env = SharedEnv::new(std::sync::Mutex::new(run_token_env(&config)));
        SupervisorActor {
            config,
            log,
            ready_timeout,
            children: HashMap::new(),
            env,
            ready: Vec::new(),
            finished: Vec::new(),
            stopping: None,
            stats,
            restarts: 0,
            terminal,
            done: Some(done),
            dashboard,
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

    /// Records the ports of a READY line as overrides for every later start
    /// (the listener's own restarts included, so it binds the same port).
    fn learn_ports(&self, role: Role, endpoints: &[(String, std::net::SocketAddr)]) {
        let port = |name: &str| {
            endpoints
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a.port().to_string())
        };
        match role {
            Role::Gateway => {
                if let Some(md) = port("md") {
                    self.set_env(&[
                        ("TRADING__GATEWAY__MD_PORT", md.clone()),
                        ("TRADING__ORDERBOOK__MD_PORT", md),
                    ]);
                }
                if let Some(news) = port("news") {
                    self.set_env(&[
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
            Role::Orderbook | Role::Strategy => {}
        }
    }

    /// Stops every child in order, then removes the segment and summarizes.
    fn stop_all(&mut self, result: anyhow::Result<()>, ctx: &mut Context<Self>) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(result);
        let order: Vec<(Role, Addr<ChildActor>)> = Role::ALL
            .iter()
            .filter_map(|r| self.children.get(r).map(|a| (*r, a.clone())))
            .collect();
        let fut = async move {
            // One at a time: a producer is gone before its consumer stops,
            // so the last orders still reach a running ordermanager.
            for (_, child) in &order {
                let _ = child.send(Stop).await;
            }
            let mut restarts = Vec::new();
            let mut writers = Vec::new();
            for (role, child) in order {
                restarts.push((role, child.send(GetRestarts).await.unwrap_or(0)));
                if role == Role::Orderbook {
                    writers = child.send(GetStarted).await.unwrap_or_default();
                }
            }
            (restarts, writers)
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(|(restarts, writers), act, ctx| act.finish(restarts, &writers, ctx)),
        );
    }

    /// Removes the table if one of `writers` (this run's orderbooks)
    /// created it, and says why it leaves anything else alone.
    fn remove_own_table(&self, writers: &[ProcessIdentity]) {
        let shm = &self.config.orderbook.shared_memory_name;
        match unlink_segment_if_written_by(shm, writers) {
            Ok(Removal::Removed(owner)) => slog::info!(self.log, "price table removed";
                "name" => shm, "generation" => format!("{:016x}", owner.generation)),
            Ok(Removal::Missing) => {}
            Ok(Removal::NotOurs(owner)) => slog::warn!(self.log,
                "price table left alone: this run's orderbook did not create it";
                "name" => shm, "writer_pid" => owner.writer.pid,
                "generation" => format!("{:016x}", owner.generation)),
            Err(e) => slog::warn!(self.log, "price table name left alone";
                "name" => shm, "error" => %e),
        }
    }

    fn finish(
        &mut self,
        restarts: Vec<(Role, u32)>,
        writers: &[ProcessIdentity],
        ctx: &mut Context<Self>,
    ) {
        // The final counts, read before the segment goes.
        self.dashboard.publish(&mut self.stats);
        self.dashboard.stop();
        self.remove_own_table(writers);
        if self.terminal {
            // Leave the status line in place; the summary starts below it.
            eprintln!();
        }
        let summary = self.stats.summary(&restarts);
        println!("{summary}");
        slog::info!(self.log, "run ended"; "summary" => &summary);
        let result = self
            .stopping
            .take()
            .unwrap_or(Ok(()))
            .map(|()| RunReport { restarts, summary });
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        ctx.stop();
    }

    /// A child exited with a fatal status: the run ends with its status and
    /// its own last error line, which `main` prints on the terminal.
    fn cannot_run(
        &mut self,
        role: Role,
        exit: Exit,
        line: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let log_file = self.config.logs.dir.join(role.log_file());
        let line = match line {
            Some(l) => format!("{l} ({exit}; more in {})", log_file.display()),
            None => format!("{exit}; see {}", log_file.display()),
        };
        slog::error!(self.log, "stopping the run: a child cannot run";
            "child" => role.name(), "line" => &line);
        let error = CannotRun::Child {
            role: role.name(),
            exit,
            line,
        };
        self.stop_all(Err(error.into()), ctx);
    }

    /// The status line with the run's total P&L, from a fresh snapshot.
    fn status_line(&mut self) -> String {
        let pnl = self.dashboard.publish(&mut self.stats).total_pnl;
        format!("{} | P&L {pnl:+.2}", self.stats.status_line(self.restarts))
    }

    fn draw_status(&mut self) {
        let line = self.status_line();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.dashboard.start(&self.config.dashboard, &self.log);
        if self.terminal {
            ctx.run_interval(STATUS_EVERY, |act, _| {
                if act.stopping.is_none() {
                    act.draw_status();
                }
            });
        } else {
            // The same pace as on a terminal: each refresh reads a quarter
            // second of journal, not five seconds' worth at once (tens of
            // MiB in a full-speed replay), and feeds the dashboard.
            ctx.run_interval(STATUS_EVERY, |act, _| {
                if act.stopping.is_none() {
                    if act.config.dashboard.enabled {
                        act.dashboard.publish(&mut act.stats);
                    } else {
                        act.stats.refresh();
                    }
                }
            });
            ctx.run_interval(STATUS_LOG_EVERY, |act, _| {
                if act.stopping.is_none() {
                    let line = act.status_line();
                    slog::info!(act.log, "status"; "line" => line);
                }
            });
        }
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
                self.ready_timeout,
                ctx.address().recipient(),
                self.log.clone(),
            )
            .start();
            self.children.insert(role, child);
        }
        slog::info!(self.log, "starting"; "children" => self.children.len());
        // The listeners first; the clients once the ports are known.
        self.start_child(Role::Ordermanager);
        self.start_child(Role::Gateway);
    }
}

impl Handler<ChildEvent> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: ChildEvent, ctx: &mut Context<Self>) {
        match msg {
            ChildEvent::Ready(role, endpoints) => {
                self.learn_ports(role, &endpoints);
                if self.ready.contains(&role) {
                    return;
                }
                self.ready.push(role);
                slog::info!(self.log, "child ready"; "child" => role.name());
                let up = |r| self.ready.contains(&r);
                let listeners_up = up(Role::Gateway) && up(Role::Ordermanager);
                match role {
                    Role::Gateway | Role::Ordermanager if listeners_up => {
                        self.start_child(Role::Orderbook)
                    }
                    Role::Orderbook => self.start_child(Role::Strategy),
                    _ => {}
                }
            }
            ChildEvent::Restarting { role, .. } => {
                self.restarts += 1;
                self.dashboard.restarted(role);
            }
            ChildEvent::Finished(role) => {
                slog::info!(self.log, "child finished"; "child" => role.name());
                self.finished.push(role);
                if role == Role::Strategy && !self.config.gateway.loop_replay {
                    slog::info!(self.log, "finite run complete: stopping the rest");
                    self.stop_all(Ok(()), ctx);
                } else if self.finished.len() == self.children.len() {
                    slog::info!(self.log, "every child finished");
                    self.stop_all(Ok(()), ctx);
                }
            }
            ChildEvent::Failed(role, why) => {
                slog::error!(self.log, "stopping the run after a failure"; "child" => role.name());
                // The child's own account of why is in its log file.
                let log_file = self.config.logs.dir.join(role.log_file());
                self.stop_all(Err(anyhow!("{why}; see {}", log_file.display())), ctx);
            }
            ChildEvent::CannotRun { role, exit, line } => self.cannot_run(role, exit, line, ctx),
        }
    }
}

impl Handler<StopRun> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: StopRun, ctx: &mut Context<Self>) {
        slog::info!(self.log, "stopping every child"; "reason" => msg.0);
        self.stop_all(Ok(()), ctx);
    }
}

#[cfg(test)]
mod token_tests;
