//! The HTTP side: the page and its assets (embedded in the binary, no build
//! step, nothing fetched from elsewhere), the snapshots as server-sent
//! events, and `/metrics`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use tokio::sync::watch;

use super::metrics::Metrics;
use super::snapshot::Snapshot;

/// The page.
const INDEX_HTML: &str = include_str!("assets/index.html");
/// Its script: subscribes to `/events` and draws.
const APP_JS: &str = include_str!("assets/app.js");
/// Its style.
const STYLE_CSS: &str = include_str!("assets/style.css");

/// What every request handler reads.
#[derive(Clone)]
pub struct Shared {
    /// The latest snapshot; a change wakes every event stream.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The registry `/metrics` encodes.
    pub metrics: Arc<Metrics>,
}

/// Starts serving on `listener` in the current actix system; the handle
/// stops it. Signals stay with the supervisor (actix-web's own handlers
/// would take Ctrl+C from it).
pub fn start(listener: TcpListener, shared: Shared) -> std::io::Result<ServerHandle> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.clone()))
            .route(
                "/",
                web::get().to(|| asset(INDEX_HTML, "text/html; charset=utf-8")),
            )
            .route(
                "/app.js",
                web::get().to(|| asset(APP_JS, "text/javascript")),
            )
            .route("/style.css", web::get().to(|| asset(STYLE_CSS, "text/css")))
            .route("/snapshot.json", web::get().to(snapshot_json))
            .route("/events", web::get().to(events))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    // Event streams never end by themselves: do not wait for them at a stop.
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}

/// One embedded file.
async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).body(body)
}

/// The latest snapshot as JSON, for scripts and a first paint.
async fn snapshot_json(shared: web::Data<Shared>) -> HttpResponse {
    let snapshot = Arc::clone(&shared.snapshots.borrow());
    HttpResponse::Ok().json(&*snapshot)
}

/// The Prometheus text exposition.
async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    crate::metrics::exposition_response(shared.metrics.encode())
}

/// Server-sent events: the current snapshot at once, then each new one;
/// the stream ends when the run ends (the sender is dropped).
async fn events(shared: web::Data<Shared>) -> HttpResponse {
    let rx = shared.snapshots.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let snapshot = Arc::clone(&rx.borrow_and_update());
        Some((Ok::<_, actix_web::Error>(sse_event(&snapshot)), (rx, false)))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(stream)
}

/// One `data:` event holding `snapshot` as JSON (JSON has no raw newline,
/// so one line is one event).
pub fn sse_event(snapshot: &Snapshot) -> Bytes {
    let json = serde_json::to_string(snapshot).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("data: {json}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_one_event_of_one_json_line() {
        let s = Snapshot {
            state: "halted",
            accepted: 7,
            rejects: [("HALTED".to_string(), 3)].into(),
            ..Snapshot::default()
        };
        let event = sse_event(&s);
        let text = std::str::from_utf8(&event).unwrap();
        let json = text
            .strip_prefix("data: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("one data event");
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["state"], "halted");
        assert_eq!(v["accepted"], 7);
        assert_eq!(v["rejects"]["HALTED"], 3);
        assert_eq!(v["latency"]["p99_us"], 0);
    }
}
