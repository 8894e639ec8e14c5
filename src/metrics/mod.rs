//! Prometheus `/metrics` of a single role (`--role X` with its
//! `metrics_port`), and the HTTP piece the `--all` dashboard shares.
//!
//! A role's figures live in a `prometheus-client` registry the role updates
//! as it works (an atomic add per event, nothing formatted until a scrape);
//! [`serve`] exposes that registry's text exposition on its own small
//! actix-web server in the role's actix system. Metrics only observe: a
//! role without them behaves the same.

pub mod gateway;
pub mod orderbook;
pub mod ordermanager;
pub mod strategy;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::lifecycle::CannotRun;

pub use gateway::{GatewayMetrics, GatewaySource};
pub use orderbook::{OrderbookMetrics, OrderbookSource};
pub use ordermanager::OrderManagerMetrics;
pub use strategy::{StrategyMetrics, StrategySource};

/// One label, e.g. `reason="MAX_POSITION"`: the label set of every family here.
pub type Labels = Vec<(&'static str, String)>;

/// A one-label set.
pub fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_string())]
}

/// Raises `counter` to `total`, a total counted elsewhere (an actor's
/// counts, the journal): counters only grow, however often they are read.
pub fn raise(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// A table's ring lag: ticks written minus the slowest registered reader's
/// cursor (0 with no reader), and how many readers are registered.
pub fn ring_lag(table: &crate::shm::PriceTableReader) -> (u64, usize) {
    let head = table.ticks_written();
    let readers = table.registered_readers();
    let slowest = readers.iter().map(|r| r.next_seq).min().unwrap_or(head);
    (head.saturating_sub(slowest), readers.len())
}

/// The media type of the text exposition `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a role's `/metrics` encodes; implemented by each role's metrics.
pub trait Exposition: Send + Sync + 'static {
    /// Brings the figures up to date just before a scrape encodes them
    /// (a role whose counts live in an actor asks it here); none by default.
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }

    /// The text exposition of every metric, ending in `# EOF`.
    fn encode(&self) -> String;
}

/// The text exposition of `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// The `/metrics` answer holding `body` (an encoded registry); the one
/// response both the dashboard and the role servers send.
pub fn exposition_response(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(body)
}

/// Why a role's metrics are not served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The configured address cannot be bound (in use, or not local).
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The address as configured.
        addr: String,
        /// The config key that sets the port, for the reader to fix.
        key: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A role's metrics port: `-1` turns the server off; `0` is an ephemeral
/// port, as for every listener here.
pub fn port_setting(metrics_port: i32) -> Option<u16> {
    u16::try_from(metrics_port).ok()
}

/// Binds `host:port` and serves `source` at `/metrics` from the current
/// actix system; returns the bound address and the handle that stops it.
pub fn serve(
    host: &str,
    port: u16,
    key: &'static str,
    source: Arc<dyn Exposition>,
) -> Result<(SocketAddr, ServerHandle), MetricsError> {
    let addr = format!("{host}:{port}");
    let bind = |source| MetricsError::Bind {
        addr: addr.clone(),
        key,
        source,
    };
    let listener = TcpListener::bind(&addr).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let server = HttpServer::new(move || {
        let source = Arc::clone(&source);
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let source = Arc::clone(&source);
                async move {
                    source.refresh().await;
                    exposition_response(source.encode())
                }
            }),
        )
    })
    .workers(1)
    // The role's own Shutdown takes the signals.
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .map_err(bind)?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((bound, handle))
}

/// A role's `/metrics` being served: its address (for the READY line) and
/// the handle that stops it.
pub type Served = (SocketAddr, ServerHandle);

/// [`serve`] for a role's start: logs `metrics listening` with the URL; a
/// port that cannot be bound stops the start with the exit code of a taken
/// port ([`CannotRun::Environment`]), since the operator asked for it.
pub fn serve_role(
    host: &str,
    port: u16,
    key: &'static str,
    source: Arc<dyn Exposition>,
    log: &slog::Logger,
) -> anyhow::Result<Served> {
    let served = serve(host, port, key, source).map_err(|e| CannotRun::Environment(e.into()))?;
    slog::info!(log, "metrics listening"; "url" => format!("http://{}/metrics", served.0));
    Ok(served)
}

/// The READY line's endpoints for a role whose only listener is its metrics.
pub fn ready_endpoints(served: &Option<Served>) -> Vec<(&'static str, SocketAddr)> {
    served.iter().map(|(addr, _)| ("metrics", *addr)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_is_off_and_zero_is_an_ephemeral_port() {
        assert_eq!(port_setting(-1), None);
        assert_eq!(port_setting(0), Some(0));
        assert_eq!(port_setting(9100), Some(9100));
        assert_eq!(port_setting(70000), None);
    }
}
