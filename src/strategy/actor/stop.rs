//! How a [`SignalActor`] ends: one state machine for a requested stop and
//! for the end of a finite run, so "may we stop now?" has one answer.
//!
//! ```text
//! Trading ──Stop──▶ Draining { until } ──every order answered, or until passed──▶ Stopped
//!    │                                                                              ▲
//!    └──── finite run complete (feed ended, ring drained, all sent and answered) ───┘
//! ```
//!
//! Every event that can change the answer (a timer tick, a drained ring, a
//! reply, a new order connection, a stop request) calls
//! [`SignalActor::stop_if_due`]; only [`SignalActor::stop`] ends the actor.

use std::time::Instant;

use actix::{ActorContext, Context};

use super::SignalActor;

/// Where the actor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Signals become orders.
    Trading,
    /// Asked to stop with orders unanswered: no new orders, but answers are
    /// still taken, because the ordermanager stops after us and a clean stop
    /// should leave nothing in doubt. Gives up at `until`.
    Draining {
        /// The request's time plus `order_timeout`.
        until: Instant,
    },
    /// Final counts logged, `done` fired; nothing more happens.
    Stopped,
}

impl Phase {
    /// Whether ticks and news may still become orders.
    pub(crate) fn is_trading(self) -> bool {
        self == Phase::Trading
    }
}

impl SignalActor {
    /// A stop request: stop now if nothing is owed, otherwise drain.
    ///
    /// Without an order connection no answer can come (a stopping process
    /// does not reconnect), so there is nothing to wait for. A second
    /// request while draining keeps the first deadline.
    pub(super) fn request_stop(&mut self, ctx: &mut Context<Self>) {
        if !self.phase.is_trading() {
            return;
        }
        if self.link.is_none() {
            self.stop(ctx);
            return;
        }
        let unanswered = self.tracker.unanswered();
        if unanswered > 0 {
            slog::info!(self.log, "stopping: waiting for the answers to sent orders"; "unanswered" => unanswered);
        }
        self.phase = Phase::Draining {
            until: Instant::now() + self.settings.order_timeout,
        };
        self.stop_if_due(ctx);
    }

    /// The one decision whether to stop now; call it after anything that
    /// can change the answer.
    pub(super) fn stop_if_due(&mut self, ctx: &mut Context<Self>) {
        let due = match self.phase {
            Phase::Stopped => false,
            Phase::Trading => self.finished(),
            Phase::Draining { .. } if self.tracker.unanswered() == 0 => true,
            Phase::Draining { until } => {
                let expired = Instant::now() >= until;
                if expired {
                    slog::warn!(self.log, "stopping with unanswered orders (in doubt)"; "unanswered" => self.tracker.unanswered());
                }
                expired
            }
        };
        if due {
            self.stop(ctx);
        }
    }

    /// A finite run is complete once the feed ended, the ring is drained,
    /// every order is out of `out` and every tracked order is answered.
    fn finished(&self) -> bool {
        self.out.is_empty()
            && self.reader.feed_ended()
            && self.cursor.next_seq() >= self.reader.ticks_written()
            && self.tracker.unanswered() == 0
    }

    /// The only way the actor ends: final counts to the log (the last line a
    /// reader of the log looks for), then the process told through `done`.
    fn stop(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Stopped;
        self.log_counts("final counts");
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        ctx.stop();
    }
}
