//! The strategy process: every tick and every news frame in, orders out.
//!
//! [`SignalActor`] consumes the orderbook's tick ring in order from the
//! oldest tick still there (a strategy that starts late still sees a finite
//! run from its first tick), woken on its own thread by the orderbook
//! ringing its [`Doorbell`](crate::shm::Doorbell) instead of polling, and
//! only when it sleeps: one wake-up per batch of ticks, none while it reads. Each tick goes through the configured strategy
//! (`strategy.kind`; by default the [`SignalEngine`](crate::signals::SignalEngine):
//! moving-average crossover, combined with news unless
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
//! is drained and every order is answered, unless the table says the feed
//! was cut short: then it ends with exit 5 ([`StrategyError::FeedCut`], a
//! data error, so the supervisor stops the run instead of restarting it),
//! and a strategy started on such a table refuses it at once. Ctrl+C/SIGTERM ends it
//! at once.
//!
//! Stale prices: a tick older than `strategy.max_tick_age_ms` on a live
//! feed updates the indicators but sends no order (counted as skipped);
//! a writer that stops refreshing the table's heartbeat or dies is logged
//! once, and trading resumes by itself with fresh ticks.
//! Either way the last log line is `final counts`.

mod actor;
pub mod links;
mod orders;

pub use actor::{InputCounts, SignalActor, StrategyCounts, StrategySettings};
pub use links::{News, Orders};
pub use orders::OrderCounts;

use std::time::Duration;

use actix::Actor;
use anyhow::Context as _;
use tokio::sync::oneshot;

use crate::lifecycle::{announce_ready, CannotRun, RoleContext, Shutdown, Stop};
use crate::net::ClientLink;
use crate::shm::{PriceTableReader, ShmError};

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
    if reader.feed_cut() {
        // A restart must not trade a run that can no longer be complete.
        return Err(StrategyError::FeedCut.into_exit());
    }
    slog::info!(log, "reading the price table";
        "name" => &s.shared_memory_name, "generation" => format!("{:016x}", reader.generation()),
        "ticks_in_ring" => reader.ticks_written(), "use_news" => s.use_news);

    let (done_tx, mut done_rx) = oneshot::channel();
    let addr = signal_actor(cfg, reader, log.clone(), done_tx)?.start();
    let metrics = serve_metrics(cfg, &addr, &log)?;
    // Ready once registered: every tick from here on is kept for us.
    announce_ready("strategy", &crate::metrics::ready_endpoints(&metrics));
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
    let mut cut = false;
    tokio::select! {
        reason = shutdown.requested() => {
            slog::info!(log, "stopping"; "reason" => format!("{reason:?}"));
            addr.do_send(Stop);
            let _ = done_rx.await;
        }
        _ = &mut done_rx => {
            cut = feed_was_cut(&s.shared_memory_name);
            if cut {
                slog::error!(log, "{}", StrategyError::FeedCut);
            } else {
                slog::info!(log, "finite run complete: feed ended, ring drained, every order answered");
            }
        }
    }
    if let Some(n) = news {
        let _ = n.send(Stop).await;
    }
    // The actor is gone and with it its order writer: the link's answer to
    // Stop comes once the writer has delivered what was queued.
    let _ = orders.send(Stop).await;
    if let Some((_, server)) = metrics {
        server.stop(false).await;
    }
    if cut {
        return Err(StrategyError::FeedCut.into_exit());
    }
    Ok(())
}

