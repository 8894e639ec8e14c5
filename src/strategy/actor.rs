//! [`SignalActor`]: every tick from the ring and every news frame through the
//! signal engine, orders out, answers in.
//!
//! This file holds the actor's state, the order path and the message
//! handlers (each one call, so the transport can be re-pointed); `ring`
//! reads the tick ring, `inbound` handles what the connections bring, and
//! `stop` decides when the actor ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler};
use bytes::Bytes;
use slog::Logger;
use tokio::sync::oneshot;

use super::links::{News, Orders};
use super::orders::{order_id, OrderCounts, OrderTicket, OrderTracker};
use crate::backtest::recording::{Input, Recorder};
use crate::clock::unix_now_ns;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::{LinkEvent, LinkWriter, NetEvent};
use crate::price::Price;
use crate::protocol::{write_order, Order};
use crate::shm::{Doorbell, PriceTableReader, RingCursor, RingRegistration, ShmError, Tick};
use crate::signals::{NewsEvent, OrderIntent, Strategy, TickEvent};
use crate::symbol::SymbolIndex;
use fresh::Freshness;
use news_gate::NewsGate;
use ring::RingWake;
use stop::Phase;
use summary::AnswerLog;

mod fresh;
mod inbound;
mod news_gate;
mod ring;
mod stop;
mod summary;

/// Ticks handled per actor turn before yielding to replies and news.
const TICKS_PER_TURN: usize = 65_536;
/// Period of the housekeeping timer (in-doubt orders, table re-creation, end).
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// The `[strategy]` configuration the actor acts on, separated from the
/// file format so tests can build one directly.
#[derive(Debug, Clone)]
pub struct StrategySettings {
    /// Prefix of client order ids, so the ordermanager's journal tells
    /// strategies apart; at most 6 bytes keeps ids within the protocol's 32.
    pub client_name: String,
    /// false speaks the original five-field protocol, for the original order
    /// server, which never answers: orders are then counted but not tracked.
    pub order_ids: bool,
    /// Shares per order; fixed, because sizing is not this strategy's job.
    pub quantity: u64,
    /// How long an order may stay unanswered before it is reported in doubt,
    /// and how long a stop waits for the last answers.
    pub order_timeout: Duration,
    /// Symbols in table order: the engine and the positions index them the
    /// same way as the shm table.
    pub symbols: Vec<String>,
    /// Ticks older than this update the indicators but send no order
    /// (see `fresh`); `None`: every tick trades (finite and full-speed
    /// replays, whose exact orders must not depend on machine load).
    pub max_tick_age: Option<Duration>,
    /// Token of the AUTH frame sent first on every connection (with
    /// `client_name`, the scope of this strategy's ids); `None`: no AUTH,
    /// for an ordermanager that does not require it or the original server.
    pub auth_token: Option<String>,
    /// Orders without an answer at which the strategy stops reading ticks
    /// until half of them are answered: what it remembers per order stays
    /// bounded when the ordermanager is slower than the signals (the
    /// lossless ring holds the feed back meanwhile, so no signal is lost).
    pub max_unanswered: usize,
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
    /// Ticks older than `max_tick_age` when read: indicators only.
    pub stale: u64,
    /// Signals of stale ticks, skipped instead of sent.
    pub skipped: u64,
    /// Tick-tagged news whose tick was already read (a restarted gateway
    /// starting its news over): dropped.
    pub late_news: u64,
}

/// A snapshot of the strategy's counters, for tests and the final log line.
/// Assembled on request from their one keeper each, so no number is copied
/// and kept in two places.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, actix::MessageResponse)]
pub struct StrategyCounts {
    /// Ticks and news in, from the actor.
    pub input: InputCounts,
    /// Orders out and answers in, from the order tracker.
    pub orders: OrderCounts,
    /// Orders without an answer yet: must be 0 after a clean stop.
    pub unanswered: u64,
}

