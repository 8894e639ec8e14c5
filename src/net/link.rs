//! [`ClientLink`]: a connection we dial, kept up with backoff, reported to
//! its owner as [`NetEvent`]s.

use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseFuture,
    WrapFuture,
};
use slog::Logger;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    connect_with_backoff, pump, writer::spawn_writer, Backoff, ConnId, LinkDown, LinkEvent,
    NetEvent, ReadLimits,
};
use crate::lifecycle::{Shutdown, Stop};

/// A connection that lasted this long was useful: its end resets the
/// backoff. A shorter one does not, whatever it delivered.
const USEFUL_AFTER: Duration = Duration::from_secs(1);
/// How long a stopping link lets its writer deliver what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// After the first failed attempt, one in this many is logged at warn.
const WARN_EVERY: u64 = 20;

/// Where a [`ClientLink`] connects and how it behaves at the edges.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The peer's role, for log lines (`"gateway"`, `"ordermanager"`…).
    pub peer: &'static str,
    /// The configuration key that sets the port, named when the peer is
    /// unreachable so an operator knows what to check.
    pub config_key: &'static str,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Reading limits of each connection.
    pub limits: ReadLimits,
    /// An end of stream is the end of the data (a finite feed): report it
    /// and do not reconnect.
    pub eof_ends: bool,
    /// On a process shutdown, stop connecting but keep reading the current
    /// connection until the owner is gone or the link gets [`Stop`]: a
    /// stopping strategy still wants the answers to what it sent.
    pub read_through_shutdown: bool,
}

/// A reconnecting, framed TCP client: connects with backoff, reports
/// `Up`/`Frames`/`Down` to its owner, and reconnects after a `Down`.
///
/// The backoff resets only after a useful connection (one that lasted a
/// second): a peer that accepts and closes at once, refusal frame or not,
/// is retried ever more slowly, not in a tight loop. [`Stop`] ends the link;
/// its answer comes once the current connection's writer has delivered what
/// its owner queued (bounded by two seconds).
pub struct ClientLink<K: 'static> {
    /// Where and how.
    settings: LinkSettings,
    /// The actor that owns the connection and receives its events.
    to: Recipient<NetEvent<K>>,
    /// The process's stop request.
    shutdown: Shutdown,
    /// Cancelled by [`Stop`]: ends the link.
    stop: CancellationToken,
    /// Becomes `true` once the link has ended, for [`Stop`]'s answer.
    ended: watch::Receiver<bool>,
    /// Its sender, taken by the running link.
    ended_tx: Option<watch::Sender<bool>>,
    /// Connection state lines.
    log: Logger,
}

impl<K: 'static> ClientLink<K> {
    /// A link to `settings.host:port` owned by `to`.
    pub fn new(
        settings: LinkSettings,
        to: Recipient<NetEvent<K>>,
        shutdown: Shutdown,
        log: Logger,
    ) -> ClientLink<K> {
        let (ended_tx, ended) = watch::channel(false);
        ClientLink {
            settings,
            to,
            shutdown,
            stop: CancellationToken::new(),
            ended,
            ended_tx: Some(ended_tx),
            log,
        }
    }
}

impl<K: 'static> Actor for ClientLink<K> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let ended = self.ended_tx.take();
        let run = run_link(
            self.settings.clone(),
            self.to.clone(),
            self.shutdown.clone(),
            self.stop.clone(),
            self.log.clone(),
        );
        ctx.spawn(run.into_actor(self).map(move |_, _, ctx| {
            if let Some(tx) = ended {
                let _ = tx.send(true);
            }
            ctx.stop();
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stop.cancel();
    }
}

impl<K: 'static> Handler<Stop> for ClientLink<K> {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.stop.cancel();
        let mut ended = self.ended.clone();
        Box::pin(async move {
            let _ = ended.wait_for(|&done| done).await;
        })
    }
}

