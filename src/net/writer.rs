//! The writing half of a connection, so an actor answers without ever
//! awaiting a socket: a task owns the writing and writes queued bytes in
//! order as the socket allows. A latency-critical writer (the strategy's
//! orders) uses [`LinkWriter::send_now`]: its bytes go out at once, in the
//! caller's own turn, when nothing is queued before them and the socket
//! takes them, so an order costs one `send` and no task hop and is on the
//! wire before the caller's turn goes on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, Mutex, MutexGuard};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The handle an actor writes a connection through.
///
/// Cloneable. It knows how many bytes are queued but not yet written, so an
/// owner can notice a peer that stopped reading before it costs unbounded
/// memory, and it can [`disconnect`](LinkWriter::disconnect) such a peer:
/// it is neither read nor written from then on.
#[derive(Debug, Clone)]
pub struct LinkWriter {
    /// Buffers for the writer task, in order.
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued and not yet written: the measure of a peer that lags.
    backlog: Arc<AtomicUsize>,
    /// Cancelled to drop the connection now, unwritten bytes included.
    cut: CancellationToken,
    /// Cancelled to close once what is queued is written (a refusal that
    /// must reach the peer before the connection ends).
    closing: CancellationToken,
    /// The socket's write half, shared with the writer task, which holds
    /// the lock while it writes and empties it when it ends (closing our
    /// side at once, whoever still holds a `LinkWriter`). `None` for a
    /// detached writer.
    socket: Option<Arc<Mutex<Option<OwnedWriteHalf>>>>,
}

impl LinkWriter {
    /// Queues `bytes` for the writer task; returns the backlog including
    /// them, or `Err` with the bytes when the writer task has ended (the
    /// connection is gone). A whole batch counts as unread until the task
    /// wrote it, which is what a server measuring how far a client lags
    /// wants.
    pub fn send(&self, bytes: Bytes) -> Result<usize, Bytes> {
        self.queue(bytes)
    }

    /// Writes `bytes` now, in the caller's turn, if nothing is queued
    /// before them and the socket takes them; queues what is left (in
    /// order) as [`send`](LinkWriter::send) does. Returns the backlog
    /// (0 when all went out), or `Err` with the bytes when the writer task
    /// has ended.
    pub fn send_now(&self, bytes: Bytes) -> Result<usize, Bytes> {
        // Held until the rest is queued, so nothing can be written between
        // our part and our rest.
        let idle = self.idle_socket();
        let bytes = match idle.as_deref() {
            Some(Some(wr)) => match wr.try_write(&bytes) {
                Ok(n) if n == bytes.len() => return Ok(0),
                Ok(n) => bytes.slice(n..),
                // Would block, or failed: the task meets it in order.
                Err(_) => bytes,
            },
            _ => bytes,
        };
        self.queue(bytes)
    }

    /// The write half, locked, when bytes may be written in the caller's
    /// turn: nothing queued or being written, not cut or closing, and the
    /// writer task not in the middle of a write.
    fn idle_socket(&self) -> Option<MutexGuard<'_, Option<OwnedWriteHalf>>> {
        if self.backlog.load(Ordering::Acquire) != 0
            || self.cut.is_cancelled()
            || self.closing.is_cancelled()
        {
            return None;
        }
        let guard = self.socket.as_ref()?.try_lock().ok()?;
        // Re-checked under the lock: the task counts bytes out only after
        // writing them, while it holds it.
        (self.backlog.load(Ordering::Acquire) == 0).then_some(guard)
    }

    /// Hands `bytes` to the writer task.
    fn queue(&self, bytes: Bytes) -> Result<usize, Bytes> {
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

    /// Drops the connection: the writer stops at once (unwritten bytes are
    /// discarded, later sends fail) and the reading side reports the link
    /// down; the socket itself is closed after the session's linger, if any
    /// ([`SessionLimits::cut_linger`](super::SessionLimits::cut_linger)).
    pub fn disconnect(&self) {
        self.cut.cancel();
    }

    /// Writes what is queued (for at most [`CLOSE_FLUSH_LIMIT`]), then drops
    /// the connection like [`disconnect`](LinkWriter::disconnect): how a
    /// refused client gets its refusal and nothing more, and cannot keep
    /// the connection open by not closing its end.
    pub fn close_after_flush(&self) {
        self.closing.cancel();
    }

    /// A writer whose bytes go nowhere, with the queue's receiving end, for
    /// tests that drive an actor without a socket.
    pub fn detached() -> (LinkWriter, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = LinkWriter {
            tx,
            backlog: Arc::new(AtomicUsize::new(0)),
            cut: CancellationToken::new(),
            closing: CancellationToken::new(),
            socket: None,
        };
        (w, rx)
    }
}

