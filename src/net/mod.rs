//! One way to talk over a socket, for every role.
//!
//! Every connection, whether we dialled it ([`ClientLink`]) or accepted it
//! ([`serve_sessions`]), is reported to the actor that owns it as
//! [`NetEvent`]s: `Up` with the [`LinkWriter`] to answer through, `Frames`
//! with the complete frames of one socket read, `Down` with the reason.
//! Framing happens here and only here (one reading loop serves both), one batch per read, so a
//! read of hundreds of ticks is one actor turn; the reader awaits the actor's
//! handling of each batch, which is the backpressure from a slow actor back
//! to the peer's TCP window. A server that must be fair between clients caps
//! the frames of one batch ([`ReadLimits::frames_per_turn`]): a big read then
//! goes as several batches, each awaited, so the batches of other
//! connections queue between them in the owner's mailbox (first come, first
//! served: round-robin between busy clients) and the flooding peer's socket
//! is not read again until its last batch is handled.
//!
//! * [`backoff`]: exponential backoff and the connect-retry loop.
//! * [`writer`]: the per-connection writer task behind a [`LinkWriter`].
//! * [`link`]: [`ClientLink`], the reconnecting framed client actor.
//! * [`listen`]: the accept loop with its connection cap, and sessions.

pub mod backoff;
pub mod link;
pub mod listen;
pub mod writer;

pub use backoff::{connect_with_backoff, resolve, Backoff};
pub use link::{ClientLink, LinkSettings};
pub use listen::{accept_loop, bind, serve_sessions, Accepted, SessionLimits};
pub use writer::LinkWriter;

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::{Message, Recipient};
use tokio::net::tcp::OwnedReadHalf;
use tokio_util::sync::CancellationToken;

use crate::protocol::{FrameBatch, FrameError, FrameSplitter};

/// Names one connection for the life of the process: events of an old
/// connection can never be mistaken for the current one's, and a server's
/// per-client state is keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// A number no other connection of this process has had.
    pub fn next() -> ConnId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What happened on one connection, for the actor that owns it.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected: write through `writer`; frames follow.
    Up {
        /// The other end, for logs and for identifying a client.
        peer: SocketAddr,
        /// Where answers and orders go; dropping every clone closes the
        /// writing side once what is queued is written.
        writer: LinkWriter,
    },
    /// The complete frames of one socket read.
    Frames(FrameBatch),
    /// The connection is gone; no more events carry its [`ConnId`].
    Down(LinkDown),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkDown {
    /// End of stream: for a finite feed, the end of the data.
    #[error("the peer closed the connection")]
    Closed,
    /// A read failed (reset, broken pipe…).
    #[error("read failed: {0}")]
    Failed(String),
    /// The peer sent more than the frame limit without a `*`.
    #[error(transparent)]
    Unframeable(#[from] FrameError),
    /// Nothing arrived for the idle limit.
    #[error("no bytes for {0:?}")]
    Idle(Duration),
    /// A frame was started and not finished within the limit (slow-loris).
    #[error("a partial frame waited more than {0:?}")]
    PartialFrame(Duration),
    /// This process cut the connection ([`LinkWriter::disconnect`]).
    #[error("disconnected by this process")]
    Cut,
    /// The link was asked to stop.
    #[error("the link was stopped")]
    Stopped,
}

/// A [`LinkEvent`] of connection `conn`, addressed by stream kind `K`.
///
/// `K` is a marker type (`orderbook::MarketData`, `strategy::News`, …) so
/// that one actor can own several links and handle each with its own
/// `Handler<NetEvent<K>>`, and a link can never feed the wrong handler.
pub struct NetEvent<K> {
    /// Which connection.
    pub conn: ConnId,
    /// What happened.
    pub event: LinkEvent,
    /// The stream kind, only at the type level.
    kind: PhantomData<fn() -> K>,
}

impl<K> NetEvent<K> {
    /// An event of connection `conn`.
    pub fn new(conn: ConnId, event: LinkEvent) -> NetEvent<K> {
        NetEvent {
            conn,
            event,
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for NetEvent<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetEvent({}, {:?})", self.conn, self.event)
    }
}

impl<K: 'static> Message for NetEvent<K> {
    type Result = ();
}

/// Limits one connection's reading side enforces.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Longest frame accepted (`protocol.max_frame`).
    pub max_frame: usize,
    /// Close after this long without a byte (`None`: never).
    pub idle: Option<Duration>,
    /// Close when a frame stays incomplete this long (`None`: never).
    pub partial: Option<Duration>,
    /// Most frames handed to the owner in one event (one actor turn): the
    /// longest one client can make the others wait. `usize::MAX`: a whole
    /// read in one event, for links to our own peers.
    pub frames_per_turn: usize,
}

