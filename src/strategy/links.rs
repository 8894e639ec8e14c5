//! The strategy's inputs besides the actor: the ring waiter thread, and the
//! settings of its two [`ClientLink`](crate::net::ClientLink)s (orders and
//! news). Each reports to the [`SignalActor`](super::SignalActor) with typed
//! messages and never touches its state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use actix::{Message, Recipient};

use crate::config::Config;
use crate::net::{LinkSettings, ReadLimits};
use crate::shm::{PriceTableReader, RingCursor};

/// New ticks may be in the ring (or the feed ended): drain it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RingWake {
    /// Generation of the table the waiter watches; stale wakes are ignored.
    pub generation: u64,
}

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

/// The ordermanager connection, as a link kind: orders out, ACK/REJ in.
pub enum Orders {}

/// The gateway's news stream, as a link kind.
pub enum News {}

/// The order link: on a stop request it stops connecting but keeps reading
/// the established connection, because a stopping strategy still waits for
/// the answers to what it sent; it ends when told to ([`Stop`](crate::lifecycle::Stop)).
pub fn order_link_settings(cfg: &Config) -> LinkSettings {
    let s = &cfg.strategy;
    LinkSettings {
        peer: "ordermanager",
        config_key: "strategy.order_manager_port",
        host: s.order_manager_host.clone(),
        port: s.order_manager_port,
        limits: ReadLimits::frames_only(cfg.protocol.max_frame),
        eof_ends: false,
        read_through_shutdown: true,
    }
}

/// The news link: ends with the process.
pub fn news_link_settings(cfg: &Config) -> LinkSettings {
    let s = &cfg.strategy;
    LinkSettings {
        peer: "news",
        config_key: "strategy.news_port",
        host: s.news_host.clone(),
        port: s.news_port,
        limits: ReadLimits::frames_only(cfg.protocol.max_frame),
        eof_ends: false,
        read_through_shutdown: false,
    }
}
