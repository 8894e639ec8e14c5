//! [`OrderSinkActor`]: admission, validation, risk, execution, journal and replies.
//!
//! Each client turn is decided at once; its records are committed by the
//! [`commit`](super::commit) pipeline, off this thread, and its answers and
//! its sender's next turn wait for that commit.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, ResponseFuture};
use bytes::Bytes;
use slog::Logger;

use super::commit::{handled, Pipeline};
use super::garbage::{GarbageTallies, Summary, SUMMARY_PERIOD};
use super::journal::{JournalRecord, OrderJournal};
use super::positions::PositionBook;
use super::risk::{RiskChecks, RiskLimits, ShmLastPrices};
use super::seen::SeenIds;
use super::session::{Admission, AuthPolicy, Client, Standing};
use super::verdict::{Desk, Verdict, Who};
use super::{OrderClients, EXIT_JOURNAL_FAILED};
use crate::clock::unix_now_ns;
use crate::config::Durability;
use crate::lifecycle::GetCounts;
use crate::logging::LogLimiter;
use crate::net::{ConnId, LinkDown, LinkEvent, LinkWriter, NetEvent};
use crate::protocol::{write_ack, write_auth_ok, write_rej, RejectReason, AUTH_FAILED_FRAME};

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
    /// Group commits on their way to disk at once (at least 1).
    pub commit_lanes: usize,
    /// Segment to read last prices from for the price band.
    pub band_table: String,
    /// Period of the positions log; zero = only at a stop.
    pub positions_every: Duration,
    /// Answer bytes a client may leave unread before it is disconnected.
    pub max_reply_backlog: usize,
    /// Who may trade: the AUTH token and whether AUTH is required.
    pub auth: AuthPolicy,
    /// Malformed frames in a row before a client is cut; 0 = never.
    pub max_malformed_in_a_row: u64,
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
    /// Orders rejected, malformed ones included (this run; id-less
    /// malformed frames once their summary record is written).
    pub rejected: u64,
    /// Frames that did not parse (this run).
    pub malformed: u64,
    /// Resends of recorded ids answered again without execution.
    pub duplicates: u64,
    /// Resends of recorded ids with other content, refused `ID_MISMATCH`.
    pub id_mismatches: u64,
    /// Clients disconnected for leaving too many answers unread.
    pub slow_clients: u64,
    /// Connections refused `AUTH_FAILED` (bad token, or no AUTH when required).
    pub auth_failures: u64,
    /// Clients disconnected for sending only malformed frames.
    pub garbage_clients: u64,
    /// Journal commits done (one write and one fdatasync each) by the
    /// group-commit pipeline.
    pub commits: u64,
    /// Most records in one of those commits: a connection gets at most one
    /// turn into each, so this stays near `max_frames_per_turn` times the
    /// busy connections however fast a flooder sends.
    pub largest_commit: u64,
}

/// The journal could not be written; the sink has stopped without
/// answering the orders it did not hold.
#[derive(Debug)]
pub(super) struct JournalFailed(pub io::Error);

/// The ordermanager's one actor: the only owner of the journal and positions.
pub struct OrderSinkActor {
    /// Fixed at start.
    pub(super) settings: SinkSettings,
    /// Every decision, appended before it is answered.
    pub(super) journal: OrderJournal,
    /// Decides frames and holds what the recorded decisions add up to.
    pub(super) desk: Desk,
    /// Connected clients (and gone ones still owed answers) by connection.
    pub(super) clients: HashMap<ConnId, Client>,
    /// Id-less malformed frames not yet journaled, per client.
    pub(super) garbage: GarbageTallies,
    /// The commit on its way to disk and what the next one gathers.
    pub(super) pipeline: Pipeline,
    /// A commit failed: nothing more is decided, committed or answered.
    pub(super) failed: bool,
    /// Asked to stop: frames that still come are left undecided (their
    /// clients resend them after the restart), so the last commit is final.
    pub(super) stopping: bool,
    /// Keeps refused and cut clients from flooding the log.
    pub(super) conn_log: LogLimiter,
    /// The process log.
    pub(super) log: Logger,
}

/// Appends `record`, durably at once under `every`. Only formatting can
/// fail before the commit; such a record is dropped (logged), `Ok(false)`.
fn append(
    journal: &mut OrderJournal,
    durability: Durability,
    record: &JournalRecord,
    log: &Logger,
) -> Result<bool, JournalFailed> {
    if let Err(e) = journal.append(record) {
        slog::crit!(log, "cannot format a journal record"; "error" => %e);
        return Ok(false);
    }
    if durability == Durability::Every {
        journal.commit().map_err(JournalFailed)?;
    }
    Ok(true)
}