impl ReadLimits {
    /// Frame limit only: for links to our own peers, which may be quiet.
    pub fn frames_only(max_frame: usize) -> ReadLimits {
        ReadLimits {
            max_frame,
            idle: None,
            partial: None,
            frames_per_turn: usize::MAX,
        }
    }

    /// When the read must have produced something, and what it means if not.
    fn deadline(
        &self,
        last_read: Instant,
        partial_since: Option<Instant>,
    ) -> Option<(Instant, LinkDown)> {
        let idle = self.idle.map(|d| (last_read + d, LinkDown::Idle(d)));
        let partial = match (partial_since, self.partial) {
            (Some(since), Some(d)) => Some((since + d, LinkDown::PartialFrame(d))),
            _ => None,
        };
        match (idle, partial) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// How a connection's reading side ended.
#[derive(Debug)]
pub(crate) struct Pumped {
    /// Why.
    pub down: LinkDown,
    /// The owning actor is gone: nothing will read further events.
    pub owner_gone: bool,
}

/// Reads `rd` until it ends, `stop` or `cut` is cancelled, or a limit is
/// hit; the complete frames of every read go to `to` as
/// [`LinkEvent::Frames`] of at most `limits.frames_per_turn` frames each,
/// in order, each awaited before the next (backpressure: the socket is read
/// again only once the owner has handled all of them).
pub(crate) async fn pump<K: 'static>(
    mut rd: OwnedReadHalf,
    conn: ConnId,
    to: &Recipient<NetEvent<K>>,
    limits: ReadLimits,
    stop: &CancellationToken,
    cut: &CancellationToken,
) -> Pumped {
    let mut splitter = FrameSplitter::new(limits.max_frame);
    let mut last_read = Instant::now();
    let mut partial_since = None;
    let down = |down| Pumped {
        down,
        owner_gone: false,
    };
    loop {
        let (deadline, expired) = match limits.deadline(last_read, partial_since) {
            Some((at, why)) => (Some(at), why),
            None => (None, LinkDown::Stopped),
        };
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let read = tokio::select! {
            r = tokio::io::AsyncReadExt::read_buf(&mut rd, splitter.read_buf_mut()) => r,
            _ = stop.cancelled() => return down(LinkDown::Stopped),
            _ = cut.cancelled() => return down(LinkDown::Cut),
            _ = timer => return down(expired),
        };
        match read {
            Ok(0) => return down(LinkDown::Closed),
            Err(e) => return down(LinkDown::Failed(e.to_string())),
            Ok(_) => {}
        }
        let (batch, error) = splitter.take_batch();
        let completed_a_frame = !batch.is_empty();
        // `deliver` awaits the owner's answer to each turn, not just its
        // delivery, and nothing is read meanwhile: the backpressure hook. The
        // orderbook answers a read only once the tick ring had room for all
        // of it, so a slow ring reader leaves this socket unread and TCP
        // holds the peer back.
        if let Err(undelivered) = deliver(batch, conn, to, limits.frames_per_turn, cut).await {
            return undelivered;
        }
        // The peer's clocks run only while we wait for its bytes, not while
        // its frames wait for the owner (a flooder held back by backpressure
        // is not idle); a partial frame is timed from the read that started
        // it: a flood whose every read ends mid-frame is not a slow-loris.
        last_read = Instant::now();
        partial_since = match splitter.pending() {
            0 => None,
            _ if completed_a_frame => Some(last_read),
            _ => partial_since.or(Some(last_read)),
        };
        if let Some(e) = error {
            return down(LinkDown::Unframeable(e));
        }
    }
}

/// Hands `batch` to `to` in events of at most `per_turn` frames, each
/// awaited before the next. Stops when the owner is gone, or when it cut
/// the connection: the rest of a read it refused is not worth its turns.
async fn deliver<K: 'static>(
    batch: FrameBatch,
    conn: ConnId,
    to: &Recipient<NetEvent<K>>,
    per_turn: usize,
    cut: &CancellationToken,
) -> Result<(), Pumped> {
    let send = |frames| async move {
        if cut.is_cancelled() {
            return Err(Pumped {
                down: LinkDown::Cut,
                owner_gone: false,
            });
        }
        let event = NetEvent::new(conn, LinkEvent::Frames(frames));
        to.send(event).await.map_err(|_| Pumped {
            down: LinkDown::Stopped,
            owner_gone: true,
        })
    };
    if batch.len() <= per_turn {
        if !batch.is_empty() {
            send(batch).await?;
        }
        return Ok(());
    }
    for chunk in batch.chunks(per_turn) {
        send(chunk).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fairness;
