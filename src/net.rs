//! TCP client plumbing shared by the roles that connect out.
//!
//! The orderbook (to the gateway) and the strategy (to the gateway's news and
//! to the ordermanager) all retry with the same exponential backoff, so a
//! start order never needs sleeps and a restarted peer is found again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use slog::Logger;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::lifecycle::Shutdown;

/// Exponential backoff: `initial`, doubling up to `max`, reset on success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff starting at `initial` and never waiting longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The client default: 50 ms doubling to 2 s, quick enough that a peer
    /// restarted by the supervisor is found again within its own backoff.
    pub fn client_default() -> Backoff {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(2))
    }

    /// The delay to wait now; the next one is twice as long (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }

    /// Back to `initial`, after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Resolves `host:port` (names such as `localhost` included) to one address.
pub async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: no address"))
        })
}

/// Connects to `host:port`, retrying with `backoff` until it succeeds or a
/// shutdown is requested (then `None`). `on_retry` sees each failure, for logging.
pub async fn connect_with_backoff(
    host: &str,
    port: u16,
    backoff: &mut Backoff,
    shutdown: &Shutdown,
    mut on_retry: impl FnMut(&std::io::Error, Duration),
) -> Option<TcpStream> {
    loop {
        let attempt = async {
            let addr = resolve(host, port).await?;
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = shutdown.requested() => return None,
        };
        match result {
            Ok(stream) => {
                backoff.reset();
                return Some(stream);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                on_retry(&e, delay);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.requested() => return None,
                }
            }
        }
    }
}

/// [`connect_with_backoff`] that logs each failed attempt at debug level,
/// naming the peer (`"gateway"`, `"ordermanager"`, …).
pub async fn connect_logged(
    host: &str,
    port: u16,
    backoff: &mut Backoff,
    shutdown: &Shutdown,
    log: &Logger,
    peer: &'static str,
) -> Option<TcpStream> {
    connect_with_backoff(host, port, backoff, shutdown, |e, delay| {
        slog::debug!(log, "peer not reachable, retrying"; "peer" => peer, "error" => %e,
            "delay_ms" => delay.as_millis() as u64);
    })
    .await
}

/// The sending side of a [`spawn_writer`] task.
///
/// Cloneable; knows how many bytes are queued but not yet written, so an
/// owner can notice a peer that stopped reading before it costs unbounded
/// memory.
#[derive(Debug, Clone)]
pub struct WriterQueue {
    /// Buffers for the writer task.
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes sent to the queue and not yet written to the socket.
    backlog: Arc<AtomicUsize>,
}

impl WriterQueue {
    /// Queues `bytes`; returns the backlog including them, or `Err` when
    /// the writer task has ended (the connection is gone).
    pub fn send(&self, bytes: Bytes) -> Result<usize, Bytes> {
        let n = bytes.len();
        let before = self.backlog.fetch_add(n, Ordering::AcqRel);
        match self.tx.send(bytes) {
            Ok(()) => Ok(before + n),
            Err(e) => {
                self.backlog.fetch_sub(n, Ordering::AcqRel);
                Err(e.0)
            }
        }
    }

    /// Bytes queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Acquire)
    }
}

/// Spawns a task that writes every buffer sent to the returned queue into
/// `wr`, in order, until the queue closes (then it flushes what is queued)
/// or a write fails. Lets an actor answer without ever awaiting a socket.
pub fn spawn_writer(mut wr: OwnedWriteHalf) -> (WriterQueue, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let backlog = Arc::new(AtomicUsize::new(0));
    let written = backlog.clone();
    let task = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
            written.fetch_sub(b.len(), Ordering::AcqRel);
        }
    });
    (WriterQueue { tx, backlog }, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
        let seen: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seen, [10, 20, 35, 35]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 10);
    }

    #[actix_rt::test]
    async fn connect_retries_until_a_listener_appears() {
        // Reserve a port, release it, and only listen after the first failures.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let (shutdown, _trigger) = Shutdown::manual();
        let listener = async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            l.accept().await.unwrap()
        };
        let mut failures = 0;
        let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(20));
        let connect = connect_with_backoff("127.0.0.1", port, &mut backoff, &shutdown, |_, _| {
            failures += 1
        });
        let (stream, _accepted) = tokio::join!(connect, listener);
        assert!(stream.is_some());
        assert!(failures >= 1);
    }

    #[actix_rt::test]
    async fn shutdown_stops_the_retries() {
        let (shutdown, trigger) = Shutdown::manual();
        trigger.trigger();
        let mut backoff = Backoff::client_default();
        // Port 1 on loopback is refused at once; the stop wins the next wait.
        let r = connect_with_backoff("127.0.0.1", 1, &mut backoff, &shutdown, |_, _| {}).await;
        assert!(r.is_none());
    }
}
