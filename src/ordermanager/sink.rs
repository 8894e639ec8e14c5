//! [`OrderSinkActor`]: validation, risk, execution, journal and replies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};
use bytes::Bytes;
use slog::Logger;
use tokio::sync::oneshot;

use super::journal::{JournalRecord, OrderJournal, Outcome};
use super::positions::PositionBook;
use super::risk::{RateLimiter, RiskLimits};
use crate::clock::unix_now_ns;
use crate::config::Durability;
use crate::lifecycle::{GetCounts, Stop};
use crate::logging::LogLimiter;
use crate::net::WriterQueue;
use crate::price::Price;
use crate::protocol::{parse_order, write_ack, write_rej, RejectReason};
use crate::shm::PriceTableReader;

/// Everything the sink needs that is not state.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Symbols the ordermanager trades.
    pub symbols: Vec<String>,
    /// Per-order limits.
    pub limits: RiskLimits,
    /// Orders per second per client.
    pub max_orders_per_sec: u64,
    /// When records become durable.
    pub durability: Durability,
    /// Longest wait to gather a group commit (zero: commit each batch at once).
    pub group_commit: Duration,
    /// Segment to read last prices from for the price band.
    pub band_table: String,
    /// Period of the positions log; zero = only at a stop.
    pub positions_every: Duration,
    /// Answer bytes a client may leave unread before it is disconnected.
    pub max_reply_backlog: usize,
}

/// A client connected; replies for it go into `replies`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientConnected {
    /// Connection number.
    pub id: u64,
    /// Its address, recorded with every order.
    pub peer: String,
    /// Its writer task's queue.
    pub replies: WriterQueue,
    /// Fired to close the connection (a client that does not read its answers).
    pub close: oneshot::Sender<()>,
}

/// Complete frames from one socket read, each ended by `*`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OrderFrames {
    /// Connection number.
    pub id: u64,
    /// The frames.
    pub frames: Bytes,
}

/// A client went away (EOF, error, or an oversized frame).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientGone {
    /// Connection number.
    pub id: u64,
}

/// Enter (`true`, SIGUSR1) or leave (`false`, SIGUSR2) the halted state.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetHalted(pub bool);

/// Totals, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, actix::MessageResponse)]
pub struct SinkCounts {
    /// Orders executed (this run).
    pub accepted: u64,
    /// Orders rejected, malformed ones included (this run).
    pub rejected: u64,
    /// Frames that did not parse (this run).
    pub malformed: u64,
    /// Resends of recorded ids answered again without execution.
    pub duplicates: u64,
    /// Clients disconnected for leaving too many answers unread.
    pub slow_clients: u64,
}

struct Client {
    peer: String,
    replies: WriterQueue,
    close: Option<oneshot::Sender<()>>,
    limiter: RateLimiter,
    /// Answers waiting for the commit that makes their orders durable.
    pending: Vec<u8>,
}

/// Last prices for the band check, attached lazily to the orderbook's table.
struct PriceBand {
    name: String,
    reader: Option<PriceTableReader>,
    next_try: Instant,
    said_unreachable: bool,
}

impl PriceBand {
    fn last(&mut self, symbols: &[String], idx: usize, log: &Logger) -> Option<Price> {
        if self.reader.as_ref().is_some_and(|r| !r.is_current()) {
            self.reader = None;
        }
        if self.reader.is_none() && Instant::now() >= self.next_try {
            self.next_try = Instant::now() + Duration::from_secs(1);
            match PriceTableReader::attach_expecting(&self.name, symbols) {
                Ok(r) => {
                    slog::info!(log, "price band active: reading last prices"; "table" => &self.name);
                    self.reader = Some(r);
                }
                Err(e) if !self.said_unreachable => {
                    slog::warn!(log, "price band skipped: the price table is not reachable on this host"; "reason" => %e);
                    self.said_unreachable = true;
                }
                Err(_) => {}
            }
        }
        let q = self.reader.as_ref()?.read(idx);
        (q.updates > 0).then(|| Price::from_units(q.price_units))
    }
}

/// The ordermanager's one actor: the only owner of the journal and positions.
pub struct OrderSinkActor {
    settings: SinkSettings,
    journal: OrderJournal,
    /// Every recorded client order id and its answer (None = ACK).
    seen: HashMap<String, Option<RejectReason>>,
    book: PositionBook,
    clients: HashMap<u64, Client>,
    halted: bool,
    band: PriceBand,
    /// `Executed order` lines waiting for their commit.
    executed: Vec<String>,
    commit_scheduled: bool,
    counts: SinkCounts,
    bad_log: LogLimiter,
    log: Logger,
}

