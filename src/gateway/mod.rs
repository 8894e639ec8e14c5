//! The gateway process: market data and news sentiment over TCP.
//!
//! Two [`FeedActor`]s, one per stream, each fed by a [`FrameSource`]:
//!
//! * market data (`gateway.md_port`): a CSV replay ([`Replay`], once or
//!   forever per `gateway.loop`) or an endless seeded [`RandomWalk`], at
//!   `gateway.rate` ticks per second, frames `SYMBOL,PRICE,TIMESTAMP[,SEND_NS]*`;
//! * news (`gateway.news_port`): a random configured symbol and a uniformly
//!   random sentiment 0–100 ([`NewsSource`]) at `gateway.news_rate` per second.
//!
//! Listeners bind `gateway.host` (loopback by default) and the real addresses
//! are announced on stdout (`READY gateway md=… news=…`). Each subscriber
//! gets its own bounded queue and writer task (see [`feed`]). With
//! `gateway.loop = false` the replay is sent once, every queue is flushed,
//! the market data connections are closed cleanly and the process exits 0.
//!
//! A data file that cannot be loaded ends the process with
//! [`Exit::Data`](crate::lifecycle::Exit::Data), a port that cannot be bound
//! with [`Exit::Environment`](crate::lifecycle::Exit::Environment): neither
//! is worth a restart.
//!
//! The default `data/market_data.csv` was made by this module's random walk:
//! `cargo run --release -- --generate-csv data/market_data.csv --ticks 20000`.

pub mod feed;
mod resume;
pub mod source;

pub use feed::{FeedActor, FeedCounts, FeedEnd, FeedSettings, Subscribe};
pub use source::{FrameSource, NewsSource, RandomWalk, Replay, TickPacedNews};

use std::path::Path;
use std::time::Duration;

use actix::{Actor, Addr, Handler};
use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{Config, MarketSource};
use crate::lifecycle::{announce_ready, CannotRun, RoleContext, Shutdown};
use crate::net::{accept_loop, bind};

/// How long a finished replay waits for subscribers to take their last bytes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new market data subscriber may take to send its `#RESUME`.
/// Our orderbook sends it the moment it connects; the wait only matters
/// for an extension-speaking peer that does not resume, which then gets
/// the stream from its current position after this pause.
const RESUME_WAIT: Duration = Duration::from_secs(2);
/// How long a delivered finite replay with tick-paced news stays up for
/// its news to be delivered too. The news stream starts when its first
/// subscriber joins, and a strategy may join it only after the whole
/// market data stream was sent (a short replay at `rate = 0` is sent in
/// milliseconds): ending with the market data would cut its news, and the
/// run would trade differently. Under `--all` the run's end stops us
/// sooner; alone, a replay nobody takes news from ends after this.
const NEWS_LINGER: Duration = Duration::from_secs(10);

impl FrameSource for Box<dyn FrameSource> {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        (**self).next_frame(out)
    }

    fn seek(&mut self, position: u64) -> bool {
        (**self).seek(position)
    }

    fn failure(&self) -> Option<&str> {
        (**self).failure()
    }
}

/// Runs the gateway until it is asked to stop or a finite replay is delivered.
pub fn run(ctx: RoleContext) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(serve(ctx))
}

async fn serve(ctx: RoleContext) -> anyhow::Result<()> {
    let shutdown = Shutdown::install(ctx.watch_parent)?;
    let cfg = &ctx.config;
    let g = &cfg.gateway;
    let log = ctx.log.clone();
    let (market, finite_ticks) = market_source(cfg, &log)?;
    let md_listener = bind(&g.host, g.md_port, "market data", "gateway.md_port").await?;
    let news_listener = bind(&g.host, g.news_port, "news", "gateway.news_port").await?;
    let (md_addr, news_addr) = (md_listener.local_addr()?, news_listener.local_addr()?);
    slog::info!(log, "listening"; "md" => %md_addr, "news" => %news_addr);

    let settings = |name, rate| FeedSettings {
        name,
        rate,
        queue_len: g.subscriber_queue,
        max_stall: Duration::from_millis(g.max_stall_ms),
        paused: false,
        resume_wait: None,
    };
    // Resuming needs our orderbook, which `send_time = true` stands for:
    // the original one accepts three-field ticks only.
    let md_settings = FeedSettings {
        resume_wait: g.send_time.then_some(RESUME_WAIT),
        ..settings("md", g.rate)
    };
    let (md_end_tx, md_end) = oneshot::channel();
    let md = FeedActor::new(market, md_settings, md_end_tx, log.clone()).start();
    let (news_end_tx, news_end) = oneshot::channel();
    let news_source = NewsSource::new(&cfg.symbols, g.news_seed);
    // A finite replay to our strategy (`send_time`) gets its news paced by
    // its ticks, so the same command gives the same orders every time.
    let paced_by_ticks = finite_ticks.filter(|_| g.send_time && g.news_every_ticks > 0);
    let (news_source, news_settings): (Box<dyn FrameSource>, _) = match paced_by_ticks {
        Some(ticks) => {
            slog::info!(log, "news paced by the replay's ticks"; "every_ticks" => g.news_every_ticks, "ticks" => ticks);
            let paced = TickPacedNews::new(news_source, g.news_every_ticks, ticks);
            (Box::new(paced), settings("news", 0))
        }
        None => (
            Box::new(news_source),
            FeedSettings {
                paused: g.news_rate == 0,
                ..settings("news", g.news_rate)
            },
        ),
    };
    let news = FeedActor::new(news_source, news_settings, news_end_tx, log.clone()).start();
    let metrics = serve_metrics(cfg, &md, &news, &log)?;
    let mut ready = vec![("md", md_addr), ("news", news_addr)];
    ready.extend(crate::metrics::ready_endpoints(&metrics));
    announce_ready("gateway", &ready);
    let cap = g.max_subscribers;
    let md_accept = tokio::spawn(accept(md_listener, md, cap, "md", log.clone()));
    let news_accept = tokio::spawn(accept(news_listener, news, cap, "news", log.clone()));

    tokio::select! {
        reason = shutdown.requested() => {
            slog::info!(log, "stopping"; "reason" => format!("{reason:?}"));
        }
        end = md_end => {
            if let Ok(end) = end {
                deliver(end, "md", &log).await;
            }
            if paced_by_ticks.is_some() {
                tokio::select! {
                    reason = shutdown.requested() => {
                        slog::info!(log, "stopping"; "reason" => format!("{reason:?}"));
                    }
                    _ = deliver_news(news_end, &log) => {}
                }
            }
        }
    }
    md_accept.abort();
    news_accept.abort();
    if let Some((_, server)) = metrics {
        server.stop(false).await;
    }
    Ok(())
}