impl OrderSinkActor {
    /// A sink over a recovered journal: `book` and `seen` come from its records.
    pub fn new(
        settings: SinkSettings,
        journal: OrderJournal,
        book: PositionBook,
        seen: SeenIds,
        log: Logger,
    ) -> OrderSinkActor {
        let last = ShmLastPrices::new(&settings.band_table, &settings.symbols, log.clone());
        let checks = RiskChecks::standard(&settings.limits, last);
        let rate = settings.max_orders_per_sec;
        let desk = Desk::new(
            settings.symbols.clone(),
            seen,
            book,
            checks,
            rate,
            log.clone(),
        );
        OrderSinkActor {
            settings,
            journal,
            desk,
            clients: HashMap::new(),
            garbage: GarbageTallies::default(),
            pipeline: Pipeline::default(),
            failed: false,
            stopping: false,
            conn_log: LogLimiter::new(20, Duration::from_secs(1)),
            log,
        }
    }

    /// One frame: admission (the first frame of a connection, [`admit`](Self::admit)),
    /// then the steps verdict, record, apply, answer. The answer is only
    /// queued; the commit pipeline sends it once its record is durable.
    pub(super) fn handle_frame(
        &mut self,
        conn: ConnId,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), JournalFailed> {
        let Some(client) = self.clients.get_mut(&conn) else {
            return Ok(());
        };
        if client.cut {
            return Ok(());
        }
        if client.standing == Standing::New && self.admit(conn, frame) {
            return Ok(());
        }
        let Some(client) = self.clients.get_mut(&conn) else {
            return Ok(());
        };
        let Client {
            peer,
            standing,
            malformed_in_a_row,
            pending,
            replies,
            cut,
            ..
        } = client;
        let Standing::Trading { name, key } = &*standing else {
            return Ok(());
        };
        let who = Who {
            client: super::journal::ClientRef {
                addr: peer,
                name: name.as_deref(),
            },
            key,
        };
        let recv_ns = unix_now_ns();
        let verdict = self.desk.verdict(frame, who, now);
        let durability = self.settings.durability;
        let malformed = matches!(verdict, Verdict::Malformed { .. });
        let limit = self.settings.max_malformed_in_a_row;
        if only_garbage(malformed_in_a_row, malformed, limit) && !*cut {
            self.desk.counts.garbage_clients += 1;
            if let Some(skipped) = self.conn_log.allow() {
                slog::warn!(self.log, "client sends only malformed frames: disconnecting it";
                    "client" => key, "addr" => &**peer, "in_a_row" => *malformed_in_a_row,
                    "garbage_clients" => self.desk.counts.garbage_clients, "not_logged_before" => skipped);
            }
            *cut = true;
            replies.disconnect();
        }
        if let Verdict::Malformed { bad, frame } = &verdict {
            if bad.client_order_id.is_none() {
                // Id-less: nobody waits for an answer; one summary record a
                // second per client keeps a flood from filling the journal.
                let due = self.garbage.note(key, who.client, frame, bad.reason, now);
                return self.record_garbage(due, recv_ns);
            }
        }
        // Record: a replay adds nothing; the rest is appended (and, under
        // `every`, made durable) before anything depends on it.
        if let Some(record) = verdict.record(recv_ns, who.client) {
            if !append(&mut self.journal, durability, &record, &self.log)? {
                return Ok(());
            }
            // Apply: only what the journal now holds.
            let executed = self.desk.apply(&verdict, &record);
            self.pipeline.next.executed.extend(executed);
        }
        // Answer.
        if let Some((id, answer)) = verdict.answer() {
            answer_into(pending, id, answer);
        }
        Ok(())
    }

    /// Admission of a new connection's first frame; true when the frame was
    /// used up by it (an AUTH, answered at once, or a refusal). Nothing is
    /// journaled for an AUTH and nothing of this client can be pending yet,
    /// so `AUTH_OK` goes now, not after the next group commit.
    fn admit(&mut self, conn: ConnId, frame: &[u8]) -> bool {
        let Some(client) = self.clients.get_mut(&conn) else {
            return true;
        };
        match client.admit(frame, &self.settings.auth) {
            Admission::Authenticated => {
                let mut ok = Vec::with_capacity(8);
                write_auth_ok(&mut ok);
                let _ = client.replies.send(Bytes::from(ok));
                slog::info!(self.log, "client authenticated"; "client" => &client.peer,
                    "name" => client.who().map(|w| w.1).unwrap_or("-"));
                true
            }
            Admission::Refused(why) => {
                self.refuse(conn, &why);
                true
            }
            Admission::Anonymous => false,
        }
    }

    /// Refuses a connection: `REJ,-,AUTH_FAILED*`, then the close. Nothing
    /// is journaled: input from a client that may not trade must not be
    /// able to grow the journal.
    fn refuse(&mut self, conn: ConnId, why: &str) {
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        self.desk.counts.auth_failures += 1;
        if let Some(skipped) = self.conn_log.allow() {
            slog::warn!(self.log, "client refused: AUTH_FAILED"; "client" => &client.peer, "why" => why,
                "refused_total" => self.desk.counts.auth_failures, "not_logged_before" => skipped);
        }
        client.cut = true;
        let _ = client.replies.send(Bytes::from_static(AUTH_FAILED_FRAME));
        client.replies.close_after_flush();
    }

