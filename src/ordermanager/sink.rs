//! [`OrderSinkActor`]: validation, risk, execution, journal and replies.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};
use bytes::Bytes;
use slog::Logger;

use super::journal::OrderJournal;
use super::positions::PositionBook;
use super::risk::{RateLimiter, RiskChecks, RiskLimits, ShmLastPrices};
use super::verdict::Desk;
use super::{OrderClients, EXIT_JOURNAL_FAILED};
use crate::clock::unix_now_ns;
use crate::config::Durability;
use crate::lifecycle::{GetCounts, Stop};
use crate::net::{ConnId, LinkDown, LinkEvent, LinkWriter, NetEvent};
use crate::protocol::{write_ack, write_rej, FrameBatch, RejectReason};

/// Everything the sink needs that is not state: fixed at start, so a
/// decision depends only on these, the journal and the orders themselves.
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

/// Enter (`true`, SIGUSR1) or leave (`false`, SIGUSR2) the halted state.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetHalted(pub bool);

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

/// One connected client, as the sink sees it.
struct Client {
    /// Its address: recorded with every order, names it in the log.
    peer: String,
    /// Where its answers go.
    replies: LinkWriter,
    /// Set once it was cut for not reading its answers.
    cut: bool,
    /// Its RATE_LIMIT bucket.
    limiter: RateLimiter,
    /// Answers waiting for the commit that makes their orders durable.
    pending: Vec<u8>,
}

/// The journal could not be written; the sink has stopped without
/// answering the orders it did not hold.
#[derive(Debug)]
struct JournalFailed(io::Error);

