//! The probe's market data: a seeded random walk over five symbols, sent in
//! the three ways the benchmark needs (as fast as TCP takes it, at a steady
//! rate, one crossover tick at a time), each tick stamped as it leaves.
//!
//! The feed runs the strategy's own [`SignalEngine`] over what it sends, so
//! it knows which ticks must become orders: that is how the one-in-flight
//! mode knows what to wait for, and how a run can tell orders went missing.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::probe::{mono_ns, ProbeShared};
use crate::price::Price;
use crate::protocol::write_market_data;
use crate::protocol::{write_feed_control, FeedControl};
use crate::shm::PriceTableReader;
use crate::signals::{SignalEngine, SignalParams};
use crate::symbol::SymbolIndex;

/// The symbols of every benchmark run (the default configuration's).
pub const SYMBOLS: [&str; 5] = ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN"];
/// Strategy windows: short ones, so crossovers (and samples) are frequent.
pub const WINDOWS: (usize, usize) = (5, 20);
/// Frames per write when sending as fast as possible.
const BURST_FRAMES: u64 = 1024;
/// How long an expected order may take before one-in-flight gives up on it.
const ORDER_WAIT: Duration = Duration::from_secs(2);

/// The strategy parameters the children are configured with.
pub fn signal_params() -> SignalParams {
    SignalParams {
        short_window: WINDOWS.0,
        long_window: WINDOWS.1,
        bullish_threshold: 70,
        bearish_threshold: 30,
        use_news: false,
    }
}

/// The market data connection to the orderbook and what went over it.
pub struct Feed {
    stream: TcpStream,
    shared: Arc<ProbeShared>,
    rng: StdRng,
    prices: Vec<i64>,
    engine: SignalEngine,
    /// Ticks sent so far: also the next tick's ring sequence.
    pub seq: u64,
    /// Sequences of the ticks that must become orders.
    pub crossovers: Vec<u64>,
    buf: Vec<u8>,
}

impl Feed {
    /// A feed over the orderbook's connection.
    pub fn new(stream: TcpStream, shared: Arc<ProbeShared>) -> anyhow::Result<Feed> {
        Ok(Feed {
            stream,
            shared,
            rng: StdRng::seed_from_u64(9),
            prices: vec![100 * crate::price::PRICE_SCALE; SYMBOLS.len()],
            engine: SignalEngine::new(SYMBOLS.len(), &signal_params())?,
            seq: 0,
            crossovers: Vec::new(),
            buf: Vec::with_capacity(128 * 1024),
        })
    }

    /// The next tick's symbol and price, without rendering it; whether it
    /// will be a crossover is known once it is [`Feed::render`]ed.
    fn step(&mut self) -> (usize, i64) {
        let sym = self.rng.gen_range(0..SYMBOLS.len());
        let cents: i64 = self.rng.gen_range(-5..=5);
        let p = (self.prices[sym] + cents * 1_000_000).max(crate::price::PRICE_SCALE);
        self.prices[sym] = p;
        (sym, p)
    }

    /// Appends tick `self.seq` to the buffer and notes whether it is a crossover.
    fn render(&mut self, sym: usize, price: i64, send_unix_ns: i64) -> bool {
        let ts = Some("2024-01-02 09:30:00");
        write_market_data(
            &mut self.buf,
            SYMBOLS[sym],
            Price::from_units(price),
            ts,
            Some(send_unix_ns),
        );
        let cross = self
            .engine
            .on_tick(SymbolIndex::new(sym), price, self.seq)
            .is_some();
        if cross {
            self.crossovers.push(self.seq);
        }
        self.seq += 1;
        cross
    }

