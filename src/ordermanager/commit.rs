//! The sink's commit pipeline: the journal's write and fdatasync run on a
//! blocking thread while the actor goes on reading and deciding, one
//! commit at a time, and each client turn is released only by the commit
//! that makes it durable.
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

use std::collections::{HashSet, VecDeque};

use actix::{ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::journal::Committed;
use super::sink::{JournalFailed, OrderSinkActor};
use crate::config::Durability;
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

/// A turn of a client that already had one in the next commit (from
/// another of its connections): decided once that commit has started.
pub(super) struct Deferred {
    /// Whose.
    pub conn: ConnId,
    /// Its frames, undecided.
    pub frames: FrameBatch,
    /// Told once it is decided and committed.
    pub turn: oneshot::Sender<()>,
}

/// Where the commits stand.
#[derive(Default)]
pub(super) struct Pipeline {
    /// Gathering: the next commit's executions and turns (its answers wait
    /// in each client's `pending`, its records in the journal).
    pub next: Batch,
    /// The commit on its way to disk, if any.
    pub in_flight: Option<Batch>,
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
    /// Whether anything decided is not yet committed and answered.
    pub(super) fn waiting(&self) -> bool {
        self.journal.uncommitted() > 0
            || !self.pipeline.deferred.is_empty()
            || !self.pipeline.next.executed.is_empty()
            || !self.pipeline.next.turns.is_empty()
            || self.clients.values().any(|c| !c.pending.is_empty())
    }

    /// Schedules the commit if anything waits and no commit is in flight
    /// (its end starts the next): at the end of this pass over the mailbox
    /// ([`EndOfPass`]), or after `group_commit` when set.
    pub(super) fn commit_when_due(&mut self, ctx: &mut Context<Self>) {
        if self.failed || self.pipeline.in_flight.is_some() || self.pipeline.scheduled {
            return;
        }
        if !self.waiting() {
            for idle in self.pipeline.idle.drain(..) {
                let _ = idle.send(());
            }
            return;
        }
        self.pipeline.scheduled = true;
        if self.settings.group_commit.is_zero() || self.settings.durability == Durability::Every {
            ctx.notify(EndOfPass);
        } else {
            ctx.run_later(self.settings.group_commit, |act, ctx| act.commit_now(ctx));
        }
    }

    /// Starts the commit of everything decided so far, on a blocking
    /// thread; without records to write (all already durable) its answers
    /// go at once.
    pub(super) fn commit_now(&mut self, ctx: &mut Context<Self>) {
        self.pipeline.scheduled = false;
        if self.failed || self.pipeline.in_flight.is_some() {
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
        match self.journal.start_commit() {
            Some(commit) => {
                self.pipeline.in_flight = Some(batch);
                let run = tokio::task::spawn_blocking(move || commit.run());
                ctx.spawn(run.into_actor(self).map(|ran, act, ctx| {
                    let ran = ran.unwrap_or_else(|panicked| Committed::failed(panicked.into()));
                    act.committed(ran, ctx)
                }));
            }
            None => self.release(batch),
        }
        self.decide_deferred(ctx);
        self.commit_when_due(ctx);
    }

    /// Decides the deferred turns whose clients have none in the next
    /// commit yet (one each, oldest first); the others wait for the one after.
    fn decide_deferred(&mut self, ctx: &mut Context<Self>) {
        for d in std::mem::take(&mut self.pipeline.deferred) {
            if self.has_turn_in_next_commit(d.conn) {
                self.pipeline.deferred.push_back(d);
            } else {
                self.decide_turn(d.conn, &d.frames, d.turn, ctx);
            }
        }
    }

    /// The commit in flight ended: on success its answers go, its turns
    /// are released and the next commit starts with what was decided
    /// meanwhile; on failure nothing more is answered.
    fn committed(&mut self, ran: Committed, ctx: &mut Context<Self>) {
        let batch = self.pipeline.in_flight.take().unwrap_or_default();
        if self.failed {
            return;
        }
        if let Err(e) = self.journal.finish_commit(ran) {
            return self.fail(ctx, JournalFailed(e));
        }
        let counts = &mut self.desk.counts;
        counts.commits += 1;
        counts.largest_commit = counts.largest_commit.max(batch.records);
        self.release(batch);
        self.commit_when_due(ctx);
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
                    slog::warn!(self.log, "client does not read its answers: disconnecting it";
                        "client" => &client.peer, "unread_bytes" => backlog);
                    self.desk.counts.slow_clients += 1;
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
            .flat_map(|b| b.answers.iter().map(|(conn, _)| *conn))
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

impl Handler<EndOfPass> for OrderSinkActor {
    type Result = ();

    fn handle(&mut self, _: EndOfPass, ctx: &mut Context<Self>) {
        self.commit_now(ctx);
    }
}