/// Once the market data of a replay with tick-paced news is delivered:
/// waits (at most [`NEWS_LINGER`]) for the news stream to end and delivers
/// it too, so a strategy whose news link came up late still gets it all.
async fn deliver_news(news_end: oneshot::Receiver<FeedEnd>, log: &slog::Logger) {
    match tokio::time::timeout(NEWS_LINGER, news_end).await {
        Ok(Ok(end)) => deliver(end, "news", log).await,
        _ => slog::warn!(log, "no news subscriber took the replay's news; ending without it";
            "waited_ms" => NEWS_LINGER.as_millis() as u64),
    }
}

/// Serves the role's `/metrics` on `gateway.host` when
/// `gateway.metrics_port` is not -1, asking both feeds for their counts at
/// each scrape.
fn serve_metrics(
    cfg: &Config,
    md: &Addr<FeedActor<Box<dyn FrameSource>>>,
    news: &Addr<FeedActor<Box<dyn FrameSource>>>,
    log: &slog::Logger,
) -> anyhow::Result<Option<crate::metrics::Served>> {
    let Some(port) = crate::metrics::port_setting(cfg.gateway.metrics_port) else {
        return Ok(None);
    };
    let source = crate::metrics::GatewaySource {
        metrics: crate::metrics::GatewayMetrics::new(),
        md: md.clone().recipient(),
        news: news.clone().recipient(),
    };
    let source = std::sync::Arc::new(source);
    let served =
        crate::metrics::serve_role(&cfg.gateway.host, port, "gateway.metrics_port", source, log)?;
    Ok(Some(served))
}

/// The configured market data: a loaded CSV replay (a bad file is the
/// data's fault: [`CannotRun::Data`]) or the seeded random walk, with the
/// number of ticks when the stream is finite (a replay without `loop`).
fn market_source(
    cfg: &Config,
    log: &slog::Logger,
) -> anyhow::Result<(Box<dyn FrameSource>, Option<u64>)> {
    let g = &cfg.gateway;
    Ok(match g.source {
        MarketSource::Csv => {
            let (replay, stats) =
                Replay::load(&g.data_path, &cfg.symbols, g.loop_replay, g.send_time)
                    .context("loading market data (gateway.data_path)")
                    .map_err(CannotRun::Data)?;
            if stats.unknown_symbol_rows > 0 {
                slog::warn!(log, "CSV rows skipped: symbols not configured";
                    "rows" => stats.unknown_symbol_rows, "symbols" => stats.unknown_symbols.join(","));
            }
            slog::info!(log, "market data loaded"; "file" => %g.data_path.display(), "ticks" => stats.ticks, "loop" => g.loop_replay);
            let finite = (!g.loop_replay).then_some(stats.ticks as u64);
            (Box::new(replay), finite)
        }
        MarketSource::RandomWalk => {
            slog::info!(log, "market data: random walk"; "seed" => g.walk_seed);
            (
                Box::new(RandomWalk::new(&cfg.symbols, g.walk_seed, g.send_time)),
                None,
            )
        }
    })
}

/// A finite replay is over: let every subscriber's writer deliver what is
/// queued (bounded by [`FLUSH_TIMEOUT`]) before the process closes, so a
/// finite run never loses its last ticks.
async fn deliver(end: FeedEnd, stream: &str, log: &slog::Logger) {
    let flushed = tokio::time::timeout(FLUSH_TIMEOUT, async {
        for w in end.writers {
            let _ = w.await;
        }
    })
    .await
    .is_ok();
    slog::info!(log, "replay delivered"; "stream" => stream,
        "frames" => end.frames, "dropped_subscribers" => end.dropped, "flushed" => flushed);
}

/// Hands every accepted connection to `feed`, at most `cap` at once.
async fn accept<A>(
    listener: TcpListener,
    feed: Addr<A>,
    cap: usize,
    what: &'static str,
    log: slog::Logger,
) where
    A: Actor<Context = actix::Context<A>> + Handler<Subscribe>,
{
    accept_loop(listener, cap, what, log, |a| {
        feed.do_send(Subscribe {
            stream: a.stream,
            peer: a.peer,
            slot: Some(a.slot),
        })
    })
    .await
}

/// Writes a random-walk market data CSV (`--generate-csv PATH --ticks N`).
pub fn write_random_walk_csv(config: &Config, path: &Path, ticks: u64) -> anyhow::Result<()> {
    // `--generate-csv data/x.csv` in a fresh folder (an installed binary's
    // first run) should not fail for want of `data/`.
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating the folder {}", folder.display()))?;
    }
    source::write_walk_csv(path, &config.symbols, config.gateway.walk_seed, ticks)?;
    eprintln!(
        "wrote {ticks} ticks of {} symbols to {}",
        config.symbols.len(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_resume;