/// How long [`LinkWriter::close_after_flush`] waits for a peer to take the
/// last bytes: one that does not read must not hold the connection.
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// Spawns the task that writes every buffer queued on the returned
/// [`LinkWriter`] into `wr`, in order. It ends when every `LinkWriter` clone
/// is dropped (after writing what is queued), when a write fails, or
/// when `cut` is cancelled (see [`LinkWriter::disconnect`]): then it stops
/// writing at once and, for `linger`, holds the write half (our side not
/// yet closed) before it drops it; after [`LinkWriter::close_after_flush`]
/// it writes what is queued, then cancels `cut` itself and ends at once.
pub(crate) fn spawn_writer(
    wr: OwnedWriteHalf,
    cut: CancellationToken,
    linger: Duration,
) -> (LinkWriter, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let backlog = Arc::new(AtomicUsize::new(0));
    let closing = CancellationToken::new();
    let socket = Arc::new(Mutex::new(Some(wr)));
    let mut queue = Queue {
        rx,
        written: backlog.clone(),
        stop: cut.clone(),
        close: closing.clone(),
        socket: socket.clone(),
    };
    let task = tokio::spawn(async move {
        queue.run().await;
        let cut_by_owner = queue.stop.is_cancelled() && !queue.close.is_cancelled();
        let Queue { rx, socket, .. } = queue;
        // Sends fail from now on, and what was queued (a slow client's
        // whole backlog) is freed now, not after the linger.
        drop(rx);
        if cut_by_owner && !linger.is_zero() {
            tokio::time::sleep(linger).await;
        }
        // Our side closes now, as when the task owned the write half.
        socket.lock().await.take();
    });
    (
        LinkWriter {
            tx,
            backlog,
            cut,
            closing,
            socket: Some(socket),
        },
        task,
    )
}

/// The writer task's side of a [`LinkWriter`].
struct Queue {
    /// Buffers to write, in order.
    rx: mpsc::UnboundedReceiver<Bytes>,
    /// The writers' backlog, counted down as buffers are written.
    written: Arc<AtomicUsize>,
    /// Cancelled: end now.
    stop: CancellationToken,
    /// Cancelled: write what is queued, then end.
    close: CancellationToken,
    /// The write half, shared with the writers' inline writes.
    socket: Arc<Mutex<Option<OwnedWriteHalf>>>,
}

impl Queue {
    /// Writes every queued buffer in order until told to stop, the last
    /// writer is gone, or a write fails.
    async fn run(&mut self) {
        loop {
            let b = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return,
                b = self.rx.recv() => b,
                _ = self.close.cancelled() => {
                    let last = async {
                        while let Ok(b) = self.rx.try_recv() {
                            if !self.write(&b).await {
                                return;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, last).await;
                    self.stop.cancel();
                    return;
                }
            };
            let Some(b) = b else { return };
            let ok = tokio::select! {
                ok = self.write(&b) => ok,
                _ = self.stop.cancelled() => return,
            };
            if !ok {
                return;
            }
        }
    }

    /// Writes one buffer under the lock and counts it out of the backlog;
    /// false when the connection failed.
    async fn write(&self, b: &Bytes) -> bool {
        let mut socket = self.socket.lock().await;
        let Some(wr) = socket.as_mut() else {
            return false;
        };
        if wr.write_all(b).await.is_err() {
            return false;
        }
        self.written.fetch_sub(b.len(), Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;

    /// A connected pair: our tokio write half (with its writer) and the
    /// peer's blocking std socket.
    async fn pair() -> (LinkWriter, JoinHandle<()>, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (_rd, wr) = ours.into_split();
        let (writer, task) = spawn_writer(wr, CancellationToken::new(), Duration::ZERO);
        (writer, task, peer)
    }

    #[tokio::test]
    async fn bytes_go_out_in_the_callers_turn_when_nothing_is_queued() {
        let (writer, _task, mut peer) = pair().await;
        assert_eq!(writer.send_now(Bytes::from_static(b"ACK,1*")), Ok(0));
        // No await since: the writer task has not run, yet the peer has them.
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ACK,1*");
        assert_eq!(writer.backlog(), 0);
    }

    #[tokio::test]
    async fn bytes_stay_in_order_when_the_peer_stops_reading() {
        let (writer, task, mut peer) = pair().await;
        // Numbered chunks until the socket is full and some are queued.
        let chunk = |i: u32| Bytes::from(vec![(i % 251) as u8; 4096]);
        let mut sent = 0u32;
        while writer.backlog() == 0 {
            writer.send_now(chunk(sent)).unwrap();
            sent += 1;
        }
        // Queued and immediate sends mixed: still one order.
        for _ in 0..16 {
            match sent % 2 {
                0 => writer.send(chunk(sent)).unwrap(),
                _ => writer.send_now(chunk(sent)).unwrap(),
            };
            sent += 1;
        }
        drop(writer);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).map(|_| all)
        });
        task.await.unwrap();
        let all = reader.join().unwrap().unwrap();
        assert_eq!(all.len(), sent as usize * 4096);
        for (i, c) in all.chunks(4096).enumerate() {
            assert!(
                c.iter().all(|&b| b == (i % 251) as u8),
                "chunk {i} in order"
            );
        }
    }

    #[tokio::test]
    async fn a_queued_send_waits_for_the_task_and_counts_as_backlog() {
        let (writer, task, mut peer) = pair().await;
        assert_eq!(writer.send(Bytes::from_static(b"REJ*")), Ok(4));
        // Behind it, an immediate send must queue too.
        assert_eq!(writer.send_now(Bytes::from_static(b"ACK*")), Ok(8));
        drop(writer);
        task.await.unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"REJ*ACK*");
    }

    #[tokio::test]
    async fn a_cut_closes_our_side_even_while_a_writer_is_held() {
        let (writer, task, mut peer) = pair().await;
        writer.disconnect();
        task.await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 0, "end of stream");
        assert!(writer.send(Bytes::from_static(b"late*")).is_err());
    }
}
