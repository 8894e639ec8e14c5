//! Where frames come from: a CSV replay, a random walk, and news.
//!
//! Each source appends whole frames to a batch buffer on demand
//! ([`FrameSource::next_frame`]); nothing allocates per frame. The replay
//! streams its CSV (see [`Replay`]): memory does not grow with the file.

use std::path::Path;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::unix_now_ns;
use crate::price::Price;
use crate::protocol::{
    finish_market_data, write_event_time, write_feed_control, write_news, FeedControl,
};

mod replay;

pub use replay::{Replay, ReplayStats};

/// A generator of frames for one stream.
pub trait FrameSource {
    /// Appends the next whole frame to `out`; `false` once a finite source is exhausted.
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool;

    /// Makes frame `position` (counted from 0 since the source was made)
    /// the next one, so a subscriber that reconnects, or a restarted
    /// gateway, continues exactly where the subscriber stopped instead of
    /// starting the market again. `false` when the source cannot (news is
    /// not a replayable stream) or `position` is past a finite source's end.
    fn seek(&mut self, position: u64) -> bool {
        let _ = position;
        false
    }

    /// Why a finite stream ended before its end, for the log: a replayed
    /// file that became unreadable or shorter after it was loaded. `None`
    /// for a stream that ended normally (or never ends).
    fn failure(&self) -> Option<&str> {
        None
    }
}

/// An endless, reproducible random walk over the configured symbols.
///
/// Symbols take turns; each step moves a price by a few cents with a slow
/// pull back toward where it started, so runs are wavy (frequent crossovers)
/// but never drift to zero.
#[derive(Debug, Clone)]
pub struct RandomWalk {
    /// Symbols in turn order.
    symbols: Vec<String>,
    /// Current price of each, in 1e-8 units (whole cents).
    prices: Vec<i64>,
    /// Starting price of each: the walk leans back toward it.
    anchors: Vec<i64>,
    /// Seeded generator.
    rng: StdRng,
    /// Event time of the next tick.
    event_ns: i64,
    /// Ticks produced.
    count: u64,
    /// Append SEND_NS.
    send_time: bool,
    /// The seed, to walk again from the start when seeking backwards.
    seed: u64,
}

/// One cent in price units.
const CENT: i64 = 1_000_000;
/// Event time of the first generated tick: 2024-01-02 09:30:00 UTC.
const WALK_START_NS: i64 = 1_704_187_800_000_000_000;
/// Event time between generated ticks.
const WALK_STEP_NS: i64 = 100_000_000;

impl RandomWalk {
    /// A walk over `symbols` from `seed`.
    pub fn new(symbols: &[String], seed: u64, send_time: bool) -> RandomWalk {
        let anchors: Vec<i64> = (0..symbols.len())
            .map(|i| (100 + 50 * i as i64) * 100 * CENT)
            .collect();
        RandomWalk {
            symbols: symbols.to_vec(),
            prices: anchors.clone(),
            anchors,
            rng: StdRng::seed_from_u64(seed),
            event_ns: WALK_START_NS,
            count: 0,
            send_time,
            seed,
        }
    }

    /// The next tick: (symbol index, price, event time ns).
    pub fn step(&mut self) -> (usize, Price, i64) {
        let i = (self.count % self.symbols.len() as u64) as usize;
        self.count += 1;
        let p = self.prices[i];
        // Steps of up to ±5 cents, leaning 1 cent toward the anchor when far away.
        let mut step = self.rng.gen_range(-5..=5) * CENT;
        let drift = self.anchors[i] - p;
        if drift.abs() > self.anchors[i] / 20 {
            step += drift.signum() * CENT;
        }
        let next = (p + step).max(CENT);
        self.prices[i] = next;
        let t = self.event_ns;
        self.event_ns += WALK_STEP_NS;
        (i, Price::from_units(next), t)
    }
}

impl FrameSource for RandomWalk {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        let (i, price, t) = self.step();
        out.extend_from_slice(self.symbols[i].as_bytes());
        out.push(b',');
        price.write_to(out);
        out.push(b',');
        write_event_time(out, t);
        finish_market_data(out, self.send_time.then(unix_now_ns));
        true
    }

    /// The walk is a pure function of its seed: seeking walks (without
    /// formatting anything) from here, or from the start when `position`
    /// lies behind, so the prices and event times continue exactly.
    fn seek(&mut self, position: u64) -> bool {
        if position < self.count {
            *self = RandomWalk::new(&self.symbols, self.seed, self.send_time);
        }
        while self.count < position {
            self.step();
        }
        true
    }
}

/// Random sentiment for random symbols, as the original gateway sends.
#[derive(Debug, Clone)]
pub struct NewsSource {
    /// Symbols drawn uniformly.
    symbols: Vec<String>,
    /// Seeded generator.
    rng: StdRng,
}

impl NewsSource {
    /// News over `symbols` from `seed`.
    pub fn new(symbols: &[String], seed: u64) -> NewsSource {
        NewsSource {
            symbols: symbols.to_vec(),
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl FrameSource for NewsSource {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        let i = self.rng.gen_range(0..self.symbols.len());
        let sentiment = self.rng.gen_range(0..=100u8);
        write_news(out, &self.symbols[i], sentiment, None);
        true
    }
}

/// The news of a finite replay, paced by its ticks instead of the clock.
///
/// Item `k` (from 1) is the `k`-th draw of [`NewsSource`], sent as
/// `#TICK,N*` then the news frame, with `N = k × every`: it belongs just
/// before market data tick `N`. The stream ends with `#END,K*` (K items)
/// once the next item would fall at or after the replay's last tick. The
/// strategy applies each item when its ring reaches that tick, so a replay
/// gives the same orders every time, however fast either stream arrives.
#[derive(Debug, Clone)]
pub struct TickPacedNews {
    news: NewsSource,
    /// Ticks between two items.
    every: u64,
    /// Ticks in the replay: no item at or after this one.
    ticks: u64,
    /// Items written so far.
    items: u64,
    /// `#END` written: the stream is exhausted.
    ended: bool,
}

impl TickPacedNews {
    /// One item every `every` (≥ 1) ticks of a `ticks`-tick replay.
    pub fn new(news: NewsSource, every: u64, ticks: u64) -> TickPacedNews {
        TickPacedNews {
            news,
            every: every.max(1),
            ticks,
            items: 0,
            ended: false,
        }
    }
}

impl FrameSource for TickPacedNews {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        if self.ended {
            return false;
        }
        let at = (self.items + 1).saturating_mul(self.every);
        if at >= self.ticks {
            write_feed_control(out, FeedControl::End(self.items));
            self.ended = true;
            return true;
        }
        write_feed_control(out, FeedControl::Tick(at));
        self.news.next_frame(out);
        self.items += 1;
        true
    }
}

/// Writes `ticks` rows of the random walk as a CSV (`timestamp,symbol,price`).
pub fn write_walk_csv(
    path: &Path,
    symbols: &[String],
    seed: u64,
    ticks: u64,
) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    w.write_record(["timestamp", "symbol", "price"])?;
    let mut walk = RandomWalk::new(symbols, seed, false);
    let mut ts = Vec::with_capacity(32);
    for _ in 0..ticks {
        let (i, price, t) = walk.step();
        ts.clear();
        write_event_time(&mut ts, t);
        let ts = std::str::from_utf8(&ts).context("event time text")?;
        w.write_record([ts, &walk.symbols[i], &price.to_string()])?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
