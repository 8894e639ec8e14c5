//! [`SignalActor`]: every tick from the ring and every news frame through the
//! signal engine, orders out, answers in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use bytes::Bytes;
use slog::Logger;
use tokio::sync::oneshot;

use super::links::{
    NewsBytes, NewsLinkUp, OrderLinkDown, OrderLinkUp, ReplyBytes, RingWaiter, RingWake,
};
use super::orders::{order_id, Answer, OrderCounts, OrderTicket, OrderTracker};
use crate::clock::unix_now_ns;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::WriterQueue;
use crate::price::Price;
use crate::protocol::{parse_news, parse_reply, write_order, FrameSplitter, Order, Reply};
use crate::shm::{PriceTableReader, RingCursor, RingRead};
use crate::signals::{OrderIntent, SignalEngine};

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
    /// Told when a finite run is complete.
    done: Option<oneshot::Sender<()>>,
    /// The segment name, to notice a re-created table.
    shm_name: String,
    /// Set by a stop request: no new orders; wait for answers until then.
    draining_until: Option<Instant>,
}

impl SignalActor {
    /// An actor reading `reader`; `done` fires when a finite run is complete.
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
            draining_until: None,
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

    fn handle_replies(&mut self, bytes: &[u8]) {
        self.replies.push(bytes);
        loop {
            let frame = match self.replies.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    slog::error!(self.log, "reply stream unframeable; discarding it"; "reason" => %e);
                    self.replies = FrameSplitter::new(self.settings.max_frame);
                    break;
                }
            };
            match parse_reply(frame) {
                Ok(Reply::Ack {
                    client_order_id: id,
                }) => match self.tracker.answer(id, false) {
                    Answer::Acked { symbol, .. } => {
                        slog::info!(self.log, "order acked"; "id" => id, "position" => self.tracker.position(symbol));
                    }
                    _ => slog::debug!(self.log, "ACK for an order already answered"; "id" => id),
                },
                Ok(Reply::Rej {
                    client_order_id: id,
                    reason,
                }) => match self.tracker.answer(id, true) {
                    Answer::Rejected => {
                        slog::warn!(self.log, "order rejected"; "id" => id, "reason" => reason)
                    }
                    _ => slog::debug!(self.log, "REJ for an order already answered"; "id" => id),
                },
                Err(e) => {
                    if let Some(skipped) = self.bad_log.allow() {
                        slog::warn!(self.log, "malformed reply"; "reason" => %e, "not_logged_before" => skipped);
                    }
                }
            }
        }
    }

    fn handle_news(&mut self, bytes: &[u8]) {
        self.news.push(bytes);
        loop {
            let frame = match self.news.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    slog::error!(self.log, "news stream unframeable; discarding it"; "reason" => %e);
                    self.news = FrameSplitter::new(self.settings.max_frame);
                    break;
                }
            };
            let parsed = parse_news(frame).map_err(|e| e.to_string()).and_then(|n| {
                let idx = self
                    .reader
                    .symbol_index(n.symbol)
                    .ok_or_else(|| format!("unknown symbol {:?}", n.symbol))?;
                Ok((idx, n.sentiment))
            });
            match parsed {
                Ok((idx, sentiment)) => {
                    self.input.news += 1;
                    if let Some(intent) = self.engine.on_news(idx, sentiment) {
                        match self.last_price[idx] {
                            Some(price) => self.place(intent, price),
                            None => {
                                slog::debug!(self.log, "news signal before any price; skipped"; "symbol" => idx)
                            }
                        }
                    }
                }
                Err(reason) => {
                    if let Some(skipped) = self.bad_log.allow() {
                        slog::warn!(self.log, "news frame ignored"; "reason" => reason, "not_logged_before" => skipped);
                    }
                }
            }
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

    /// A finite run is complete once the feed ended, the ring is drained
    /// and every order is answered.
    fn finished(&self) -> bool {
        self.out.is_empty()
            && self.reader.feed_ended()
            && self.cursor.next_seq() >= self.reader.ticks_written()
            && self.tracker.unanswered() == 0
    }

    fn current_counts(&self) -> StrategyCounts {
        StrategyCounts {
            input: self.input,
            orders: self.tracker.counts(),
            unanswered: self.tracker.unanswered() as u64,
        }
    }

    fn stop_with_counts(&mut self, ctx: &mut Context<Self>) {
        let c = self.current_counts();
        let positions: Vec<String> = (0..self.settings.symbols.len())
            .map(|i| format!("{}={}", self.settings.symbols[i], self.tracker.position(i)))
            .collect();
        slog::info!(self.log, "final counts";
            "sent" => c.orders.sent, "acked" => c.orders.acked, "rejected" => c.orders.rejected, "unanswered" => c.unanswered,
            "resent" => c.orders.resent, "ticks" => c.input.ticks, "lost" => c.input.lost, "news" => c.input.news,
            "positions" => positions.join(" "));
        self.waiter = None;
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        ctx.stop();
    }
}

