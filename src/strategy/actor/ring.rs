//! The [`SignalActor`]'s ring path: its doorbell, the drain of every tick
//! through the engine, and following the table when the orderbook
//! re-creates it.
//!
//! The actor's own thread waits for ticks. After a drain that emptied the
//! ring it arms its [`Doorbell`] in its reader slot and looks at the ring
//! once more; the orderbook rings the doorbell after its next batch, and
//! the doorbell is a socket on the actor's own event loop, so a tick wakes
//! exactly one thread of this process (no waiter thread and no mailbox hop
//! between it and the actor), and nothing runs while no tick comes. The
//! housekeeping timer drains too, so a ring that never came (a dead
//! writer) costs at most one period, never a hang.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{ActorContext, AsyncContext, Context, Message, StreamHandler};
use futures_util::Stream;

use super::{SignalActor, TICKS_PER_TURN};
use crate::clock::unix_now_ns;
use crate::price::Price;
use crate::shm::{Doorbell, PriceTableReader, RingRead};

/// New ticks may be in the ring (or the feed ended): drain it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RingWake {
    /// Generation of the table this wake is about; wakes about a table we
    /// left are ignored.
    pub generation: u64,
}

/// The orderbook rang our doorbell: it published a batch since we armed.
#[derive(Debug, Clone, Copy)]
pub struct Rung;

/// How a drain of the ring ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// No tick left: arm the doorbell and sleep.
    Drained,
    /// A turn's worth read: more next turn.
    TurnOver,
    /// The next tick waits: for news due before it, or for answers to the
    /// orders in flight (`max_unanswered`).
    Held,
}

/// Ticks consumed between two publications of our cursor within a turn: a
/// small slice of any sane ring, so a writer waiting on us for room waits
/// for this many ticks, not for a whole turn.
const CURSOR_PUBLISH_EVERY: usize = 4096;
/// How often a reader without a slot (a re-created table refused us one)
/// looks at the ring: nothing rings for it, and its losses are counted.
const UNREGISTERED_POLL: Duration = Duration::from_millis(1);

impl SignalActor {
    /// Binds our doorbell, names it in our reader slot and listens to it on
    /// the actor's own event loop. Without it no tick would ever arrive, so
    /// failing to bind it stops the actor.
    pub(super) fn start_doorbell(&mut self, ctx: &mut Context<Self>) {
        let bell = match Doorbell::bind() {
            Ok(bell) => Rc::new(bell),
            Err(e) => {
                slog::crit!(self.log, "cannot open the ring doorbell"; "error" => %e);
                ctx.stop();
                return;
            }
        };
        if let Some(slot) = &self.ring_slot {
            slot.use_doorbell(&bell);
        }
        ctx.add_stream(rings(bell.clone()));
        self.bell = Some(bell);
    }

    /// Consumes up to a turn's worth of ticks, news due before each applied
    /// first; how it stopped.
    fn drain_ring(&mut self) -> Drain {
        let now = unix_now_ns();
        for n in 1..=TICKS_PER_TURN {
            let seq = self.cursor.next_seq();
            while let Some(news) = self.news_gate.due(seq) {
                self.apply_news(news.symbol, news.sentiment);
            }
            if !self.news_gate.may_read(seq) {
                return Drain::Held;
            }
            if self.tracker.unanswered() >= self.settings.max_unanswered {
                return Drain::Held;
            }
            match self.reader.ring_next(&mut self.cursor) {
                RingRead::Tick(t) => {
                    // A writer held back by us resumes after a slice of the
                    // ring, not after our whole turn (one store per slice).
                    if n % CURSOR_PUBLISH_EVERY == 0 {
                        if let Some(slot) = &self.ring_slot {
                            slot.publish(&self.cursor);
                        }
                    }
                    self.input.ticks += 1;
                    let sym = t.symbol;
                    let price = Price::from_units(t.price_units);
                    if let Some(p) = self.last_price.get_mut(sym.get()) {
                        *p = Some(price);
                    }
                    let fresh = self.fresh_enough(&t, now);
                    if let Some(intent) = self.decide_tick(&t) {
                        if fresh {
                            self.place(intent, price);
                        } else {
                            self.input.skipped += 1;
                        }
                    }
                }
                RingRead::Lost(n) => {
                    self.input.lost += n;
                    slog::warn!(self.log, "fell a whole ring behind: ticks lost"; "lost" => n, "total_lost" => self.input.lost);
                }
                RingRead::Empty => return Drain::Drained,
            }
        }
        Drain::TurnOver
    }

