//! The [`SignalActor`]'s ring path: the waiter thread that wakes it, the
//! drain of every tick through the engine, and following the table when
//! the orderbook re-creates it.

use std::sync::Arc;

use actix::{ActorContext, AsyncContext, Context};

use super::{SignalActor, TICKS_PER_TURN};

/// How a drain of the ring ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// No tick left: the waiter may sleep.
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
use crate::clock::unix_now_ns;
use crate::price::Price;
use crate::shm::{PriceTableReader, RingRead};
use crate::strategy::links::{RingWaiter, RingWake};

impl SignalActor {
    /// Starts the thread that sleeps on the ring for us; without it no tick
    /// would ever arrive, so failing to start it stops the actor.
    pub(super) fn start_waiter(&mut self, ctx: &mut Context<Self>) {
        match RingWaiter::spawn(
            self.reader.clone(),
            self.cursor.next_seq(),
            ctx.address().recipient(),
        ) {
            Ok(w) => self.waiter = Some(w),
            Err(e) => {
                slog::crit!(self.log, "cannot start the ring waiter thread"; "error" => %e);
                ctx.stop();
            }
        }
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
        self.waiter = None;
        self.cursor = next.cursor_from_oldest();
        // The old slot goes with the old table; a new one, or a clear error.
        self.ring_slot = match next.register_ring_reader(&self.cursor) {
            Ok(slot) => Some(slot),
            Err(e) => {
                slog::error!(self.log, "cannot register with the new table: ticks may be lost (counted)"; "error" => %e);
                None
            }
        };
        self.reader = Arc::new(next);
        self.start_waiter(ctx);
        ctx.notify(RingWake {
            generation: self.reader.generation(),
        });
    }

    /// New ticks (or the feed's end): drain up to a turn's worth, send what
    /// they made, tell the waiter, and come back for more if the turn ended
    /// before the ring did. Ignored once stopping, and from a table we left.
    pub(super) fn on_ring_wake(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        if wake.generation != self.reader.generation() || !self.phase.is_trading() {
            return;
        }
        let drain = self.drain_ring();
        let drained = drain == Drain::Drained;
        // Once per drain, not per tick: the writer may reuse what we read.
        if let Some(slot) = &self.ring_slot {
            slot.publish(&self.cursor);
        }
        self.flush();
        if let Some(w) = &self.waiter {
            w.next_seq
                .store(self.cursor.next_seq(), std::sync::atomic::Ordering::Release);
            if drained {
                let _ = w.drained.send(());
            }
        }
        match drain {
            Drain::Drained => self.stop_if_due(ctx),
            Drain::TurnOver => ctx.notify(wake),
            // News or answers will wake us; the waiter re-checks meanwhile.
            Drain::Held => {}
        }
    }
}