impl OrderSinkActor {
    /// A sink over a recovered journal: `book` and `seen` come from its records.
    pub fn new(
        settings: SinkSettings,
        journal: OrderJournal,
        book: PositionBook,
        seen: HashMap<String, Option<RejectReason>>,
        log: Logger,
    ) -> OrderSinkActor {
        let band = PriceBand {
            name: settings.band_table.clone(),
            reader: None,
            next_try: Instant::now(),
            said_unreachable: false,
        };
        OrderSinkActor {
            settings,
            journal,
            seen,
            book,
            clients: HashMap::new(),
            halted: false,
            band,
            executed: Vec::new(),
            commit_scheduled: false,
            counts: SinkCounts::default(),
            bad_log: LogLimiter::new(20, Duration::from_secs(1)),
            log,
        }
    }

    /// Decides one frame, journals it (buffered) and queues its answer.
    fn handle_frame(&mut self, client_id: u64, frame: &[u8], now: Instant) {
        let Some(client) = self.clients.get_mut(&client_id) else {
            return;
        };
        let recv_ns = unix_now_ns();
        let (record, answer_id, exec_line) = match parse_order(frame) {
            Err(bad) => {
                self.counts.malformed += 1;
                if let Some(skipped) = self.bad_log.allow() {
                    slog::warn!(self.log, "malformed order"; "client" => &client.peer, "reason" => %bad.error,
                        "frame" => String::from_utf8_lossy(frame).into_owned(), "not_logged_before" => skipped);
                }
                if let Some(id) = bad.client_order_id {
                    if let Some(answer) = self.seen.get(id) {
                        answer_into(&mut client.pending, id, *answer);
                        self.counts.duplicates += 1;
                        return;
                    }
                }
                let record = JournalRecord {
                    recv_ns,
                    client_order_id: bad.client_order_id.map(str::to_string),
                    client: client.peer.clone(),
                    side: None,
                    quantity: None,
                    symbol: None,
                    price: None,
                    outcome: Outcome::Rejected,
                    reason: Some(bad.reason),
                    raw: Some(String::from_utf8_lossy(frame).into_owned()),
                };
                (
                    record,
                    bad.client_order_id.map(|id| (id, Some(bad.reason))),
                    None,
                )
            }
            Ok(order) => {
                if let Some(id) = order.client_order_id {
                    if let Some(answer) = self.seen.get(id) {
                        answer_into(&mut client.pending, id, *answer);
                        self.counts.duplicates += 1;
                        return;
                    }
                }
                let symbol_idx = self.settings.symbols.iter().position(|s| s == order.symbol);
                let verdict = if self.halted {
                    Err(RejectReason::Halted)
                } else if let Some(idx) = symbol_idx {
                    if !client.limiter.allow(now) {
                        Err(RejectReason::RateLimit)
                    } else {
                        let last = self.band.last(&self.settings.symbols, idx, &self.log);
                        let net = self.book.net(order.symbol);
                        self.settings.limits.check(
                            order.side,
                            order.quantity,
                            order.price,
                            net,
                            last,
                        )
                    }
                } else {
                    Err(RejectReason::UnknownSymbol)
                };
                let outcome = if verdict.is_ok() {
                    Outcome::Accepted
                } else {
                    Outcome::Rejected
                };
                let exec_line = verdict.is_ok().then(|| {
                    self.book.apply_fill(
                        &client.peer,
                        order.symbol,
                        order.side,
                        order.quantity,
                        order.price,
                    );
                    format!(
                        "Executed order: [{}] {} {} {} @ {}",
                        order.timestamp,
                        order.side.as_str(),
                        order.quantity,
                        order.symbol,
                        order.price
                    )
                });
                if let Err(reason) = verdict {
                    slog::info!(self.log, "order rejected"; "client" => &client.peer,
                        "id" => order.client_order_id.unwrap_or("-"), "reason" => reason.as_str());
                }
                let record = JournalRecord {
                    recv_ns,
                    client_order_id: order.client_order_id.map(str::to_string),
                    client: client.peer.clone(),
                    side: Some(order.side),
                    quantity: Some(order.quantity),
                    symbol: Some(order.symbol.to_string()),
                    price: Some(order.price),
                    outcome,
                    reason: verdict.err(),
                    raw: None,
                };
                (
                    record,
                    order.client_order_id.map(|id| (id, verdict.err())),
                    exec_line,
                )
            }
        };
        if let Err(e) = self.journal.append(&record) {
            slog::crit!(self.log, "cannot format a journal record"; "error" => %e);
            return;
        }
        match record.outcome {
            Outcome::Accepted => self.counts.accepted += 1,
            Outcome::Rejected => self.counts.rejected += 1,
        }
        if let Some((id, answer)) = answer_id {
            answer_into(&mut client.pending, id, answer);
            self.seen.insert(id.to_string(), answer);
        }
        self.executed.extend(exec_line);
        if self.settings.durability == Durability::Every {
            self.commit_or_die();
        }
    }