/// The strategy's one actor. One actor owns the engine, the tracker and the
/// order link, so a tick, a reply and a stop are never handled at once and
/// need no locks.
pub struct SignalActor {
    /// What the configuration fixed.
    settings: StrategySettings,
    /// The table and ring being read.
    reader: Arc<PriceTableReader>,
    /// Next tick to consume.
    cursor: RingCursor,
    /// Our reader slot in the table: the orderbook keeps every tick until
    /// we have read it, and learns how far we are once per drain. `None`
    /// only after a re-created table refused us a slot (losses are counted).
    ring_slot: Option<RingRegistration>,
    /// The socket the orderbook rings when we sleep and it publishes,
    /// watched by our own event loop (see `ring`); `None` until started.
    bell: Option<std::rc::Rc<Doorbell>>,
    /// The configured strategy (`strategy.kind`): ticks and news in, order
    /// intents out; boxed so any kind runs in the same actor.
    engine: Box<dyn Strategy>,
    /// Latest price per symbol from the ring, for news-triggered orders.
    last_price: Vec<Option<Price>>,
    /// Every order until its answer, and the order counters.
    tracker: OrderTracker,
    /// The order connection's writer, when connected.
    link: Option<LinkWriter>,
    /// Order frames created this turn, written together.
    out: Vec<u8>,
    /// Ticks and news counted as they come in.
    input: InputCounts,
    /// Keeps a flood of malformed frames from flooding the log.
    bad_log: LogLimiter,
    /// Keeps per-order warnings (rejects, orders in doubt) from flooding the
    /// log; each is counted and logged in full at debug.
    answer_log: AnswerLog,
    /// When the counts line was last logged: a flood's only info-level trace.
    counts_logged: Instant,
    /// Ticks and orders sent at the last counts line, to skip idle repeats.
    counts_seen: (u64, u64),
    log: Logger,
    /// Fired when the actor stops (a finite run complete, or a stop request
    /// served), so the process can let the writer finish and exit.
    done: Option<oneshot::Sender<()>>,
    /// The segment name, to notice a re-created table.
    shm_name: String,
    /// Trading, draining after a stop request, or stopped: the one record of
    /// whether new signals may become orders and whether to end.
    phase: Phase,
    /// How old a tick may be to trade, and what was said about staleness.
    freshness: Freshness,
    /// Where news meets the ticks: tick-tagged news holds ticks back until
    /// every item due before them has arrived (see `news_gate`).
    news_gate: NewsGate,
    /// `strategy.record_path`: every input acted on, for `backtest --replay`.
    recorder: Option<Recorder>,
}

impl SignalActor {
    /// An actor reading `reader`, registered as a ring reader from its
    /// oldest tick; `done` fires when it stops, whether a finite run
    /// completed or a [`Stop`] was served.
    ///
    /// Fails with [`ShmError::ReadersFull`] when every reader slot of the
    /// table is taken by a live process: reading unregistered could lose
    /// ticks, which a strategy must not do silently.
    pub fn new(
        settings: StrategySettings,
        reader: PriceTableReader,
        engine: impl Strategy + 'static,
        log: Logger,
        done: oneshot::Sender<()>,
    ) -> Result<SignalActor, ShmError> {
        let n = settings.symbols.len();
        let settings_max_age = settings.max_tick_age;
        let cursor = reader.cursor_from_oldest();
        let ring_slot = reader.register_ring_reader(&cursor)?;
        slog::info!(log, "registered as a ring reader"; "slot" => ring_slot.slot(),
            "from_tick" => cursor.next_seq(), "lossless_from_tick" => ring_slot.guaranteed_from());
        Ok(SignalActor {
            shm_name: reader.name().to_string(),
            settings,
            reader: Arc::new(reader),
            cursor,
            ring_slot: Some(ring_slot),
            bell: None,
            engine: Box::new(engine),
            last_price: vec![None; n],
            tracker: OrderTracker::new(),
            link: None,
            out: Vec::with_capacity(4096),
            input: InputCounts::default(),
            bad_log: LogLimiter::new(10, Duration::from_secs(1)),
            answer_log: AnswerLog::new(),
            counts_logged: Instant::now(),
            counts_seen: (0, 0),
            log,
            done: Some(done),
            phase: Phase::Trading,
            freshness: Freshness::new(settings_max_age),
            news_gate: NewsGate::new(false),
            recorder: None,
        })
    }

    /// A strategy with a news link: ticks wait until the news stream says
    /// whether it is tick-tagged (a finite replay) or paced by the clock.
    pub fn expecting_news(mut self) -> SignalActor {
        self.news_gate = NewsGate::new(true);
        self
    }

