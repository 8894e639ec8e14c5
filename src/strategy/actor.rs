//! [`SignalActor`]: every tick from the ring and every news frame through the
//! signal engine, orders out, answers in.
//!
//! This file holds the actor's state, the ring and order paths and the
//! message handlers (each one call, so the transport can be re-pointed);
//! `inbound` handles what the connections bring, `stop` decides when the
//! actor ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use bytes::Bytes;
use slog::Logger;
use tokio::sync::oneshot;

use super::links::{
    NewsBytes, NewsLinkUp, OrderLinkDown, OrderLinkUp, ReplyBytes, RingWaiter, RingWake,
};
use super::orders::{order_id, OrderCounts, OrderTicket, OrderTracker};
use crate::clock::unix_now_ns;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::WriterQueue;
use crate::price::Price;
use crate::protocol::{write_order, FrameSplitter, Order};
use crate::shm::{PriceTableReader, RingCursor, RingRead};
use crate::signals::{OrderIntent, SignalEngine};
use stop::Phase;

mod inbound;
mod stop;

/// Ticks handled per actor turn before yielding to replies and news.
const TICKS_PER_TURN: usize = 65_536;
/// Period of the housekeeping timer (in-doubt orders, table re-creation, end).
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// Everything the actor needs that is not state.
#[derive(Debug, Clone)]
pub struct StrategySettings {
    /// Prefix of client order ids.
    pub client_name: String,
    /// false: original five-field orders, untracked (no answers come).
    pub order_ids: bool,
    /// Shares per order.
    pub quantity: u64,
    /// When an unanswered order is reported in doubt.
    pub order_timeout: Duration,
    /// Longest reply/news frame accepted.
    pub max_frame: usize,
    /// Symbols in table order.
    pub symbols: Vec<String>,
}

/// What came in: counted by the actor, which reads the ring and the news.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Ticks consumed from the ring: all of a finite run's, if none was lost.
    pub ticks: u64,
    /// Ticks the ring overwrote before we read them: signals may be missing.
    pub lost: u64,
    /// News frames used; malformed or unknown-symbol ones are not counted.
    pub news: u64,
}

/// A snapshot of the strategy's counters, for tests and the final log line.
/// Assembled on request from their one keeper each, so no number is copied
/// and kept in two places.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, actix::MessageResponse)]
pub struct StrategyCounts {
    /// Ticks and news in, from the actor.
    pub input: InputCounts,
    /// Orders out and answers in, from the [`OrderTracker`].
    pub orders: OrderCounts,
    /// Orders without an answer yet: must be 0 after a clean stop.
    pub unanswered: u64,
}

/// The strategy's one actor.
pub struct SignalActor {
    settings: StrategySettings,
    /// The table and ring being read.
    reader: Arc<PriceTableReader>,
    /// Next tick to consume.
    cursor: RingCursor,
    /// Thread that sleeps on the ring for us.
    waiter: Option<RingWaiter>,
    engine: SignalEngine,
    /// Latest price per symbol from the ring, for news-triggered orders.
    last_price: Vec<Option<Price>>,
    tracker: OrderTracker,
    /// The order connection's writer, when connected.
    link: Option<WriterQueue>,
    /// Order frames created this turn, written together.
    out: Vec<u8>,
    replies: FrameSplitter,
    news: FrameSplitter,
    /// Ticks and news counted as they come in.
    input: InputCounts,
    bad_log: LogLimiter,
    log: Logger,
    /// Fired when the actor stops (a finite run complete, or a stop request
    /// served), so the process can let the writer finish and exit.
    done: Option<oneshot::Sender<()>>,
    /// The segment name, to notice a re-created table.
    shm_name: String,
    /// Trading, draining after a stop request, or stopped: the one record of
    /// whether new signals may become orders and whether to end.
    phase: Phase,
}

