//! Connecting out: exponential backoff and the retry loop every client link
//! uses, so a start order never needs sleeps and a restarted peer is found
//! again.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use tokio_util::sync::CancellationToken;

/// Exponential backoff: `initial`, doubling up to `max`, reset by the owner
/// once a connection proved useful (not merely accepted: a peer that closes
/// every connection at once must not be hammered at the initial rate).
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

/// Connects to `host:port`, retrying with `backoff` until it succeeds or
/// `stop` is cancelled (then `None`). `on_retry` sees each failure and its
/// number (1 for the first since the last success), for logging. A success
/// does not reset `backoff`: the caller does once the connection was useful.
pub async fn connect_with_backoff(
    host: &str,
    port: u16,
    backoff: &mut Backoff,
    stop: &CancellationToken,
    mut on_retry: impl FnMut(&std::io::Error, Duration, u64),
) -> Option<TcpStream> {
    let mut failures = 0u64;
    loop {
        let attempt = async {
            let addr = resolve(host, port).await?;
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        // Biased: once stopped, never dial again, even if a connect would
        // also be ready.
        let result = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            r = attempt => r,
        };
        match result {
            Ok(stream) => return Some(stream),
            Err(e) => {
                failures += 1;
                let delay = backoff.next_delay();
                on_retry(&e, delay, failures);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return None,
                }
            }
        }
    }
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
        let stop = CancellationToken::new();
        let listener = async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            l.accept().await.unwrap()
        };
        let mut failures = 0;
        let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(20));
        let connect = connect_with_backoff("127.0.0.1", port, &mut backoff, &stop, |_, _, _| {
            failures += 1
        });
        let (stream, _accepted) = tokio::join!(connect, listener);
        assert!(stream.is_some());
        assert!(failures >= 1);
    }

    #[actix_rt::test]
    async fn shutdown_stops_the_retries() {
        let stop = CancellationToken::new();
        stop.cancel();
        let mut backoff = Backoff::client_default();
        // Port 1 on loopback is refused at once; the stop wins the next wait.
        let r = connect_with_backoff("127.0.0.1", 1, &mut backoff, &stop, |_, _, _| {}).await;
        assert!(r.is_none());
    }
}
