//! Accepting connections: one accept loop with a connection cap for every
//! listener, and framed sessions reported to an actor as [`NetEvent`]s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use anyhow::Context as _;
use slog::Logger;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{pump, writer::spawn_writer, ConnId, LinkEvent, NetEvent, ReadLimits};
use crate::lifecycle::CannotRun;
use crate::logging::LogLimiter;

/// Pause after a failed `accept` (out of file descriptors and the like), so
/// the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Binds a listener on `host:port`; a failure (port in use, no such
/// address) is the environment's, named with `what` and the config `key`
/// that sets the port, so the operator knows what to change.
pub async fn bind(host: &str, port: u16, what: &str, key: &str) -> Result<TcpListener, CannotRun> {
    TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {what} on {host}:{port} ({key})"))
        .map_err(CannotRun::Environment)
}

/// One accepted connection, holding its place under the connection cap.
#[derive(Debug)]
pub struct Accepted {
    /// The connection, still whole: the owner decides how to split it.
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Its name for the life of the process.
    pub conn: ConnId,
    /// Its place under the cap: dropping it lets the next client in.
    pub slot: OwnedSemaphorePermit,
}

/// Accepts connections on `listener` for ever, handing each to `on_accept`.
///
/// At most `max_connections` are held at once: a connection beyond the cap
/// is closed at once and logged (rate-limited), so one client holding
/// hundreds of sockets cannot lock every other client out or exhaust the
/// process's file descriptors. `what` names the listener in log lines.
pub async fn accept_loop(
    listener: TcpListener,
    max_connections: usize,
    what: &'static str,
    log: Logger,
    mut on_accept: impl FnMut(Accepted),
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut refused_log = LogLimiter::new(5, Duration::from_secs(1));
    let mut refused = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                slog::warn!(log, "accept failed"; "listener" => what, "error" => %e);
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if let Some(skipped) = refused_log.allow() {
                slog::warn!(log, "connection refused: too many connections";
                    "listener" => what, "peer" => %peer, "max_connections" => max_connections,
                    "refused_total" => refused, "not_logged_before" => skipped);
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        on_accept(Accepted {
            stream,
            peer,
            conn: ConnId::next(),
            slot,
        });
    }
}

/// What a server's sessions enforce.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Connections held at once; the excess is refused.
    pub max_connections: usize,
    /// Frame size and idle/partial-frame timeouts of each connection.
    pub read: ReadLimits,
    /// How long a connection the owner cut (for garbage, for answers left
    /// unread: [`disconnect`](super::LinkWriter::disconnect)) stays open,
    /// neither read nor written, before it is closed. A client that reconnects in a loop the moment
    /// it is cut then costs one connection per linger instead of one per
    /// round trip, and TCP holds its bytes back meanwhile; it keeps its
    /// place under the cap. Zero: closed at once.
    pub cut_linger: Duration,
}

/// Accepts clients for ever; each becomes a session reported to `to`:
/// `Up` (with the writer for its answers), one `Frames` per socket read,
/// `Down`. The session holds its place under the cap until its writer has
/// delivered the answers the owner queued and the owner dropped it.
pub async fn serve_sessions<K: 'static>(
    listener: TcpListener,
    limits: SessionLimits,
    to: Recipient<NetEvent<K>>,
    what: &'static str,
    log: Logger,
) {
    accept_loop(listener, limits.max_connections, what, log, |a| {
        tokio::spawn(session(a, limits, to.clone()));
    })
    .await
}

/// One client's connection, from `Up` to `Down` and its last answers.
async fn session<K: 'static>(a: Accepted, limits: SessionLimits, to: Recipient<NetEvent<K>>) {
    let (rd, wr) = a.stream.into_split();
    let cut = CancellationToken::new();
    let (writer, write_task) = spawn_writer(wr, cut.clone(), limits.cut_linger);
    let up = LinkEvent::Up {
        peer: a.peer,
        writer,
    };
    if to.send(NetEvent::new(a.conn, up)).await.is_err() {
        return;
    }
    // Sessions end with their connection; the process stop ends the runtime.
    let never = CancellationToken::new();
    let pumped = pump(rd, a.conn, &to, limits.read, &never, &cut).await;
    if !pumped.owner_gone {
        let _ = to
            .send(NetEvent::new(a.conn, LinkEvent::Down(pumped.down)))
            .await;
    }
    // The writer ends once the owner drops its handle (after the last
    // answers) or cuts the connection (after the linger: its write half
    // keeps the socket open until then, the read half is long dropped).
    let _ = write_task.await;
    drop(a.slot);
}