impl SignalActor {
    /// An actor reading `reader`; `done` fires when it stops, whether a
    /// finite run completed or a [`Stop`] was served.
    pub fn new(
        settings: StrategySettings,
        reader: PriceTableReader,
        engine: SignalEngine,
        log: Logger,
        done: oneshot::Sender<()>,
    ) -> SignalActor {
        let n = settings.symbols.len();
        let max = settings.max_frame;
        let cursor = reader.cursor_from_oldest();
        SignalActor {
            shm_name: reader.name().to_string(),
            settings,
            reader: Arc::new(reader),
            cursor,
            waiter: None,
            engine,
            last_price: vec![None; n],
            tracker: OrderTracker::new(),
            link: None,
            out: Vec::with_capacity(4096),
            replies: FrameSplitter::new(max),
            news: FrameSplitter::new(max),
            input: InputCounts::default(),
            bad_log: LogLimiter::new(10, Duration::from_secs(1)),
            log,
            done: Some(done),
            phase: Phase::Trading,
        }
    }

    fn start_waiter(&mut self, ctx: &mut Context<Self>) {
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

    /// Consumes up to a turn's worth of ticks; true when the ring is drained.
    fn drain_ring(&mut self) -> bool {
        for _ in 0..TICKS_PER_TURN {
            match self.reader.ring_next(&mut self.cursor) {
                RingRead::Tick(t) => {
                    self.input.ticks += 1;
                    let sym = t.symbol_idx as usize;
                    let price = Price::from_units(t.price_units);
                    if let Some(p) = self.last_price.get_mut(sym) {
                        *p = Some(price);
                    }
                    if let Some(intent) = self.engine.on_tick(sym, t.price_units, t.seq) {
                        self.place(intent, price);
                    }
                }
                RingRead::Lost(n) => {
                    self.input.lost += n;
                    slog::warn!(self.log, "fell a whole ring behind: ticks lost"; "lost" => n, "total_lost" => self.input.lost);
                }
                RingRead::Empty => return true,
            }
        }
        false
    }

    /// Turns an intent into an order and queues its frame.
    fn place(&mut self, intent: OrderIntent, price: Price) {
        if self.settings.order_ids {
            self.place_tracked(intent, price);
        } else {
            self.place_untracked(intent, price);
        }
    }

    /// An order with an id, kept by the tracker until its answer.
    fn place_tracked(&mut self, intent: OrderIntent, price: Price) {
        let ticket = OrderTicket {
            id: order_id(
                &self.settings.client_name,
                self.reader.generation(),
                intent.tag,
            ),
            symbol_idx: intent.symbol,
            symbol: &self.settings.symbols[intent.symbol],
            side: intent.side,
            quantity: self.settings.quantity,
            price,
        };
        let now_s = unix_now_ns() as f64 / 1e9;
        if let Some(frame) = self.tracker.create(&ticket, Instant::now(), now_s) {
            self.out.extend_from_slice(frame);
            slog::info!(self.log, "order sent"; "id" => &ticket.id, "side" => ticket.side.as_str(),
                "qty" => ticket.quantity, "symbol" => ticket.symbol, "price" => %price);
        }
    }

    /// An original five-field order: nothing answers it, so it is only
    /// counted; it waits in `out` while disconnected.
    fn place_untracked(&mut self, intent: OrderIntent, price: Price) {
        let symbol = &self.settings.symbols[intent.symbol];
        let order = Order {
            timestamp: unix_now_ns() as f64 / 1e9,
            side: intent.side,
            quantity: self.settings.quantity,
            symbol,
            price,
            client_order_id: None,
        };
        write_order(&mut self.out, &order);
        self.tracker.count_untracked();
        slog::info!(self.log, "order sent"; "id" => "-", "side" => order.side.as_str(),
            "qty" => order.quantity, "symbol" => symbol, "price" => %price);
    }

    /// Writes this turn's new order frames if connected. Otherwise tracked
    /// orders wait in the tracker (resent on connect) and untracked ones in
    /// `out` (sent on connect).
    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(link) = &self.link {
            if link.send(Bytes::copy_from_slice(&self.out)).is_ok() {
                self.out.clear();
                return;
            }
            self.link = None;
        }
        if self.settings.order_ids {
            self.out.clear();
        }
    }