/// The ordermanager's one actor: the only owner of the journal and positions.
pub struct OrderSinkActor {
    /// Fixed at start.
    settings: SinkSettings,
    /// Every decision, appended before it is answered.
    journal: OrderJournal,
    /// Decides frames and holds what the recorded decisions add up to.
    desk: Desk,
    /// Connected clients by connection number.
    clients: HashMap<ConnId, Client>,
    /// `Executed order` lines waiting for their commit.
    executed: Vec<String>,
    /// A group commit is already due (`group_commit > 0`).
    commit_scheduled: bool,
    /// A commit failed: nothing more is decided, committed or answered.
    failed: bool,
    /// The process log.
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
        let last = ShmLastPrices::new(&settings.band_table, &settings.symbols, log.clone());
        let checks = RiskChecks::standard(&settings.limits, last);
        let desk = Desk::new(settings.symbols.clone(), seen, book, checks, log.clone());
        OrderSinkActor {
            settings,
            journal,
            desk,
            clients: HashMap::new(),
            executed: Vec::new(),
            commit_scheduled: false,
            failed: false,
            log,
        }
    }

    /// One frame through the steps: verdict, record, apply, answer. The
    /// answer is only queued; [`flush`](Self::flush) sends it after the
    /// commit that makes its record durable.
    fn handle_frame(
        &mut self,
        client_id: ConnId,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), JournalFailed> {
        let Some(client) = self.clients.get_mut(&client_id) else {
            return Ok(());
        };
        let recv_ns = unix_now_ns();
        // Verdict.
        let verdict = self
            .desk
            .verdict(frame, &client.peer, &mut client.limiter, now);
        // Record: a replay adds nothing; the rest is appended (and, under
        // `every`, made durable) before anything depends on it.
        if let Some(record) = verdict.record(recv_ns, &client.peer) {
            if let Err(e) = self.journal.append(&record) {
                // Only formatting can fail here: drop the frame unanswered.
                slog::crit!(self.log, "cannot format a journal record"; "error" => %e);
                return Ok(());
            }
            if self.settings.durability == Durability::Every {
                self.journal.commit().map_err(JournalFailed)?;
            }
            // Apply: only what the journal now holds.
            self.executed.extend(self.desk.apply(&verdict, &record));
        }
        // Answer.
        if let Some((id, answer)) = verdict.answer() {
            answer_into(&mut client.pending, id, answer);
        }
        Ok(())
    }

    /// Makes every appended record durable, then sends the answers and logs
    /// the executions they cover.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.commit_scheduled = false;
        if self.failed {
            return;
        }
        if let Err(e) = self.journal.commit() {
            return self.fail(ctx, JournalFailed(e));
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
                if backlog > limit && !client.cut {
                    slog::warn!(self.log, "client does not read its answers: disconnecting it";
                        "client" => &client.peer, "unread_bytes" => backlog);
                    self.desk.counts.slow_clients += 1;
                    client.cut = true;
                    client.replies.disconnect();
                }
            }
        }
    }

    /// A commit failed. Answering without a durable record would break the
    /// promise of an ACK, so the queued answers are dropped, the actor stops
    /// and the process exits with [`EXIT_JOURNAL_FAILED`]; the strategies
    /// resend after a restart, and recovery answers what the disk holds.
    fn fail(&mut self, ctx: &mut Context<Self>, error: JournalFailed) {
        slog::crit!(self.log, "journal write failed: stopping without answering";
            "error" => %error.0, "exit_code" => EXIT_JOURNAL_FAILED);
        self.failed = true;
        for client in self.clients.values_mut() {
            client.pending.clear();
        }
        self.executed.clear();
        ctx.stop();
        actix::System::current().stop_with_code(EXIT_JOURNAL_FAILED);
    }

    fn client_connected(&mut self, conn: ConnId, peer: SocketAddr, replies: LinkWriter) {
        slog::info!(self.log, "client connected"; "client" => %peer, "conn" => %conn);
        let limiter = RateLimiter::new(self.settings.max_orders_per_sec, Instant::now());
        let client = Client {
            peer: peer.to_string(),
            replies,
            cut: false,
            limiter,
            pending: Vec::new(),
        };
        self.clients.insert(conn, client);
    }

    /// Decides every order of one socket read, then commits them together
    /// (or schedules the group commit).
    fn handle_frames(&mut self, conn: ConnId, frames: &FrameBatch, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        let now = Instant::now();
        for frame in frames.iter() {
            if let Err(failed) = self.handle_frame(conn, frame, now) {
                return self.fail(ctx, failed);
            }
        }
        let waiting = self.journal.uncommitted() > 0
            || !self.executed.is_empty()
            || self.clients.values().any(|c| !c.pending.is_empty());
        if !waiting {
            return;
        }
        if self.settings.group_commit.is_zero() || self.settings.durability == Durability::Every {
            self.flush(ctx);
        } else if !self.commit_scheduled {
            self.commit_scheduled = true;
            ctx.run_later(self.settings.group_commit, |act, ctx| act.flush(ctx));
        }
    }

    fn client_gone(&mut self, conn: ConnId, reason: &LinkDown, ctx: &mut Context<Self>) {
        // Its last answers must go out before its writer closes.
        if self
            .clients
            .get(&conn)
            .is_some_and(|c| !c.pending.is_empty())
        {
            self.flush(ctx);
        }
        if let Some(c) = self.clients.remove(&conn) {
            slog::info!(self.log, "client disconnected"; "client" => c.peer, "reason" => %reason);
        }
    }

    fn log_positions(&self) {
        for (symbol, p) in &self.desk.book.by_symbol {
            slog::info!(self.log, "position"; "symbol" => symbol, "net" => p.net, "avg_cost" => %p.avg_cost(),
                "realized_pnl" => %p.realized(), "orders" => p.orders, "shares" => p.shares);
        }
        for ((client, symbol), p) in &self.desk.book.by_client {
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

impl Handler<NetEvent<OrderClients>> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: NetEvent<OrderClients>, ctx: &mut Context<Self>) {
        match msg.event {
            LinkEvent::Up { peer, writer } => self.client_connected(msg.conn, peer, writer),
            LinkEvent::Frames(frames) => self.handle_frames(msg.conn, &frames, ctx),
            LinkEvent::Down(reason) => self.client_gone(msg.conn, &reason, ctx),
        }
    }
}

impl Handler<SetHalted> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, msg: SetHalted, _: &mut Context<Self>) {
        if msg.0 != self.desk.halted {
            self.desk.halted = msg.0;
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
        self.flush(ctx);
        let c = self.desk.counts;
        slog::info!(self.log, "final counts"; "accepted" => c.accepted, "rejected" => c.rejected,
            "malformed" => c.malformed, "duplicates" => c.duplicates);
        self.log_positions();
        ctx.stop();
    }
}

impl Handler<GetCounts<SinkCounts>> for OrderSinkActor {
    type Result = SinkCounts;

    fn handle(&mut self, _: GetCounts<SinkCounts>, _: &mut Context<Self>) -> SinkCounts {
        self.desk.counts
    }
}
