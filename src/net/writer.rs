//! The writing half of a connection: a task that owns the socket's write
//! half, so an actor answers by queueing bytes and never awaits a socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The handle an actor writes a connection through.
///
/// Cloneable. It knows how many bytes are queued but not yet written, so an
/// owner can notice a peer that stopped reading before it costs unbounded
/// memory, and it can [`disconnect`](LinkWriter::disconnect) such a peer:
/// the reading side and the writer task both end at once.
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
}

impl LinkWriter {
    /// Queues `bytes`; returns the backlog including them, or `Err` with the
    /// bytes when the writer task has ended (the connection is gone).
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

    /// Drops the connection now: the writer stops (unwritten bytes are
    /// discarded) and the reading side reports the link down.
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
        };
        (w, rx)
    }
}

/// How long [`LinkWriter::close_after_flush`] waits for a peer to take the
/// last bytes: one that does not read must not hold the connection.
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// Spawns the task that writes every buffer queued on the returned
/// [`LinkWriter`] into `wr`, in order. It ends when every `LinkWriter` clone
/// is dropped (after writing what is queued), when a write fails, or at once
/// when `cut` is cancelled (see [`LinkWriter::disconnect`]); after
/// [`LinkWriter::close_after_flush`] it writes what is queued, then cancels
/// `cut` itself.
pub(crate) fn spawn_writer(
    mut wr: OwnedWriteHalf,
    cut: CancellationToken,
) -> (LinkWriter, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let backlog = Arc::new(AtomicUsize::new(0));
    let written = backlog.clone();
    let stop = cut.clone();
    let closing = CancellationToken::new();
    let close = closing.clone();
    let task = tokio::spawn(async move {
        loop {
            let b = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                b = rx.recv() => b,
                _ = close.cancelled() => {
                    let last = async {
                        while let Ok(b) = rx.try_recv() {
                            if wr.write_all(&b).await.is_err() {
                                return;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, last).await;
                    stop.cancel();
                    return;
                }
            };
            let Some(b) = b else { return };
            let ok = tokio::select! {
                r = wr.write_all(&b) => r.is_ok(),
                _ = stop.cancelled() => return,
            };
            if !ok {
                return;
            }
            written.fetch_sub(b.len(), Ordering::AcqRel);
        }
    });
    (
        LinkWriter {
            tx,
            backlog,
            cut,
            closing,
        },
        task,
    )
}
