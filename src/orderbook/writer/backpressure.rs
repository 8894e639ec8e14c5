//! The writer's wait for a slow ring reader: the lossless ring's
//! backpressure, from the table back to the gateway's TCP connection.
//!
//! The tick ring never overwrites a tick a live registered reader has not
//! read (see `shm::cursors`). When the next frame of a read would need such
//! an entry, the writer keeps the rest of the read and answers the feed's
//! message only once it is all published. The feed's pump awaits that
//! answer before it reads the socket again, so the kernel's buffer fills,
//! TCP's window closes and the gateway is held back: at `rate = 0` it waits
//! (up to its `max_stall_ms`, then it drops us and we resume exactly where
//! we stopped with `#RESUME`); at `rate > 0` a full queue drops us as it
//! drops any subscriber that cannot keep up, and the resume is the same.
//!
//! The wait is a short timer between rechecks, not a blocked thread: the
//! actor's heartbeat keeps beating (the strategy's staleness check reads
//! it) and `Stop` and `GetCounts` are still answered. Each wait is counted
//! (`ring_waits`, `ring_wait_ms`) and logged, rate-limited, with the pid of
//! the reader it waits for.

use std::time::{Duration, Instant};

use actix::dev::{MessageResponse, OneshotSender};
use actix::{fut, ActorFutureExt, Context, ResponseActFuture, WrapFuture};

use super::BookWriterActor;
use crate::net::NetEvent;
use crate::orderbook::position::Verdict;
use crate::orderbook::MarketData;
use crate::protocol::FrameBatch;
use crate::shm::RingFull;

/// How long the writer sleeps before looking at the readers' cursors
/// again. A reader frees about a millisecond's worth of ticks meanwhile,
/// and the ring holds far more than that, so the reader never runs dry.
const RECHECK_ROOM: Duration = Duration::from_millis(1);

/// How far publishing one read got.
pub(super) enum Published {
    /// Every frame handled; a control frame may have ended the feed.
    Done(Option<Verdict>),
    /// Stopped before frame `at`: the ring is full.
    Blocked {
        /// The first frame not yet handled.
        at: usize,
        /// Who holds the writer back.
        full: RingFull,
    },
}

/// The writer's answer to a market data event: at once when it is handled,
/// or once a wait for room is over. Answering at once also answers a feed
/// whose end stopped the actor, which a spawned future would not.
pub enum Handled {
    /// Handled: the pump may read again.
    Now,
    /// Part of the read waits for room in the ring.
    Later(ResponseActFuture<BookWriterActor, ()>),
}

impl MessageResponse<BookWriterActor, NetEvent<MarketData>> for Handled {
    fn handle(self, ctx: &mut Context<BookWriterActor>, tx: Option<OneshotSender<()>>) {
        match self {
            Handled::Now => {
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
            Handled::Later(wait) => {
                MessageResponse::<BookWriterActor, NetEvent<MarketData>>::handle(wait, ctx, tx)
            }
        }
    }
}

/// A wait in progress.
pub(super) struct RingWait {
    /// When it started, for `ring_wait_ms`.
    since: Instant,
    /// Whether its start was logged (so is its end).
    logged: bool,
}

impl BookWriterActor {
    /// Publishes `frames` from frame `from` on; if the ring fills, waits
    /// for room and goes on, answering only when the whole read is done.
    pub(super) fn publish_or_wait(
        &mut self,
        frames: FrameBatch,
        from: usize,
        ctx: &mut Context<Self>,
    ) -> Handled {
        let published = self.publish_from(&frames, from);
        // Any frame handled means the reader made room: that wait is over.
        if !matches!(published, Published::Blocked { at, .. } if at == from) {
            self.ring_wait_over();
        }
        match published {
            Published::Done(verdict) => {
                if let Some(verdict) = verdict {
                    self.end_with(verdict, ctx);
                }
                Handled::Now
            }
            Published::Blocked { at, full } => {
                self.ring_wait_started(full);
                let recheck = tokio::time::sleep(RECHECK_ROOM).into_actor(self);
                Handled::Later(Box::pin(recheck.then(move |_, act, ctx| {
                    match act.publish_or_wait(frames, at, ctx) {
                        Handled::Now => Box::pin(fut::ready(())),
                        Handled::Later(wait) => wait,
                    }
                })))
            }
        }
    }

    /// Counts a new wait and logs it (rate-limited) with the reader's pid;
    /// a wait already in progress is left as it is.
    fn ring_wait_started(&mut self, full: RingFull) {
        if self.ring_wait.is_some() {
            return;
        }
        self.stats.ring_waits += 1;
        let logged = match self.wait_log.allow() {
            Some(skipped) => {
                slog::warn!(self.log, "tick ring full: not reading the feed until the slowest reader catches up";
                    "reader_pid" => full.reader_pid, "behind" => full.behind,
                    "ring_waits" => self.stats.ring_waits, "not_logged_before" => skipped);
                true
            }
            None => false,
        };
        self.ring_wait = Some(RingWait {
            since: Instant::now(),
            logged,
        });
    }

    /// Ends the wait in progress, if any: its time is added to the count.
    pub(super) fn ring_wait_over(&mut self) {
        let Some(wait) = self.ring_wait.take() else {
            return;
        };
        let waited_ms = wait.since.elapsed().as_millis() as u64;
        self.stats.ring_wait_ms += waited_ms;
        if wait.logged {
            slog::info!(self.log, "tick ring has room again: reading the feed";
                "waited_ms" => waited_ms, "ring_wait_ms" => self.stats.ring_wait_ms);
        }
    }
}