/// The link's life: connect, pump, report, reconnect, until stopped.
async fn run_link<K: 'static>(
    s: LinkSettings,
    to: Recipient<NetEvent<K>>,
    shutdown: Shutdown,
    stop: CancellationToken,
    log: Logger,
) {
    let (connecting, reading) = (stop.child_token(), stop.child_token());
    let watcher = tokio::spawn(watch_shutdown(
        shutdown,
        stop,
        connecting.clone(),
        (!s.read_through_shutdown).then(|| reading.clone()),
    ));
    let mut backoff = Backoff::client_default();
    loop {
        let on_retry = |e: &std::io::Error, delay, n| log_retry(&log, &s, e, delay, n);
        let dialled = connect_with_backoff(&s.host, s.port, &mut backoff, &connecting, on_retry);
        let Some(stream) = dialled.await else { break };
        match one_connection(stream, &s, &to, &reading).await {
            After::End => break,
            After::Reconnect { useful: true } => backoff.reset(),
            After::Reconnect { useful: false } => {
                let delay = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = connecting.cancelled() => break,
                }
            }
        }
    }
    watcher.abort();
}

/// What the link does once a connection is over.
enum After {
    /// Stopped, the owner is gone, or a finite feed ended.
    End,
    /// Dial again; a useful connection resets the backoff.
    Reconnect {
        /// It lasted [`USEFUL_AFTER`].
        useful: bool,
    },
}

/// One connection from `Up` to `Down`.
async fn one_connection<K: 'static>(
    stream: TcpStream,
    s: &LinkSettings,
    to: &Recipient<NetEvent<K>>,
    reading: &CancellationToken,
) -> After {
    let Ok(peer) = stream.peer_addr() else {
        return After::Reconnect { useful: false };
    };
    let conn = ConnId::next();
    let (rd, wr) = stream.into_split();
    let cut = CancellationToken::new();
    let (writer, write_task) = spawn_writer(wr, cut.clone(), Duration::ZERO);
    if to
        .send(NetEvent::new(conn, LinkEvent::Up { peer, writer }))
        .await
        .is_err()
    {
        return After::End;
    }
    let since = Instant::now();
    let pumped = pump(rd, conn, to, s.limits, reading, &cut).await;
    // Frames alone do not make a connection useful: a server that refuses
    // us (an AUTH_FAILED) sends one frame and closes at once.
    let useful = since.elapsed() >= USEFUL_AFTER;
    let at_end = s.eof_ends && pumped.down == LinkDown::Closed;
    let owner_gone = pumped.owner_gone
        || to
            .send(NetEvent::new(conn, LinkEvent::Down(pumped.down)))
            .await
            .is_err();
    let stopping = owner_gone || reading.is_cancelled();
    if stopping {
        // Let the owner's last bytes (orders, answers) reach the peer.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, write_task).await;
        return After::End;
    }
    cut.cancel();
    if at_end {
        After::End
    } else {
        After::Reconnect { useful }
    }
}

/// On a process shutdown: stop dialling, and stop reading unless `reading`
/// is `None` (the link reads through a shutdown). Ends with the link.
async fn watch_shutdown(
    shutdown: Shutdown,
    stop: CancellationToken,
    connecting: CancellationToken,
    reading: Option<CancellationToken>,
) {
    tokio::select! {
        _ = shutdown.requested() => {
            connecting.cancel();
            if let Some(r) = reading {
                r.cancel();
            }
        }
        _ = stop.cancelled() => {}
    }
}

/// An unreachable peer: at warn on the first attempt and every
/// [`WARN_EVERY`]th, naming the address and the key to check; else debug.
fn log_retry(log: &Logger, s: &LinkSettings, e: &std::io::Error, delay: Duration, n: u64) {
    let addr = format!("{}:{}", s.host, s.port);
    let delay_ms = delay.as_millis() as u64;
    if n == 1 || n.is_multiple_of(WARN_EVERY) {
        slog::warn!(log, "peer not reachable, retrying"; "peer" => s.peer, "addr" => addr,
            "check" => s.config_key, "error" => %e, "attempts" => n, "delay_ms" => delay_ms);
    } else {
        slog::debug!(log, "peer not reachable, retrying"; "peer" => s.peer, "addr" => addr,
            "error" => %e, "attempts" => n, "delay_ms" => delay_ms);
    }
}