    /// Records every input the strategy acts on into `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> SignalActor {
        self.recorder = Some(recorder);
        self
    }

    /// Appends an input to the recording; a failed write stops recording
    /// (said once) rather than trading.
    fn record(&mut self, input: Input) {
        if let Some(r) = &mut self.recorder {
            if let Err(e) = r.record(&input) {
                slog::error!(self.log, "recording failed; recording stops (trading goes on)"; "error" => %e);
                self.recorder = None;
            }
        }
    }

    /// What the strategy makes of one tick from the ring.
    fn decide_tick(&mut self, t: &Tick) -> Option<OrderIntent> {
        let tick = TickEvent {
            symbol: t.symbol,
            price_units: t.price_units,
            event_ns: t.event_ns,
            tag: t.seq,
        };
        if self.recorder.is_some() {
            self.record(Input::Tick(tick));
        }
        self.engine.on_tick(&tick)
    }

    /// What the strategy makes of one news frame.
    fn decide_news(&mut self, symbol: SymbolIndex, sentiment: u8) -> Option<OrderIntent> {
        let news = NewsEvent { symbol, sentiment };
        if self.recorder.is_some() {
            self.record(Input::News(news));
        }
        self.engine.on_news(&news)
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
            symbol: &self.settings.symbols[intent.symbol.get()],
            side: intent.side,
            quantity: self.settings.quantity,
            price,
        };
        let now_s = unix_now_ns() as f64 / 1e9;
        if self
            .tracker
            .create(&ticket, Instant::now(), now_s, &mut self.out)
        {
            slog::debug!(self.log, "order sent"; "id" => &ticket.id, "side" => ticket.side.as_str(),
                "qty" => ticket.quantity, "symbol" => ticket.symbol, "price" => %price);
        }
    }

    /// An original five-field order: nothing answers it, so it is only
    /// counted; it waits in `out` while disconnected.
    fn place_untracked(&mut self, intent: OrderIntent, price: Price) {
        let symbol = &self.settings.symbols[intent.symbol.get()];
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
        slog::debug!(self.log, "order sent"; "id" => "-", "side" => order.side.as_str(),
            "qty" => order.quantity, "symbol" => symbol, "price" => %price);
    }

    /// Writes this turn's new order frames if connected. Otherwise tracked
    /// orders wait in the tracker (resent on connect) and untracked ones in
    /// `out` (sent on connect).
    fn flush(&mut self) {
        if let Some(Err(e)) = self.recorder.as_mut().map(Recorder::flush) {
            slog::error!(self.log, "recording failed; recording stops (trading goes on)"; "error" => %e);
            self.recorder = None;
        }
        if self.out.is_empty() {
            return;
        }
        if let Some(link) = &self.link {
            // On the wire in this turn when the link is idle: no task hop.
            if link.send_now(Bytes::copy_from_slice(&self.out)).is_ok() {
                self.out.clear();
                return;
            }
            self.link = None;
        }
        if self.settings.order_ids {
            self.out.clear();
        }
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
    /// table and drain the ring while trading, then ask whether to stop (the drain deadline and
    /// a finite run's end are both noticed here at the latest).
    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.report_in_doubt();
        self.log_counts_if_due();
        self.watch_writer();
        if self.phase.is_trading() {
            self.follow_table(ctx);
            // The ring's safety net: held ticks, or a ring that never came.
            self.wake_ring(ctx);
        }
        self.stop_if_due(ctx);
    }

    /// Says once per order unanswered for `order_timeout` (at warn, rate
    /// limited; every one at debug): the resend after a reconnect settles
    /// it, but an operator should know it is open. The count is in the
    /// periodic and final counts lines (`unanswered`).
    fn report_in_doubt(&mut self) {
        for id in self
            .tracker
            .newly_in_doubt(Instant::now(), self.settings.order_timeout)
        {
            match self.answer_log.in_doubt.allow() {
                Some(skipped) => {
                    slog::warn!(self.log, "order in doubt: no answer yet; it is resent on reconnect";
                    "id" => id, "not_logged_before" => skipped)
                }
                None => slog::debug!(self.log, "order in doubt: no answer yet"; "id" => id),
            }
        }
    }
}

impl Actor for SignalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_doorbell(ctx);
        ctx.run_interval(HOUSEKEEPING, |act, ctx| act.housekeeping(ctx));
        ctx.run_later(NewsGate::UNKNOWN_FOR_AT_MOST, |act, ctx| {
            if act.news_gate.give_up_waiting() {
                slog::warn!(act.log, "no news yet: ticks no longer wait for it";
                    "waited_ms" => NewsGate::UNKNOWN_FOR_AT_MOST.as_millis() as u64);
                act.wake_ring(ctx);
            }
        });
    }
}

impl Handler<RingWake> for SignalActor {
    type Result = ();

    fn handle(&mut self, wake: RingWake, ctx: &mut Context<Self>) {
        self.on_ring_wake(wake, ctx);
    }
}

impl Handler<NetEvent<Orders>> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: NetEvent<Orders>, ctx: &mut Context<Self>) {
        match msg.event {
            LinkEvent::Up { writer, .. } => self.on_order_link_up(writer, ctx),
            LinkEvent::Frames(frames) => self.on_replies(&frames, ctx),
            LinkEvent::Down(reason) => self.on_order_link_down(&reason),
        }
    }
}

impl Handler<NetEvent<News>> for SignalActor {
    type Result = ();

    fn handle(&mut self, msg: NetEvent<News>, ctx: &mut Context<Self>) {
        match msg.event {
            LinkEvent::Up { peer, .. } => slog::info!(self.log, "news connected"; "peer" => %peer),
            LinkEvent::Frames(frames) => self.on_news(&frames, ctx),
            LinkEvent::Down(reason) => {
                slog::info!(self.log, "news disconnected; reconnecting"; "reason" => %reason)
            }
        }
    }
}

impl Handler<Stop> for SignalActor {
    type Result = ();

    /// Stops taking new signals, then waits (at most `order_timeout`) for the
    /// answers to orders already sent: upstream roles stop first, the
    /// ordermanager last, so a clean stop leaves nothing in doubt.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        // No new tick is consumed from here on: stop holding the writer back.
        self.ring_slot = None;
        self.request_stop(ctx);
    }
}

impl Handler<GetCounts<StrategyCounts>> for SignalActor {
    type Result = StrategyCounts;

    fn handle(&mut self, _: GetCounts<StrategyCounts>, _: &mut Context<Self>) -> StrategyCounts {
        self.current_counts()
    }
}
