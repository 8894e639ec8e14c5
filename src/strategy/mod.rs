//! The strategy process: every tick and every news frame in, orders out.
//!
//! [`SignalActor`] consumes the orderbook's tick ring in order from the
//! oldest tick still there (a strategy that starts late still sees a finite
//! run from its first tick), woken by a futex through a [`RingWaiter`] thread
//! instead of polling. Each tick goes through the [`SignalEngine`]
//! (moving-average crossover, combined with news unless
//! `strategy.use_news = false`); each resulting order gets a client order id
//! derived from the crossover tick (`{client_name}-{generation}-{seq}`), is
//! logged, sent, and kept in the order tracker until its ACK or REJ.
//!
//! Connections (see [`links`]) reconnect with backoff. After an order
//! connection comes back, every unanswered order is sent again with its id,
//! in order; an order unanswered for `strategy.order_timeout_ms` is logged as
//! in doubt and resolved by that resend, never dropped or duplicated.
//!
//! A finite run (the table's feed-ended flag) ends with exit 0 once the ring
//! is drained and every order is answered; Ctrl+C/SIGTERM ends it at once.
//! Either way the last log line is `final counts`.

mod actor;
pub mod links;
mod orders;

pub use actor::{InputCounts, SignalActor, StrategyCounts, StrategySettings};
pub use links::{News, Orders, RingWaiter};
pub use orders::OrderCounts;

use std::time::Duration;

use actix::Actor;
use anyhow::Context as _;
use tokio::sync::oneshot;

use crate::lifecycle::{announce_ready, RoleContext, Shutdown, Stop};
use crate::net::ClientLink;
use crate::shm::{PriceTableReader, ShmError};
use crate::signals::SignalEngine;

/// How often a missing table is looked for at start-up.
const ATTACH_RETRY: Duration = Duration::from_millis(50);

/// Runs the strategy until it is asked to stop or a finite run is complete.
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(serve(ctx))
}

async fn serve(ctx: RoleContext) -> anyhow::Result<()> {
    let shutdown = Shutdown::install(ctx.watch_parent)?;
    let cfg = &ctx.config;
    let s = &cfg.strategy;
    let log = ctx.log.clone();
    let Some(reader) = attach(&s.shared_memory_name, &cfg.symbols, &shutdown, &log).await? else {
        return Ok(());
    };
    slog::info!(log, "reading the price table";
        "name" => &s.shared_memory_name, "generation" => format!("{:016x}", reader.generation()),
        "ticks_in_ring" => reader.ticks_written(), "use_news" => s.use_news);
    announce_ready("strategy", &[]);

    let engine = SignalEngine::new(cfg.symbols.len(), &cfg.signal_params())?;
    let settings = StrategySettings {
        client_name: s.client_name.clone(),
        order_ids: s.order_ids,
        quantity: s.quantity,
        order_timeout: Duration::from_millis(s.order_timeout_ms),
        symbols: cfg.symbols.clone(),
        // The original server (order_ids = false) would take AUTH for a bad order.
        auth_token: (s.order_ids && !s.auth_token.is_empty()).then(|| s.auth_token.clone()),
    };
    let (done_tx, mut done_rx) = oneshot::channel();
    let addr = SignalActor::new(settings, reader, engine, log.clone(), done_tx).start();
    let orders = ClientLink::<Orders>::new(
        links::order_link_settings(cfg),
        addr.clone().recipient(),
        shutdown.clone(),
        log.clone(),
    )
    .start();
    let news = s.use_news.then(|| {
        ClientLink::<News>::new(
            links::news_link_settings(cfg),
            addr.clone().recipient(),
            shutdown.clone(),
            log.clone(),
        )
        .start()
    });
    tokio::select! {
        reason = shutdown.requested() => {
            slog::info!(log, "stopping"; "reason" => format!("{reason:?}"));
            addr.do_send(Stop);
            let _ = done_rx.await;
        }
        _ = &mut done_rx => slog::info!(log, "finite run complete: feed ended, ring drained, every order answered"),
    }
    if let Some(n) = news {
        let _ = n.send(Stop).await;
    }
    // The actor is gone and with it its order writer: the link's answer to
    // Stop comes once the writer has delivered what was queued.
    let _ = orders.send(Stop).await;
    Ok(())
}

/// Attaches to the table, waiting while it does not exist yet (the orderbook
/// may start later); `None` if a stop was requested first.
async fn attach(
    name: &str,
    symbols: &[String],
    shutdown: &Shutdown,
    log: &slog::Logger,
) -> anyhow::Result<Option<PriceTableReader>> {
    let mut said = false;
    loop {
        match PriceTableReader::attach_expecting(name, symbols) {
            Ok(r) => return Ok(Some(r)),
            Err(ShmError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                if !said {
                    slog::info!(log, "waiting for the price table"; "name" => name);
                    said = true;
                }
            }
            Err(e) => return Err(e).context("attaching to the price table"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ATTACH_RETRY) => {}
            _ = shutdown.requested() => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