    /// Switches to a re-created table (new orderbook) when one appears.
    fn follow_table(&mut self, ctx: &mut Context<Self>) {
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
        self.reader = Arc::new(next);
        self.start_waiter(ctx);
        ctx.notify(RingWake {
            generation: self.reader.generation(),
        });
    }

    /// A snapshot of the counters, each read from its one keeper.
    fn current_counts(&self) -> StrategyCounts {
        StrategyCounts {
            input: self.input,
            orders: self.tracker.counts(),
            unanswered: self.tracker.unanswered() as u64,
        }
    }

    /// The timer's round: report orders newly in doubt, follow a re-created
    /// table while trading, then ask whether to stop (the drain deadline and
    /// a finite run's end are both noticed here at the latest).
    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.report_in_doubt();
        if self.phase.is_trading() {
            self.follow_table(ctx);
        }
        self.stop_if_due(ctx);
    }

    /// Warns once per order unanswered for `order_timeout`: the resend after
    /// a reconnect settles it, but an operator should know it is open.
    fn report_in_doubt(&mut self) {
        for id in self
            .tracker
            .newly_in_doubt(Instant::now(), self.settings.order_timeout)
        {
            slog::warn!(self.log, "order in doubt: no answer yet; it is resent on reconnect"; "id" => id);
        }
    }

    /// New ticks (or the feed's end): drain up to a turn's worth, send what
    /// they made, tell the waiter, and come back for more if the turn ended
    /// before the ring did. Ignored once stopping, and from a table we left.
    fn on_ring_wake(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        if wake.generation != self.reader.generation() || !self.phase.is_trading() {
            return;
        }
        let drained = self.drain_ring();
        self.flush();
        if let Some(w) = &self.waiter {
            w.next_seq
                .store(self.cursor.next_seq(), std::sync::atomic::Ordering::Release);
            if drained {
                let _ = w.drained.send(());
            }
        }
        if drained {
            self.stop_if_due(ctx);
        } else {
            ctx.notify(wake);
        }
    }
}

impl Actor for SignalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_waiter(ctx);
        ctx.run_interval(HOUSEKEEPING, |act, ctx| act.housekeeping(ctx));
    }
}

impl Handler<RingWake> for SignalActor {
    type Result = ();

    fn handle(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        self.on_ring_wake(wake, ctx);
    }
}

impl Handler<OrderLinkUp> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: OrderLinkUp, ctx: &mut Context<Self>) {
        self.on_order_link_up(msg.0, ctx);
    }
}

impl Handler<OrderLinkDown> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: OrderLinkDown, _: &mut Context<Self>) {
        self.on_order_link_down(&msg.0);
    }
}

impl Handler<ReplyBytes> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: ReplyBytes, ctx: &mut Context<Self>) {
        self.on_replies(&msg.0, ctx);
    }
}

impl Handler<NewsBytes> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: NewsBytes, _: &mut Context<Self>) {
        self.on_news(&msg.0);
    }
}

impl Handler<NewsLinkUp> for SignalActor {
    type Result = ();

    fn handle(&mut self, _: NewsLinkUp, _: &mut Context<Self>) {
        self.on_news_link_up();
    }
}

impl Handler<Stop> for SignalActor {
    type Result = ();

    /// Stops taking new signals, then waits (at most `order_timeout`) for the
    /// answers to orders already sent: upstream roles stop first, the
    /// ordermanager last, so a clean stop leaves nothing in doubt.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.request_stop(ctx);
    }
}

impl Handler<GetCounts<StrategyCounts>> for SignalActor {
    type Result = StrategyCounts;

    fn handle(&mut self, _: GetCounts<StrategyCounts>, _: &mut Context<Self>) -> StrategyCounts {
        self.current_counts()
    }
}
