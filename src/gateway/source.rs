//! Where frames come from: a CSV replay, a random walk, and news.
//!
//! Each source appends whole frames to a batch buffer on demand
//! ([`FrameSource::next_frame`]); nothing allocates per frame. The replay
//! renders `SYMBOL,PRICE,TIMESTAMP` of every row once at start-up and only
//! appends the send time when it sends.
//!
//! CSV rules (columns `timestamp,symbol,price` by name, any order, as the
//! original's `data/market_data-1.csv`): a UTF-8 BOM is accepted; a missing
//! column, an unparsable timestamp or price, or a file with no ticks is a
//! start-up error naming the file and line; a row whose symbol is not in
//! `symbols` is skipped and counted (a data file may hold more instruments
//! than a run trades).

use std::path::Path;

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::unix_now_ns;
use crate::price::Price;
use crate::protocol::{
    finish_market_data, parse_event_time, write_event_time, write_market_data_prefix, write_news,
};

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
}

/// A CSV file rendered into frames, replayed once or forever.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Every row's `SYMBOL,PRICE,TIMESTAMP`, back to back.
    text: Vec<u8>,
    /// End offset of each row's text in `text`.
    ends: Vec<usize>,
    /// Next row to send.
    next: usize,
    /// Start again after the last row.
    looping: bool,
    /// Append SEND_NS.
    send_time: bool,
}

/// What loading a CSV found, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Rows that became frames.
    pub ticks: usize,
    /// Rows skipped because their symbol is not configured.
    pub unknown_symbol_rows: usize,
    /// The first few unknown symbols, for the log.
    pub unknown_symbols: Vec<String>,
}

impl Replay {
    /// Loads and validates `path` for `symbols`.
    pub fn load(
        path: &Path,
        symbols: &[String],
        looping: bool,
        send_time: bool,
    ) -> anyhow::Result<(Replay, ReplayStats)> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("opening market data {}", path.display()))?;
        Replay::from_reader(
            file,
            &path.display().to_string(),
            symbols,
            looping,
            send_time,
        )
    }

    /// Like [`Replay::load`] from any reader; `name` is used in errors.
    pub fn from_reader(
        input: impl std::io::Read,
        name: &str,
        symbols: &[String],
        looping: bool,
        send_time: bool,
    ) -> anyhow::Result<(Replay, ReplayStats)> {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = rdr
            .headers()
            .with_context(|| format!("{name}: reading the header"))?
            .clone();
        let column = |want: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == want)
                .with_context(|| format!("{name}: no `{want}` column (the header must name timestamp, symbol and price)"))
        };
        let (ts_col, sym_col, price_col) =
            (column("timestamp")?, column("symbol")?, column("price")?);
        let mut replay = Replay {
            text: Vec::new(),
            ends: Vec::new(),
            next: 0,
            looping,
            send_time,
        };
        let mut stats = ReplayStats {
            ticks: 0,
            unknown_symbol_rows: 0,
            unknown_symbols: Vec::new(),
        };
        for row in rdr.records() {
            let row = row.with_context(|| format!("{name}: unreadable row"))?;
            let line = row.position().map_or(0, |p| p.line());
            let field = |i: usize, what: &str| {
                row.get(i)
                    .with_context(|| format!("{name}:{line}: the row has no {what}"))
            };
            let (ts, sym, price) = (
                field(ts_col, "timestamp")?,
                field(sym_col, "symbol")?,
                field(price_col, "price")?,
            );
            if parse_event_time(ts).is_none() {
                bail!(
                    "{name}:{line}: timestamp {ts:?} is not YYYY-MM-DD HH:MM:SS[.fff] \
                     from 1970-01-01 up to 2200-01-01"
                );
            }
            let price = match Price::parse(price) {
                Ok(p) if p.units() > 0 => p,
                _ => bail!("{name}:{line}: price {price:?} is not a decimal greater than zero"),
            };
            if !symbols.iter().any(|s| s == sym) {
                stats.unknown_symbol_rows += 1;
                if stats.unknown_symbols.len() < 5
                    && !stats.unknown_symbols.iter().any(|s| s == sym)
                {
                    stats.unknown_symbols.push(sym.to_string());
                }
                continue;
            }
            write_market_data_prefix(&mut replay.text, sym, price, ts);
            replay.ends.push(replay.text.len());
        }
        stats.ticks = replay.ends.len();
        if stats.ticks == 0 {
            bail!(
                "{name}: no ticks to replay ({} rows skipped for symbols not in `symbols`)",
                stats.unknown_symbol_rows
            );
        }
        Ok((replay, stats))
    }

    /// Rows per pass.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Never true for a loaded replay (loading rejects files without ticks).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        if self.next == self.ends.len() {
            if !self.looping {
                return false;
            }
            self.next = 0;
        }
        let start = if self.next == 0 {
            0
        } else {
            self.ends[self.next - 1]
        };
        out.extend_from_slice(&self.text[start..self.ends[self.next]]);
        finish_market_data(out, self.send_time.then(unix_now_ns));
        self.next += 1;
        true
    }

    /// A replay is an array of rows: frame `p` is row `p mod len`, with no
    /// replaying needed.
    fn seek(&mut self, position: u64) -> bool {
        let len = self.ends.len() as u64;
        let row = match (self.looping, len) {
            (_, 0) => return position == 0,
            (true, _) => position % len,
            (false, _) if position <= len => position,
            (false, _) => return false,
        };
        self.next = row as usize;
        true
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
