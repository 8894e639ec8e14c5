//! The strategy's connections: the ring waiter thread, the order link and the
//! news link. Each reports to the [`SignalActor`](super::SignalActor) with
//! typed messages and never touches its state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use actix::{Message, Recipient};
use bytes::{Bytes, BytesMut};
use slog::Logger;
use tokio::io::AsyncReadExt;

use crate::lifecycle::Shutdown;
use crate::net::{connect_logged, spawn_writer, Backoff, WriterQueue};
use crate::protocol::frame::READ_CHUNK;
use crate::shm::{PriceTableReader, RingCursor};

/// New ticks may be in the ring (or the feed ended): drain it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RingWake {
    /// Generation of the table the waiter watches; stale wakes are ignored.
    pub generation: u64,
}

/// The order connection is up: write frames into this channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OrderLinkUp(pub WriterQueue);

/// The order connection broke; unanswered orders wait for the next one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OrderLinkDown(pub String);

/// Bytes read from the ordermanager: ACK/REJ frames.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplyBytes(pub Bytes);

/// Bytes read from the gateway's news stream.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewsBytes(pub Bytes);

/// The news connection (re)started: drop partial frames of the last one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewsLinkUp;

/// A thread that sleeps on the ring's futex and wakes the actor.
///
/// Blocking in `wait_for_ticks` must not happen on the actor's thread. The
/// waiter sends one wake, then waits for the actor to say it drained the
/// ring (`drained`), so at most one wake is in flight and nothing spins.
pub struct RingWaiter {
    /// Tells the thread to end.
    stop: Arc<AtomicBool>,
    /// The actor's cursor position, so the thread waits for the right tick.
    pub next_seq: Arc<AtomicU64>,
    /// The actor signals here after each drain.
    pub drained: std_mpsc::Sender<()>,
}

impl RingWaiter {
    /// Starts watching `reader` for ticks at or after `next_seq`.
    pub fn spawn(
        reader: Arc<PriceTableReader>,
        next_seq: u64,
        wake: Recipient<RingWake>,
    ) -> std::io::Result<RingWaiter> {
        let stop = Arc::new(AtomicBool::new(false));
        let seq = Arc::new(AtomicU64::new(next_seq));
        let (drained_tx, drained_rx) = std_mpsc::channel::<()>();
        let (stop2, seq2) = (stop.clone(), seq.clone());
        let generation = reader.generation();
        std::thread::Builder::new()
            .name("ring-waiter".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    let at = RingCursor::at(seq2.load(Ordering::Acquire));
                    let ready = reader.wait_for_ticks(&at, Duration::from_millis(100))
                        || reader.feed_ended();
                    if !ready {
                        continue;
                    }
                    if wake.try_send(RingWake { generation }).is_err()
                        && stop2.load(Ordering::Relaxed)
                    {
                        return;
                    }
                    // Wait for the drain (or a timeout, so `stop` is seen).
                    match drained_rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(()) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(RingWaiter {
            stop,
            next_seq: seq,
            drained: drained_tx,
        })
    }
}

impl Drop for RingWaiter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The writer task of the current order connection, so the process can let
/// it deliver the last orders before exiting.
pub type WriterSlot = Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>;

/// Keeps a connection to the ordermanager: reports it up, forwards replies,
/// reports it down, reconnects with backoff.
///
/// A stop request only ends the *connecting*: an established connection
/// keeps delivering answers, because a stopping strategy still waits for
/// the answers to what it sent. The link ends when the actor is gone.
#[allow(clippy::too_many_arguments)]
pub async fn order_link(
    host: String,
    port: u16,
    up: Recipient<OrderLinkUp>,
    replies: Recipient<ReplyBytes>,
    down: Recipient<OrderLinkDown>,
    shutdown: Shutdown,
    log: Logger,
    writer_slot: WriterSlot,
) {
    let mut backoff = Backoff::client_default();
    loop {
        let Some(stream) =
            connect_logged(&host, port, &mut backoff, &shutdown, &log, "ordermanager").await
        else {
            return;
        };
        let (mut rd, wr) = stream.into_split();
        let (tx, writer) = spawn_writer(wr);
        if let Ok(mut slot) = writer_slot.lock() {
            if let Some(old) = slot.replace(writer) {
                old.abort();
            }
        }
        up.do_send(OrderLinkUp(tx));
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let reason = loop {
            buf.reserve(READ_CHUNK);
            match rd.read_buf(&mut buf).await {
                Ok(0) => break "the ordermanager closed the connection".to_string(),
                Ok(_) => {
                    if replies
                        .send(ReplyBytes(buf.split().freeze()))
                        .await
                        .is_err()
                    {
                        return; // the actor is gone
                    }
                }
                Err(e) => break e.to_string(),
            }
        };
        if let Some(w) = writer_slot.lock().ok().and_then(|mut s| s.take()) {
            w.abort();
        }
        down.do_send(OrderLinkDown(reason));
    }
}

/// Keeps a connection to the gateway's news stream and forwards what it reads.
pub async fn news_link(
    host: String,
    port: u16,
    up: Recipient<NewsLinkUp>,
    news: Recipient<NewsBytes>,
    shutdown: Shutdown,
    log: Logger,
) {
    let mut backoff = Backoff::client_default();
    loop {
        let Some(mut stream) =
            connect_logged(&host, port, &mut backoff, &shutdown, &log, "news").await
        else {
            return;
        };
        slog::info!(log, "news connected");
        up.do_send(NewsLinkUp);
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            let read = tokio::select! {
                r = stream.read_buf(&mut buf) => r,
                _ = shutdown.requested() => return,
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if news.send(NewsBytes(buf.split().freeze())).await.is_err() {
                        return;
                    }
                }
            }
        }
        slog::info!(log, "news disconnected; reconnecting");
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