    /// Appends the records of `summaries` (garbage due at once, garbage
    /// whose period is over, or all that is left at a stop).
    pub(super) fn record_garbage(
        &mut self,
        summaries: impl IntoIterator<Item = Summary>,
        recv_ns: i64,
    ) -> Result<(), JournalFailed> {
        for summary in summaries {
            let record = summary.record(recv_ns);
            if append(
                &mut self.journal,
                self.settings.durability,
                &record,
                &self.log,
            )? {
                self.desk.apply_summary(&record);
            }
        }
        Ok(())
    }

    /// Once a period: the garbage of clients that went quiet or left
    /// since their last summary is journaled.
    fn record_due_garbage(&mut self, ctx: &mut Context<Self>) {
        if self.failed || self.stopping {
            return;
        }
        let due = self.garbage.due(Instant::now());
        if due.is_empty() {
            return;
        }
        match self.record_garbage(due, unix_now_ns()) {
            Ok(()) => self.commit_when_due(ctx),
            Err(failed) => self.fail(ctx, failed),
        }
    }

    /// A commit failed. Answering without a durable record would break the
    /// promise of an ACK, so the queued answers are dropped, the actor stops
    /// and the process exits with [`EXIT_JOURNAL_FAILED`]; the strategies
    /// resend after a restart, and recovery answers what the disk holds.
    pub(super) fn fail(&mut self, ctx: &mut Context<Self>, error: JournalFailed) {
        slog::crit!(self.log, "journal write failed: stopping without answering";
            "error" => %error.0, "exit_code" => EXIT_JOURNAL_FAILED);
        self.failed = true;
        for client in self.clients.values_mut() {
            client.pending.clear();
        }
        self.pipeline = Pipeline::default();
        ctx.stop();
        actix::System::current().stop_with_code(EXIT_JOURNAL_FAILED);
    }

    fn client_connected(&mut self, conn: ConnId, peer: SocketAddr, replies: LinkWriter) {
        slog::debug!(self.log, "client connected"; "client" => %peer, "conn" => %conn);
        if let Some(m) = self.journal.metrics() {
            m.connected();
        }
        self.clients.insert(conn, Client::new(peer, replies));
    }

    /// A connection is down: the client is forgotten once the answers it
    /// is owed are sent (its writer closes after writing them). Its
    /// garbage tally outlives it (it is per client, not per connection)
    /// and is journaled by the next sweep after its period, within two
    /// periods.
    fn client_gone(&mut self, conn: ConnId, reason: &LinkDown, ctx: &mut Context<Self>) {
        if let Some(c) = self.clients.get_mut(&conn) {
            c.gone = true;
            // A limit that cut the client is worth a line at any log level
            // (rate-limited); an ordinary goodbye only when debugging.
            let cut_by_a_limit = matches!(
                reason,
                LinkDown::Idle(_) | LinkDown::PartialFrame(_) | LinkDown::Unframeable(_)
            );
            match cut_by_a_limit.then(|| self.conn_log.allow()).flatten() {
                Some(skipped) => slog::warn!(self.log, "client disconnected"; "client" => &c.peer,
                    "reason" => %reason, "not_logged_before" => skipped),
                None => {
                    slog::debug!(self.log, "client disconnected"; "client" => &c.peer, "reason" => %reason)
                }
            }
        }
        self.forget_gone_clients();
        self.commit_when_due(ctx);
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

/// Counts a frame into a connection's malformed frames in a row (a frame
/// that parses resets it); true once they exceed `limit` (0: never).
fn only_garbage(in_a_row: &mut u64, malformed: bool, limit: u64) -> bool {
    *in_a_row = if malformed { *in_a_row + 1 } else { 0 };
    limit > 0 && *in_a_row > limit
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
        ctx.run_interval(SUMMARY_PERIOD, |act, ctx| act.record_due_garbage(ctx));
        if !self.settings.positions_every.is_zero() {
            ctx.run_interval(self.settings.positions_every, |act, _| act.log_positions());
        }
    }
}

impl Handler<NetEvent<OrderClients>> for OrderSinkActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: NetEvent<OrderClients>, ctx: &mut Context<Self>) -> Self::Result {
        match msg.event {
            LinkEvent::Up { peer, writer } => self.client_connected(msg.conn, peer, writer),
            LinkEvent::Frames(frames) => return self.handle_frames(msg.conn, frames, ctx),
            LinkEvent::Down(reason) => self.client_gone(msg.conn, &reason, ctx),
        }
        handled()
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

impl OrderSinkActor {
    /// The end of a stop, everything committed: the final counts and
    /// positions in the log, and the actor stops.
    pub(super) fn stopped(&mut self, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        let c = self.desk.counts;
        slog::info!(self.log, "final counts"; "accepted" => c.accepted, "rejected" => c.rejected,
            "malformed" => c.malformed, "duplicates" => c.duplicates, "id_mismatches" => c.id_mismatches,
            "auth_failures" => c.auth_failures, "garbage_clients" => c.garbage_clients,
            "slow_clients" => c.slow_clients, "commits" => c.commits, "largest_commit" => c.largest_commit);
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