    /// Writes the buffer, stamping ticks `from..self.seq` as sent now.
    fn flush(&mut self, from: u64) -> anyhow::Result<()> {
        let at = mono_ns();
        for s in from..self.seq {
            if let Some(slot) = self.shared.sent.get(s as usize) {
                slot.store(at, Ordering::Release);
            }
        }
        self.stream.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Renders `n` ticks ahead, in writes of 1024 frames, so that sending
    /// them costs the probe nothing but the writes: at `rate = 0` the probe
    /// shares the CPUs with the pipeline and must not be what limits it.
    /// SEND_NS is the render time; the send times the probe keeps are the writes'.
    pub fn render_burst(&mut self, n: u64) -> Vec<(u64, Vec<u8>)> {
        let mut chunks = Vec::with_capacity((n / BURST_FRAMES + 1) as usize);
        let end = self.seq + n;
        while self.seq < end {
            let from = self.seq;
            let now = crate::clock::unix_now_ns();
            for _ in 0..BURST_FRAMES.min(end - self.seq) {
                let (sym, p) = self.step();
                self.render(sym, p, now);
            }
            chunks.push((from, std::mem::take(&mut self.buf)));
        }
        chunks
    }

    /// Sends what [`Feed::render_burst`] made, as fast as the socket takes it.
    pub fn burst(
        &mut self,
        chunks: Vec<(u64, Vec<u8>)>,
        progress: &dyn Fn(u64),
    ) -> anyhow::Result<()> {
        let count = chunks.len() as u64;
        for (i, (from, bytes)) in chunks.into_iter().enumerate() {
            let at = mono_ns();
            let frames = if i as u64 + 1 == count {
                self.seq - from
            } else {
                BURST_FRAMES
            };
            for s in from..from + frames {
                if let Some(slot) = self.shared.sent.get(s as usize) {
                    slot.store(at, Ordering::Release);
                }
            }
            self.stream.write_all(&bytes)?;
            if i % 256 == 255 {
                progress(from + frames);
            }
        }
        Ok(())
    }

    /// Sends `n` ticks at `rate` per second: each wake-up sends every tick
    /// due by then in one write, stamped with that write's time.
    pub fn steady(&mut self, n: u64, rate: u64, progress: &dyn Fn(u64)) -> anyhow::Result<()> {
        let start = Instant::now();
        let first = self.seq;
        let mut last_progress = Instant::now();
        while self.seq < first + n {
            let due =
                first + ((start.elapsed().as_nanos() as u64 * rate) / 1_000_000_000 + 1).min(n);
            if self.seq >= due {
                let next_at = Duration::from_nanos((self.seq - first) * 1_000_000_000 / rate);
                std::thread::sleep(next_at.saturating_sub(start.elapsed()));
                continue;
            }
            let from = self.seq;
            let now = crate::clock::unix_now_ns();
            while self.seq < due {
                let (sym, p) = self.step();
                self.render(sym, p, now);
            }
            self.flush(from)?;
            if last_progress.elapsed() >= Duration::from_secs(1) {
                progress(self.seq - first);
                last_progress = Instant::now();
            }
        }
        Ok(())
    }

    /// Takes `samples` latency samples with one tick in flight: the ticks
    /// before each crossover go first, the orderbook must have published
    /// them and the strategy had a moment to read them, then the crossover
    /// tick goes alone and its order is awaited before anything else is sent.
    pub fn one_in_flight(&mut self, samples: u64, table: &PriceTableReader) -> anyhow::Result<u64> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut a) = self.shared.arrivals.lock() {
            *a = Some(tx);
        }
        let mut got = 0;
        while got < samples {
            let (mut sym, mut p) = self.step();
            // Fillers: every tick until the next one that crosses.
            let from = self.seq;
            let now = crate::clock::unix_now_ns();
            while !self.would_cross(sym, p) {
                self.render(sym, p, now);
                (sym, p) = self.step();
            }
            self.flush(from)?;
            wait_published(table, self.seq)?;
            std::thread::sleep(super::floors::IDLE_GAP);
            let cross_seq = self.seq;
            self.render(sym, p, crate::clock::unix_now_ns());
            self.flush(cross_seq)?;
            match wait_arrival(&rx, cross_seq) {
                true => got += 1,
                false => bail!("no order for crossover tick {cross_seq} within {ORDER_WAIT:?}"),
            }
        }
        if let Ok(mut a) = self.shared.arrivals.lock() {
            *a = None;
        }
        Ok(got)
    }

    /// Whether tick (`sym`, `p`) would cross, without consuming it.
    fn would_cross(&self, sym: usize, p: i64) -> bool {
        let mut probe = self.engine.clone();
        probe.on_tick(SymbolIndex::new(sym), p, self.seq).is_some()
    }

    /// Ends the stream as our gateway ends a finite replay: `#END,T*` with
    /// the number of frames sent (without it the orderbook takes the end of
    /// stream for a cut feed and waits to resume), then end of stream.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let mut end = Vec::new();
        write_feed_control(&mut end, FeedControl::End(self.seq));
        self.stream.write_all(&end)?;
        self.stream.flush()?;
        self.stream.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    }
}

/// Waits until the table holds `n` ticks.
pub fn wait_published(table: &PriceTableReader, n: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while table.ticks_written() < n {
        if Instant::now() >= deadline {
            bail!(
                "the orderbook published {} of {n} ticks within 30 s",
                table.ticks_written()
            );
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

fn wait_arrival(rx: &mpsc::Receiver<u64>, seq: u64) -> bool {
    let deadline = Instant::now() + ORDER_WAIT;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(s) if s == seq => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}