impl Actor for SignalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_waiter(ctx);
        ctx.run_interval(HOUSEKEEPING, |act, ctx| {
            for id in act.tracker.newly_in_doubt(Instant::now(), act.settings.order_timeout) {
                slog::warn!(act.log, "order in doubt: no answer yet; it is resent on reconnect"; "id" => id);
            }
            if let Some(deadline) = act.draining_until {
                if Instant::now() >= deadline {
                    slog::warn!(act.log, "stopping with unanswered orders (in doubt)"; "unanswered" => act.tracker.unanswered());
                    act.stop_with_counts(ctx);
                }
                return;
            }
            act.follow_table(ctx);
            if act.finished() {
                act.stop_with_counts(ctx);
            }
        });
    }
}

impl Handler<RingWake> for SignalActor {
    type Result = ();

    fn handle(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        if wake.generation != self.reader.generation() || self.draining_until.is_some() {
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
        if !drained {
            ctx.notify(wake);
        } else if self.finished() {
            self.stop_with_counts(ctx);
        }
    }
}

impl Handler<OrderLinkUp> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: OrderLinkUp, _: &mut Context<Self>) {
        self.replies = FrameSplitter::new(self.settings.max_frame);
        let mut frames = Vec::new();
        let n = self.tracker.resend_all(&mut frames, Instant::now());
        // Tracked orders created while disconnected are in the tracker;
        // untracked ones (no ids) waited in `out`.
        frames.append(&mut self.out);
        if !frames.is_empty() {
            let _ = msg.0.send(Bytes::from(frames));
        }
        slog::info!(self.log, "ordermanager connected"; "resent_unanswered" => n);
        self.link = Some(msg.0);
    }
}

impl Handler<OrderLinkDown> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: OrderLinkDown, _: &mut Context<Self>) {
        self.link = None;
        slog::warn!(self.log, "ordermanager disconnected; unanswered orders will be resent";
            "reason" => msg.0, "unanswered" => self.tracker.unanswered());
    }
}

impl Handler<ReplyBytes> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: ReplyBytes, ctx: &mut Context<Self>) {
        self.handle_replies(&msg.0);
        let drained = self.draining_until.is_some() && self.tracker.unanswered() == 0;
        if drained || self.finished() {
            self.stop_with_counts(ctx);
        }
    }
}

impl Handler<NewsBytes> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: NewsBytes, _: &mut Context<Self>) {
        if self.draining_until.is_none() {
            self.handle_news(&msg.0);
            self.flush();
        }
    }
}

impl Handler<NewsLinkUp> for SignalActor {
    type Result = ();

    fn handle(&mut self, _: NewsLinkUp, _: &mut Context<Self>) {
        self.news = FrameSplitter::new(self.settings.max_frame);
    }
}

impl Handler<Stop> for SignalActor {
    type Result = ();

    /// Stops taking new signals, then waits (at most `order_timeout`) for the
    /// answers to orders already sent: upstream roles stop first, the
    /// ordermanager last, so a clean stop leaves nothing in doubt.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        if self.tracker.unanswered() == 0 || self.link.is_none() {
            self.stop_with_counts(ctx);
            return;
        }
        slog::info!(self.log, "stopping: waiting for the answers to sent orders"; "unanswered" => self.tracker.unanswered());
        self.draining_until = Some(Instant::now() + self.settings.order_timeout);
    }
}

impl Handler<GetCounts<StrategyCounts>> for SignalActor {
    type Result = StrategyCounts;

    fn handle(&mut self, _: GetCounts<StrategyCounts>, _: &mut Context<Self>) -> StrategyCounts {
        self.current_counts()
    }
}
