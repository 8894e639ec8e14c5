//! [`FeedActor`]: the TCP client of the gateway's market data stream.

use std::net::SocketAddr;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Message, Recipient, WrapFuture,
};
use bytes::BytesMut;
use slog::Logger;
use tokio::io::AsyncReadExt;

use super::MarketBytes;
use crate::lifecycle::Shutdown;
use crate::net::{connect_logged, Backoff};
use crate::protocol::frame::READ_CHUNK;

/// What happened to the market data connection, for the writer.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum FeedEvent {
    /// A new connection: partial frames of an earlier one must be dropped.
    Connected(SocketAddr),
    /// The connection broke; the feed is reconnecting.
    Disconnected(String),
    /// A finite feed reached its end: no more ticks will come.
    Ended,
}

/// Connects to the gateway, reads, and forwards every read to the writer.
pub struct FeedActor {
    /// Gateway host.
    host: String,
    /// Gateway market data port.
    port: u16,
    /// `gateway.loop = false`: an EOF is the end of the data, not a failure.
    finite: bool,
    /// Where reads go (the BookWriterActor).
    bytes: Recipient<MarketBytes>,
    /// Where connection events go (the BookWriterActor).
    events: Recipient<FeedEvent>,
    /// Ends the read loop.
    shutdown: Shutdown,
    /// Connection state lines.
    log: Logger,
}

impl FeedActor {
    /// A feed from `host:port` into `writer`.
    pub fn new<W>(
        host: String,
        port: u16,
        finite: bool,
        writer: actix::Addr<W>,
        shutdown: Shutdown,
        log: Logger,
    ) -> FeedActor
    where
        W: Actor<Context = Context<W>> + actix::Handler<MarketBytes> + actix::Handler<FeedEvent>,
    {
        FeedActor::with_recipients(
            host,
            port,
            finite,
            writer.clone().recipient(),
            writer.recipient(),
            shutdown,
            log,
        )
    }

    /// A feed with separate recipients (tests substitute a recorder).
    pub fn with_recipients(
        host: String,
        port: u16,
        finite: bool,
        bytes: Recipient<MarketBytes>,
        events: Recipient<FeedEvent>,
        shutdown: Shutdown,
        log: Logger,
    ) -> FeedActor {
        FeedActor {
            host,
            port,
            finite,
            bytes,
            events,
            shutdown,
            log,
        }
    }
}

impl Actor for FeedActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let feed = read_loop(
            self.host.clone(),
            self.port,
            self.finite,
            self.bytes.clone(),
            self.events.clone(),
            self.shutdown.clone(),
            self.log.clone(),
        );
        ctx.spawn(feed.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}

/// Connect, read, forward; reconnect unless the feed ended or we are stopping.
async fn read_loop(
    host: String,
    port: u16,
    finite: bool,
    bytes: Recipient<MarketBytes>,
    events: Recipient<FeedEvent>,
    shutdown: Shutdown,
    log: Logger,
) {
    let mut backoff = Backoff::client_default();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let connected = connect_logged(&host, port, &mut backoff, &shutdown, &log, "gateway").await;
        let Some(mut stream) = connected else { return };
        if let Ok(peer) = stream.peer_addr() {
            events.do_send(FeedEvent::Connected(peer));
        }
        buf.clear();
        let reason = loop {
            buf.reserve(READ_CHUNK);
            let read = tokio::select! {
                r = stream.read_buf(&mut buf) => r,
                _ = shutdown.requested() => return,
            };
            match read {
                Ok(0) if finite => {
                    events.do_send(FeedEvent::Ended);
                    return;
                }
                Ok(0) => break "the gateway closed the stream".to_string(),
                Ok(_) => match bytes.send(MarketBytes(buf.split().freeze())).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break e.to_string(),
                    Err(_) => return, // the writer is gone: nothing left to feed
                },
                Err(e) => break e.to_string(),
            }
        };
        events.do_send(FeedEvent::Disconnected(reason));
    }
}