/// The configured strategy in its actor, registered as a ring reader,
/// waiting for news if it takes news, recording if asked to.
fn signal_actor(
    cfg: &crate::config::Config,
    reader: PriceTableReader,
    log: slog::Logger,
    done: oneshot::Sender<()>,
) -> anyhow::Result<SignalActor> {
    let s = &cfg.strategy;
    let engine = cfg.build_strategy()?;
    let settings = StrategySettings {
        client_name: s.client_name.clone(),
        order_ids: s.order_ids,
        quantity: s.quantity,
        order_timeout: Duration::from_millis(s.order_timeout_ms),
        symbols: cfg.symbols.clone(),
        max_tick_age: max_tick_age(cfg),
        // The original server (order_ids = false) would take AUTH for a bad order.
        auth_token: (s.order_ids && !s.auth_token.is_empty()).then(|| s.auth_token.clone()),
        max_unanswered: s.max_unanswered,
    };
    let mut actor = SignalActor::new(settings, reader, engine, log.clone(), done)
        .context("registering as a reader of the tick ring")
        .map_err(CannotRun::Environment)?;
    if s.use_news {
        actor = actor.expecting_news();
    }
    if !s.record_path.is_empty() {
        let path = std::path::Path::new(&s.record_path);
        let recorder = crate::backtest::recording::Recorder::open(path, &cfg.symbols)
            .context("strategy.record_path")
            .map_err(CannotRun::Environment)?;
        slog::info!(log, "recording every input"; "path" => &s.record_path);
        actor = actor.with_recorder(recorder);
    }
    Ok(actor)
}

/// Serves the role's `/metrics` on loopback when `strategy.metrics_port`
/// is not -1: the signal actor's counts.
fn serve_metrics(
    cfg: &crate::config::Config,
    actor: &actix::Addr<SignalActor>,
    log: &slog::Logger,
) -> anyhow::Result<Option<crate::metrics::Served>> {
    let Some(port) = crate::metrics::port_setting(cfg.strategy.metrics_port) else {
        return Ok(None);
    };
    let source = std::sync::Arc::new(crate::metrics::StrategySource {
        metrics: crate::metrics::StrategyMetrics::new(),
        actor: actor.clone(),
    });
    let served =
        crate::metrics::serve_role("127.0.0.1", port, "strategy.metrics_port", source, log)?;
    Ok(Some(served))
}

/// Why the strategy ended without completing its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// The table says the finite feed ended with frames missing: the orders
    /// made are not those of the whole data, and exit 0 would claim they are.
    #[error(
        "the market data feed was cut short (frames missing, see logs/orderbook.log): \
         this finite run is incomplete"
    )]
    FeedCut,
}

impl StrategyError {
    /// The error the process ends with. A cut feed is the data's fault
    /// ([`CannotRun::Data`], exit 5): a restart cannot make the run whole,
    /// so the supervisor stops the run at once with this line instead of
    /// restarting a strategy that would refuse again.
    fn into_exit(self) -> anyhow::Error {
        CannotRun::Data(self.into()).into()
    }
}

/// Whether the table the run ended on says its feed was cut short.
fn feed_was_cut(name: &str) -> bool {
    PriceTableReader::attach(name).is_ok_and(|r| r.feed_cut())
}

/// `strategy.max_tick_age_ms`, for live feeds only (see `actor::fresh`):
/// a finite or full-speed replay's send times measure the gateway's lead,
/// not the age of a price, and its orders must be the same on any machine.
pub fn max_tick_age(cfg: &crate::config::Config) -> Option<Duration> {
    let live = cfg.gateway.loop_replay && cfg.gateway.rate > 0;
    let ms = cfg.strategy.max_tick_age_ms;
    (live && ms > 0).then(|| Duration::from_millis(ms))
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
#[cfg(test)]
mod tests_risk_defaults;

#[cfg(test)]
mod exit_tests {
    use super::*;
    use crate::lifecycle::{exit_for, Exit};

    #[test]
    fn a_cut_feed_ends_the_run_as_a_data_error_with_its_reason() {
        let e = StrategyError::FeedCut.into_exit();
        assert_eq!(exit_for(&e), Exit::Data);
        assert!(Exit::Data.is_fatal(), "the supervisor does not restart it");
        assert!(format!("{e:#}").contains("cut short"), "{e:#}");
    }
}