    /// Makes every buffered record durable, then sends the answers and logs
    /// the executions they cover. A journal that cannot be written stops the
    /// process: answering without a record would break the promise of an ACK.
    fn commit(&mut self, ctx: &mut Context<Self>) {
        self.commit_scheduled = false;
        if !self.commit_or_die() {
            ctx.stop();
            actix::System::current().stop_with_code(1);
            return;
        }
        for line in self.executed.drain(..) {
            slog::info!(self.log, "{}", line);
        }
        let limit = self.settings.max_reply_backlog;
        for client in self.clients.values_mut() {
            if client.pending.is_empty() {
                continue;
            }
            let answers = Bytes::from(std::mem::take(&mut client.pending));
            if let Ok(backlog) = client.replies.send(answers) {
                if backlog > limit {
                    if let Some(close) = client.close.take() {
                        slog::warn!(self.log, "client does not read its answers: disconnecting it";
                            "client" => &client.peer, "unread_bytes" => backlog);
                        self.counts.slow_clients += 1;
                        let _ = close.send(());
                    }
                }
            }
        }
    }

    fn commit_or_die(&mut self) -> bool {
        match self.journal.commit() {
            Ok(()) => true,
            Err(e) => {
                slog::crit!(self.log, "journal write failed: stopping without answering"; "error" => %e);
                false
            }
        }
    }

    fn log_positions(&self) {
        for (symbol, p) in &self.book.by_symbol {
            slog::info!(self.log, "position"; "symbol" => symbol, "net" => p.net, "avg_cost" => %p.avg_cost(),
                "realized_pnl" => %p.realized(), "orders" => p.orders, "shares" => p.shares);
        }
        for ((client, symbol), p) in &self.book.by_client {
            slog::info!(self.log, "client position"; "client" => client, "symbol" => symbol, "net" => p.net,
                "realized_pnl" => %p.realized(), "orders" => p.orders);
        }
    }
}

/// Appends the answer for `id`: ACK, or REJ with its reason.
fn answer_into(out: &mut Vec<u8>, id: &str, answer: Option<RejectReason>) {
    match answer {
        None => write_ack(out, id),
        Some(reason) => write_rej(out, id, reason),
    }
}

impl Actor for OrderSinkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.settings.positions_every.is_zero() {
            ctx.run_interval(self.settings.positions_every, |act, _| act.log_positions());
        }
    }
}

impl Handler<ClientConnected> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: ClientConnected, _: &mut Context<Self>) {
        slog::info!(self.log, "client connected"; "client" => &msg.peer);
        let limiter = RateLimiter::new(self.settings.max_orders_per_sec, Instant::now());
        self.clients.insert(
            msg.id,
            Client {
                peer: msg.peer,
                replies: msg.replies,
                close: Some(msg.close),
                limiter,
                pending: Vec::new(),
            },
        );
    }
}

impl Handler<OrderFrames> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: OrderFrames, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for frame in msg.frames.split(|&b| b == b'*').filter(|f| !f.is_empty()) {
            self.handle_frame(msg.id, frame, now);
        }
        let waiting = self.journal.uncommitted() > 0
            || !self.executed.is_empty()
            || self.clients.values().any(|c| !c.pending.is_empty());
        if !waiting {
            return;
        }
        if self.settings.group_commit.is_zero() || self.settings.durability == Durability::Every {
            self.commit(ctx);
        } else if !self.commit_scheduled {
            self.commit_scheduled = true;
            ctx.run_later(self.settings.group_commit, |act, ctx| act.commit(ctx));
        }
    }
}

impl Handler<ClientGone> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: ClientGone, ctx: &mut Context<Self>) {
        // Its last answers must go out before its queue closes.
        if self
            .clients
            .get(&msg.id)
            .is_some_and(|c| !c.pending.is_empty())
        {
            self.commit(ctx);
        }
        if let Some(c) = self.clients.remove(&msg.id) {
            slog::info!(self.log, "client disconnected"; "client" => c.peer);
        }
    }
}

impl Handler<SetHalted> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: SetHalted, _: &mut Context<Self>) {
        if msg.0 != self.halted {
            self.halted = msg.0;
            if msg.0 {
                slog::warn!(
                    self.log,
                    "trading HALTED (SIGUSR1): every new order is rejected until SIGUSR2"
                );
            } else {
                slog::warn!(self.log, "trading resumed (SIGUSR2)");
            }
        }
    }
}

impl Handler<Stop> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.commit(ctx);
        let c = self.counts;
        slog::info!(self.log, "final counts"; "accepted" => c.accepted, "rejected" => c.rejected,
            "malformed" => c.malformed, "duplicates" => c.duplicates);
        self.log_positions();
        ctx.stop();
    }
}

impl Handler<GetCounts<SinkCounts>> for OrderSinkActor {
    type Result = SinkCounts;

    fn handle(&mut self, _: GetCounts<SinkCounts>, _: &mut Context<Self>) -> SinkCounts {
        self.counts
    }
}