    /// Drains the ring again soon (held ticks may move on).
    pub(super) fn wake_ring(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(RingWake {
            generation: self.reader.generation(),
        });
    }

    /// Switches to a re-created table (new orderbook) when one appears.
    pub(super) fn follow_table(&mut self, ctx: &mut Context<Self>) {
        if self.reader.is_current() {
            return;
        }
        let Ok(next) = PriceTableReader::attach_expecting(&self.shm_name, &self.settings.symbols)
        else {
            return; // not there yet: keep the old view
        };
        if next.generation() == self.reader.generation() {
            return;
        }
        slog::warn!(self.log, "price table re-created; following the new one";
            "old_generation" => format!("{:016x}", self.reader.generation()), "new_generation" => format!("{:016x}", next.generation()));
        self.cursor = next.cursor_from_oldest();
        // The old slot goes with the old table; a new one, or a clear error.
        self.ring_slot = match next.register_ring_reader(&self.cursor) {
            Ok(slot) => {
                if let Some(bell) = &self.bell {
                    slot.use_doorbell(bell);
                }
                Some(slot)
            }
            Err(e) => {
                slog::error!(self.log, "cannot register with the new table: ticks may be lost (counted)"; "error" => %e);
                None
            }
        };
        self.reader = Arc::new(next);
        ctx.notify(RingWake {
            generation: self.reader.generation(),
        });
    }

    /// New ticks (or the feed's end): drain up to a turn's worth, send what
    /// they made, and then either sleep (arm the doorbell), come back for
    /// the rest of a long ring, or wait for what holds the next tick.
    /// Ignored once stopping, and from a table we left.
    pub(super) fn on_ring_wake(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        if wake.generation != self.reader.generation() || !self.phase.is_trading() {
            return;
        }
        let drain = self.drain_ring();
        // Once per drain, not per tick: the writer may reuse what we read.
        if let Some(slot) = &self.ring_slot {
            slot.publish(&self.cursor);
        }
        self.flush();
        match drain {
            Drain::Drained => {
                self.stop_if_due(ctx);
                self.sleep_until_rung(ctx);
            }
            Drain::TurnOver => ctx.notify(wake),
            // News or answers will wake us (and the housekeeping timer).
            Drain::Held => {}
        }
    }

    /// The ring is empty: arm the doorbell, then look once more, so a tick
    /// published between the drain and the arm is read now rather than
    /// waiting for a ring that will not come (see `shm::Doorbell`).
    fn sleep_until_rung(&mut self, ctx: &mut Context<Self>) {
        if !self.phase.is_trading() {
            return;
        }
        let Some(slot) = &self.ring_slot else {
            ctx.run_later(UNREGISTERED_POLL, |act, ctx| act.wake_ring(ctx));
            return;
        };
        slot.arm();
        if self.reader.ticks_written() > self.cursor.next_seq() {
            self.wake_ring(ctx);
        } else if self.reader.feed_ended() {
            self.stop_if_due(ctx);
        }
    }
}

/// Our doorbell's rings as a stream on the actor's event loop: one item per
/// wake-up, however many rings it found.
fn rings(bell: Rc<Doorbell>) -> impl Stream<Item = Rung> {
    futures_util::stream::unfold(bell, |bell| async move {
        bell.rung().await.ok()?;
        Some((Rung, bell))
    })
}

impl StreamHandler<Rung> for SignalActor {
    /// Drains at once, in this turn: the ring is why we woke.
    fn handle(&mut self, _: Rung, ctx: &mut Context<Self>) {
        let generation = self.reader.generation();
        self.on_ring_wake(RingWake { generation }, ctx);
    }

    /// The doorbell's event loop registration failed: no tick can arrive.
    fn finished(&mut self, ctx: &mut Context<Self>) {
        slog::crit!(self.log, "the ring doorbell stopped working");
        ctx.stop();
    }
}
