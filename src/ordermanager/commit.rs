//! The sink's commit pipeline: the journal's write and fdatasync run on a
//! blocking thread while the actor goes on reading and deciding, up to
//! `ordermanager.commit_lanes` commits at once, and each client turn is
//! released only by the commit that makes it durable.
//!
//! Why: a well-behaved client's order that arrives while a flooder's
//! commit is on its way to disk cannot join that commit; it waits for the
//! rest of it and then for its own. When the fdatasync blocked the actor's
//! thread, it waited for more: its frame was read only after the flush,
//! then decided behind every flooder turn (each connection's next turn was
//! released by the flush), and only then did its own commit start. Now it
//! is read and decided during the flooder's commit and its commit starts
//! the moment that one ends. A turn's sender learns that the turn was
//! handled only once the commit holding its records is done, so a flooder
//! connection puts at most one turn (`ordermanager.max_frames_per_turn`
//! frames) into each commit, however fast it writes: commits stay small.
//!
//! Lanes: with a second commit allowed on its way, that good order does not
//! wait for the flooder's commit at all: it starts its own at once. The
//! flooder cannot fill the second lane: a client (by its risk key, over all
//! its connections) has at most one turn on its way, in the next commit or
//! in one in flight; its other connections' turns are deferred until that
//! one lands. (Counted per commit only, a flooder reconnecting on a second
//! connection had a turn in both lanes, and a measured well-behaved order
//! then never had a commit of its own.) Commits end in any order but land
//! in the order they started ([`Pipeline::in_flight`]): a commit's answers
//! go, and its turns are released, only once every earlier commit is
//! durable too, because recovery reads the journal up to its first gap,
//! and a client's answers must keep the order of its orders.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use actix::{
    ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, ResponseFuture,
    WrapFuture,
};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::journal::Committed;
use super::session::Client;
use super::sink::{JournalFailed, OrderSinkActor};
use crate::config::Durability;
use crate::lifecycle::Stop;
use crate::net::ConnId;
use crate::protocol::FrameBatch;

/// Commit what this pass over the mailbox decided: sent to itself with
/// `notify`, which actix runs only after every message already waiting in
/// the mailbox, so the frames of all clients that arrived together share
/// one commit, and none waits for more than that one.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct EndOfPass;

/// What waits for one commit besides its records: the answers it makes
/// true, the execution lines it makes final and the turns it releases.
#[derive(Default)]
pub(super) struct Batch {
    /// Records written by this commit.
    pub records: u64,
    /// Answers per connection, sent once the records are durable.
    pub answers: Vec<(ConnId, Vec<u8>)>,
    /// `Executed order` lines, logged once the records are durable.
    pub executed: Vec<String>,
    /// The senders of the turns these records came from, told to send the
    /// next turn once the records are durable.
    pub turns: Vec<oneshot::Sender<()>>,
    /// The clients (risk keys) with a turn here: one turn each.
    pub keys: HashSet<String>,
}

/// A turn of a client that already had one on its way (from another of
/// its connections): decided once that one's commit has landed.
pub(super) struct Deferred {
    /// Whose.
    pub conn: ConnId,
    /// Its frames, undecided.
    pub frames: FrameBatch,
    /// Told once it is decided and committed.
    pub turn: oneshot::Sender<()>,
}

/// A commit started, with what waits for it.
pub(super) struct InFlight {
    /// Names it, so its outcome finds it.
    seq: u64,
    /// What its landing releases.
    pub batch: Batch,
    /// How it ran, once it did.
    landing: Landing,
}

/// Whether a started commit has ended.
enum Landing {
    /// Still on its way.
    Pending,
    /// Ended; its outcome waits for the commits before it.
    Ran(Committed),
    /// It had no records (answers of already durable orders): it lands as
    /// soon as the commits before it, keeping each client's answer order.
    NothingToWrite,
}

