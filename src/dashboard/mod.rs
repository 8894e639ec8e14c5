//! The live view of an `--all` run: a web page and Prometheus `/metrics`.
//!
//! The supervisor already reads the run's figures ([`RunStats`]: ticks from
//! the shm table, orders and positions from the journal). A [`Dashboard`]
//! turns them, a few times a second, into a [`Snapshot`] — adding last
//! prices and unrealised P&L from the table, tick → order latency (the
//! order id names the ring position of its signal's tick, whose send time
//! the ring still holds), restarts per role and the halted state — and
//! publishes it to the page as server-sent events and to the metrics
//! registry. It only observes: a run without it trades the same, and a port
//! it cannot bind is a warning, not a failed run.
//!
//! Ring lag comes from the table's reader cursors. Not sourced here: the
//! orderbook's malformed market data count and the journal's fsync latency,
//! which only those roles' own `/metrics` ([`crate::metrics`]) serve.

pub mod metrics;
pub mod server;
pub mod snapshot;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use slog::Logger;
use tokio::sync::watch;

use crate::config::{Config, DashboardConfig};
use crate::lifecycle::Role;
use crate::supervisor::RunStats;
pub use metrics::Metrics;
pub use snapshot::{Collector, RecordTap, Snapshot};

/// Why the dashboard is not served (the run goes on without it).
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The configured address cannot be bound (in use, or not local).
    #[error("cannot listen on {addr} (dashboard.host, dashboard.port): {source}")]
    Bind {
        /// The address as configured.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The HTTP server would not start on the bound socket.
    #[error("cannot serve the dashboard: {0}")]
    Serve(std::io::Error),
}

/// The supervisor's handle on the live view.
pub struct Dashboard {
    /// Builds snapshots; shared with the [`RecordTap`] in [`RunStats`].
    collector: Arc<Mutex<Collector>>,
    /// The registry `/metrics` encodes.
    metrics: Arc<Metrics>,
    /// Where new snapshots go; dropping it ends every event stream.
    publish: Option<watch::Sender<Arc<Snapshot>>>,
    /// The HTTP server, once started.
    server: Option<ServerHandle>,
}

impl Dashboard {
    /// A dashboard of `config`'s table and symbols, not yet served.
    pub fn new(config: &Config) -> Dashboard {
        let metrics = Arc::new(Metrics::new());
        let collector = Collector::new(
            config.orderbook.shared_memory_name.clone(),
            config.symbols.clone(),
            Arc::clone(&metrics),
        );
        let (publish, _) = watch::channel(Arc::new(Snapshot::default()));
        Dashboard {
            collector: Arc::new(Mutex::new(collector)),
            metrics,
            publish: Some(publish),
            server: None,
        }
    }

    /// The hook to put in [`RunStats::tap`].
    pub fn tap(&self) -> RecordTap {
        RecordTap(Arc::clone(&self.collector))
    }

    /// Serves when `config` says so, announcing the address on stdout
    /// (`READY dashboard http=ADDR`), on the terminal and in `log`; a
    /// failure is only a warning there: the run trades on without it.
    pub fn start(&mut self, config: &DashboardConfig, log: &Logger) {
        if !config.enabled {
            return;
        }
        match self.serve(config) {
            Ok(addr) => {
                crate::lifecycle::announce_ready("dashboard", &[("http", addr)]);
                eprintln!("dashboard: http://{addr}/  (metrics: http://{addr}/metrics)");
                slog::info!(log, "dashboard listening"; "url" => format!("http://{addr}/"));
            }
            Err(e) => {
                eprintln!("warning: no dashboard this run: {e}");
                slog::warn!(log, "no dashboard this run"; "error" => %e);
            }
        }
    }

    /// Binds `config.host:config.port` and serves there from the current
    /// actix system; returns the bound address (port 0 is an ephemeral port).
    pub fn serve(&mut self, config: &DashboardConfig) -> Result<SocketAddr, DashboardError> {
        let addr = format!("{}:{}", config.host, config.port);
        let bind = |source| DashboardError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = TcpListener::bind(&addr).map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        let Some(publish) = &self.publish else {
            return Err(DashboardError::Serve(std::io::Error::other(
                "the run has ended",
            )));
        };
        let shared = server::Shared {
            snapshots: publish.subscribe(),
            metrics: Arc::clone(&self.metrics),
        };
        self.server = Some(server::start(listener, shared).map_err(DashboardError::Serve)?);
        Ok(bound)
    }

    /// Counts one restart of `role`.
    pub fn restarted(&self, role: Role) {
        snapshot::lock(&self.collector).restarted(role);
    }

    /// Refreshes `stats` (the table must be attached before the journal's
    /// new records reach the tap), then publishes the run now.
    pub fn publish(&self, stats: &mut RunStats) -> Arc<Snapshot> {
        snapshot::lock(&self.collector).attach();
        stats.refresh();
        let snapshot = Arc::new(snapshot::lock(&self.collector).snapshot(stats));
        self.metrics.update(&snapshot);
        if let Some(p) = &self.publish {
            p.send_replace(Arc::clone(&snapshot));
        }
        snapshot
    }

    /// Ends every event stream and stops the server.
    pub fn stop(&mut self) {
        self.publish = None;
        if let Some(server) = self.server.take() {
            actix_rt::spawn(server.stop(false));
        }
    }
}

#[cfg(test)]
mod tests;