/// Where the commits stand.
#[derive(Default)]
pub(super) struct Pipeline {
    /// Gathering: the next commit's executions and turns (its answers wait
    /// in each client's `pending`, its records in the journal).
    pub next: Batch,
    /// The commits started and not yet landed, oldest first.
    pub in_flight: VecDeque<InFlight>,
    /// The number the next commit started gets.
    next_seq: u64,
    /// Turns waiting for their client's turn in the next commit to start,
    /// in the order they came.
    pub deferred: VecDeque<Deferred>,
    /// A commit is already due: at the end of this pass over the mailbox,
    /// or after `group_commit`.
    pub scheduled: bool,
    /// Told when nothing waits and nothing is in flight (a stop waits).
    pub idle: Vec<oneshot::Sender<()>>,
}

impl OrderSinkActor {
    /// Takes the frames of one event (at most
    /// `ordermanager.max_frames_per_turn` of one socket read): decided now,
    /// or once this client (by its risk key, over all its connections) has
    /// no turn left on its way, neither in the next commit nor in one in
    /// flight. The answer to the event, which lets the session read and
    /// send its next turn, comes once the commit holding this turn's
    /// records and answers has landed, so one client has at most one turn
    /// on its way to disk however fast it sends and however many
    /// connections it opens: it fills one commit lane at most.
    pub(super) fn handle_frames(
        &mut self,
        conn: ConnId,
        frames: FrameBatch,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<()> {
        if self.failed || self.stopping {
            return handled();
        }
        let (turn, released) = tokio::sync::oneshot::channel();
        let waiting = Box::pin(async move {
            let _ = released.await;
        });
        if self.has_turn_on_its_way(conn) {
            let deferred = Deferred { conn, frames, turn };
            self.pipeline.deferred.push_back(deferred);
            return waiting;
        }
        self.decide_turn(conn, &frames, turn, ctx);
        self.commit_when_due(ctx);
        waiting
    }

    /// Whether the client on `conn` already has a turn in the next commit
    /// or in one on its way to disk.
    pub(super) fn has_turn_on_its_way(&self, conn: ConnId) -> bool {
        let Some((_, key)) = self.clients.get(&conn).and_then(Client::who) else {
            return false;
        };
        let pipeline = &self.pipeline;
        pipeline.next.keys.contains(key)
            || pipeline
                .in_flight
                .iter()
                .any(|c| c.batch.keys.contains(key))
    }

    /// Decides one turn; `turn` is told by the next commit to end, or at
    /// once when the turn left nothing to commit or answer and no commit is
    /// on its way to disk: a client sending only frames that cost no record
    /// (garbage) still gets one turn per commit while others' orders are
    /// being committed, instead of the actor's every cycle.
    pub(super) fn decide_turn(
        &mut self,
        conn: ConnId,
        frames: &FrameBatch,
        turn: tokio::sync::oneshot::Sender<()>,
        ctx: &mut Context<Self>,
    ) {
        if self.failed {
            return;
        }
        let owed = |s: &Self| {
            let answers = s.clients.get(&conn).map_or(0, |c| c.pending.len());
            (s.journal.uncommitted(), answers)
        };
        let before = owed(self);
        let now = Instant::now();
        for frame in frames.iter() {
            if let Err(failed) = self.handle_frame(conn, frame, now) {
                return self.fail(ctx, failed);
            }
        }
        if owed(self) == before && self.pipeline.in_flight.is_empty() {
            let _ = turn.send(());
            return;
        }
        self.pipeline.next.turns.push(turn);
        if let Some((_, key)) = self.clients.get(&conn).and_then(Client::who) {
            self.pipeline.next.keys.insert(key.to_string());
        }
    }

    /// Whether anything decided waits for the next commit. Deferred turns
    /// do not count: they wait for a landing, not for a commit, and an
    /// empty commit started for them would only take a lane.
    pub(super) fn waiting(&self) -> bool {
        self.journal.uncommitted() > 0
            || !self.pipeline.next.executed.is_empty()
            || !self.pipeline.next.turns.is_empty()
            || self.clients.values().any(|c| !c.pending.is_empty())
    }

    /// Schedules the commit if anything waits and a lane is free (else
    /// the end of a commit in flight starts it): at the end of this pass
    /// over the mailbox ([`EndOfPass`]), or after `group_commit` when set.
    pub(super) fn commit_when_due(&mut self, ctx: &mut Context<Self>) {
        if self.failed || self.pipeline.scheduled {
            return;
        }
        if !self.waiting() {
            let settled = self.pipeline.in_flight.is_empty()
                && self.pipeline.deferred.is_empty()
                && !self.journal.filling();
            if settled {
                for idle in self.pipeline.idle.drain(..) {
                    let _ = idle.send(());
                }
            }
            return;
        }
        if !self.lane_free() {
            return;
        }
        self.pipeline.scheduled = true;
        let at_once = self.settings.group_commit.is_zero()
            || self.settings.durability == Durability::Every
            || self.stopping;
        if at_once {
            ctx.notify(EndOfPass);
        } else {
            ctx.run_later(self.settings.group_commit, |act, ctx| act.commit_now(ctx));
        }
    }

    /// Whether another commit may start: a lane is free and the journal
    /// can take one (not while one zero-fills the next reserve).
    fn lane_free(&self) -> bool {
        self.pipeline.in_flight.len() < self.settings.commit_lanes
            && self.journal.can_start_commit()
    }

    /// Starts the commit of everything decided so far, on a blocking
    /// thread; without records to write (all already durable) its answers
    /// go as soon as every commit before it has landed.
    pub(super) fn commit_now(&mut self, ctx: &mut Context<Self>) {
        self.pipeline.scheduled = false;
        if self.failed || !self.lane_free() {
            return;
        }
        let mut batch = std::mem::take(&mut self.pipeline.next);
        for (conn, client) in &mut self.clients {
            if !client.pending.is_empty() {
                batch
                    .answers
                    .push((*conn, std::mem::take(&mut client.pending)));
            }
        }
        batch.records = self.journal.uncommitted() as u64;
        let seq = self.pipeline.next_seq;
        self.pipeline.next_seq += 1;
        let landing = match self.journal.start_commit() {
            Some(commit) => {
                let run = tokio::task::spawn_blocking(move || commit.run());
                ctx.spawn(run.into_actor(self).map(move |ran, act, ctx| {
                    let ran = ran.unwrap_or_else(|panicked| Committed::failed(panicked.into()));
                    act.committed(seq, ran, ctx)
                }));
                Landing::Pending
            }
            None => Landing::NothingToWrite,
        };
        self.pipeline.in_flight.push_back(InFlight {
            seq,
            batch,
            landing,
        });
        self.land_in_order(ctx);
        self.fill_ahead(ctx);
        self.decide_deferred(ctx);
        self.commit_when_due(ctx);
    }

    /// Starts zero-filling the journal's next reserve when it is due, on a
    /// blocking thread beside the commits (see `OrderJournal::start_fill`);
    /// its end may let a commit that waited for room start.
    fn fill_ahead(&mut self, ctx: &mut Context<Self>) {
        // Under `every` each record is committed on this thread, outside
        // the lanes, and would not wait for a fill: it reserves itself.
        if self.failed || self.settings.durability == Durability::Every {
            return;
        }
        let Some(fill) = self.journal.start_fill() else {
            return;
        };
        let run = tokio::task::spawn_blocking(move || fill.run());
        ctx.spawn(run.into_actor(self).map(|ran, act, ctx| {
            let ran = ran.unwrap_or_else(|panicked| Err(panicked.into()));
            if let Err(e) = act.journal.finish_fill(ran) {
                return act.fail(ctx, JournalFailed(e));
            }
            act.commit_when_due(ctx);
        }));
    }

    /// Decides the deferred turns whose clients have none on its way any
    /// more (one each, oldest first); the others wait for a later landing.
    fn decide_deferred(&mut self, ctx: &mut Context<Self>) {
        for d in std::mem::take(&mut self.pipeline.deferred) {
            if self.has_turn_on_its_way(d.conn) {
                self.pipeline.deferred.push_back(d);
            } else {
                self.decide_turn(d.conn, &d.frames, d.turn, ctx);
            }
        }
    }

    /// Commit `seq` ended: it lands with every ended commit after it once
    /// all before it have, and the next commit starts with what was
    /// decided meanwhile.
    fn committed(&mut self, seq: u64, ran: Committed, ctx: &mut Context<Self>) {
        if let Some(c) = self.pipeline.in_flight.iter_mut().find(|c| c.seq == seq) {
            c.landing = Landing::Ran(ran);
        }
        self.land_in_order(ctx);
        self.decide_deferred(ctx);
        self.commit_when_due(ctx);
    }

    /// Lands the oldest commits that have ended, in the order they
    /// started: on success their answers go and their turns are released;
    /// on a failure nothing more is answered.
    fn land_in_order(&mut self, ctx: &mut Context<Self>) {
        let ended = |c: &InFlight| !matches!(c.landing, Landing::Pending);
        while !self.failed && self.pipeline.in_flight.front().is_some_and(ended) {
            let Some(InFlight { batch, landing, .. }) = self.pipeline.in_flight.pop_front() else {
                return;
            };
            if let Landing::Ran(ran) = landing {
                if let Err(e) = self.journal.finish_commit(ran) {
                    return self.fail(ctx, JournalFailed(e));
                }
                let counts = &mut self.desk.counts;
                counts.commits += 1;
                counts.largest_commit = counts.largest_commit.max(batch.records);
            }
            self.release(batch);
        }
    }

    /// Sends the answers of a durable batch (cutting a client whose unread
    /// answers pass `max_reply_backlog`), then logs its executions, releases
    /// its turns and forgets the clients that are gone and owed nothing.
    fn release(&mut self, batch: Batch) {
        let limit = self.settings.max_reply_backlog;
        for (conn, answers) in batch.answers {
            let Some(client) = self.clients.get_mut(&conn) else {
                continue;
            };
            if let Ok(backlog) = client.replies.send(Bytes::from(answers)) {
                if backlog > limit && !client.cut {
                    self.desk.counts.slow_clients += 1;
                    if let Some(skipped) = self.conn_log.allow() {
                        slog::warn!(self.log, "client does not read its answers: disconnecting it";
                            "client" => &client.peer, "unread_bytes" => backlog,
                            "slow_clients" => self.desk.counts.slow_clients, "not_logged_before" => skipped);
                    }
                    client.cut = true;
                    client.replies.disconnect();
                }
            }
        }
        for line in batch.executed {
            slog::info!(self.log, "{}", line);
        }
        for turn in batch.turns {
            let _ = turn.send(());
        }
        self.forget_gone_clients();
    }

    /// Drops the clients whose connection is down and who are owed no
    /// answer: their writers close once what was queued is written.
    pub(super) fn forget_gone_clients(&mut self) {
        let in_flight: Vec<ConnId> = self
            .pipeline
            .in_flight
            .iter()
            .flat_map(|c| c.batch.answers.iter().map(|(conn, _)| *conn))
            .collect();
        let metrics = self.journal.metrics();
        self.clients.retain(|conn, c| {
            let keep = !c.gone || !c.pending.is_empty() || in_flight.contains(conn);
            if !keep {
                if let Some(m) = metrics {
                    m.disconnected();
                }
            }
            keep
        });
    }
}

impl Handler<Stop> for OrderSinkActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Records what is left of every client's garbage, waits for the
    /// commit in flight and the last one, then logs the final counts.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        // Turns not yet decided stay undecided and unanswered: resent
        // after the restart.
        self.pipeline.deferred.clear();
        let left = self.garbage.drain();
        if let Err(failed) = self.record_garbage(left, crate::clock::unix_now_ns()) {
            self.fail(ctx, failed);
            return Box::pin(actix::fut::ready(()));
        }
        let (idle, committed) = tokio::sync::oneshot::channel();
        self.pipeline.idle.push(idle);
        // A group commit waiting for company (`group_commit_ms`) is due
        // now: the stop must not wait for its timer (a late timer finds
        // nothing to do).
        self.pipeline.scheduled = false;
        self.commit_when_due(ctx);
        Box::pin(
            async move {
                let _ = committed.await;
            }
            .into_actor(self)
            .map(|(), act, ctx| act.stopped(ctx)),
        )
    }
}

impl Handler<EndOfPass> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, _: EndOfPass, ctx: &mut Context<Self>) {
        self.commit_now(ctx);
    }
}

/// The answer to an event that waits for no commit.
pub(super) fn handled() -> ResponseFuture<()> {
    Box::pin(std::future::ready(()))
}
