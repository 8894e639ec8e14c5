//! The machine's floors: what the same kind of sockets and processes cost
//! with nothing of the trading stack in between, measured in the same run so
//! every pipeline figure can be put next to one.
//!
//! * loopback TCP round trip of a 64-byte message between this process and
//!   an echo child (blocking sockets, `TCP_NODELAY`), back to back and after
//!   [`IDLE_GAP`] of idle (what every one-in-flight sample meets: CPUs
//!   that went to sleep, whose wake-up the back-to-back figure never pays);
//! * single-reader TCP read + frame split + parse of market data frames,
//!   written by a child as fast as it can (the orderbook's work, minus the
//!   table);
//! * one journal-sized durable write in the scratch directory, made the
//!   way the journal makes its commits (in place over zeros written ahead,
//!   through an `O_DSYNC` descriptor): what an ACK must wait for, taken
//!   next to the scenario it is the floor of.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use super::children::{last_cpu, ChildProc};
use super::{new_hist, HelperMode};
use crate::price::Price;
use crate::protocol::{parse_market_data, write_market_data, FrameSplitter};

/// Bytes of one round-trip message: about one market data frame.
const RTT_MESSAGE: usize = 64;
/// Round trips before measuring, to settle caches and the scheduler.
const RTT_WARMUP: usize = 1000;
/// The pause before each sample of the one-tick-in-flight scenario, and so
/// before each idle round trip of its floor.
pub const IDLE_GAP: Duration = Duration::from_millis(2);

/// `(bench process, helper child)` CPUs, sampled while they ping-pong.
type CpuPairs = Vec<(u32, u32)>;

/// The floors of this run.
pub struct Floors {
    /// Loopback TCP round trip between two processes, ns.
    pub rtt: Histogram<u64>,
    /// The same round trip, each after [`IDLE_GAP`] of idle, ns: the floor
    /// of a pipeline that is idle when its tick comes.
    pub rtt_idle: Histogram<u64>,
    /// The CPUs the two processes were last seen on, sampled during the run:
    /// `(parent, child)` pairs, so the report can say whether they shared one.
    pub rtt_cpus: Vec<(u32, u32)>,
    /// Market data frames read, split and parsed per second by one reader.
    pub parse_frames_per_s: f64,
    /// Frames that throughput was measured over.
    pub parse_frames: u64,
    /// One journal-sized durable write, as the journal commits, ns.
    pub fsync: Histogram<u64>,
}

/// Accepts one connection on `listener`, failing after `timeout` instead of
/// blocking forever on a child that never connects.
pub fn accept_within(listener: &TcpListener, timeout: Duration) -> anyhow::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("no connection within {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs a helper child: `echo` answers every 64-byte message with itself,
/// `blast` writes `frames` market data frames as fast as the socket takes them.
pub fn run_helper(mode: HelperMode, addr: SocketAddr, frames: u64) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)?;
    match mode {
        HelperMode::Echo => {
            let mut buf = [0u8; RTT_MESSAGE];
            while s.read_exact(&mut buf).is_ok() {
                s.write_all(&buf)?;
            }
        }
        HelperMode::Blast => {
            let (chunk, per_chunk) = blast_chunk();
            let mut sent = 0;
            while sent < frames {
                s.write_all(&chunk)?;
                sent += per_chunk;
            }
        }
    }
    Ok(())
}

/// About 64 KiB of realistic four-field frames (five symbols, moving prices,
/// a SEND_NS), rendered once: the writer's cost must not be the floor.
fn blast_chunk() -> (Vec<u8>, u64) {
    let symbols = ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN"];
    let mut out = Vec::with_capacity(70 * 1024);
    let mut n = 0u64;
    let now = crate::clock::unix_now_ns();
    while out.len() < 64 * 1024 {
        let sym = symbols[(n % 5) as usize];
        let price = Price::from_units(17_253_000_000 + (n as i64 % 97) * 1_000_000);
        write_market_data(
            &mut out,
            sym,
            price,
            Some("2024-01-02 09:30:00"),
            Some(now + n as i64),
        );
        n += 1;
    }
    (out, n)
}

/// Measures every floor; `quick` takes fewer samples.
pub fn measure(work: &Path, quick: bool, progress: &dyn Fn(&str)) -> anyhow::Result<Floors> {
    progress("floor: loopback TCP round trip between two processes");
    let (round_trips, idle_trips) = if quick { (2_000, 100) } else { (50_000, 1_000) };
    let (rtt, rtt_idle, rtt_cpus) = measure_rtt(work, round_trips, idle_trips)?;
    progress("floor: single-reader TCP read + parse of market data frames");
    let parse_frames = if quick { 500_000 } else { 10_000_000 };
    let parse_frames_per_s = measure_read_parse(work, parse_frames)?;
    Ok(Floors {
        rtt,
        rtt_idle,
        rtt_cpus,
        parse_frames_per_s,
        parse_frames,
        fsync: new_hist(),
    })
}

fn spawn_helper(
    work: &Path,
    mode: &str,
    addr: SocketAddr,
    frames: u64,
) -> anyhow::Result<ChildProc> {
    let addr = addr.to_string();
    let frames = frames.to_string();
    let args = ["bench-helper", mode, "--addr", &addr, "--frames", &frames];
    ChildProc::spawn(&format!("{mode} helper"), work, &args, &[])
}

/// `round_trips` back to back, then `idle_trips` each after [`IDLE_GAP`].
fn measure_rtt(
    work: &Path,
    round_trips: usize,
    idle_trips: usize,
) -> anyhow::Result<(Histogram<u64>, Histogram<u64>, CpuPairs)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let child = spawn_helper(work, "echo", listener.local_addr()?, 0)?;
    let mut s = accept_within(&listener, Duration::from_secs(10)).context("echo helper")?;
    let msg = [b'x'; RTT_MESSAGE];
    let mut back = [0u8; RTT_MESSAGE];
    let mut hist = new_hist();
    let mut idle = new_hist();
    let mut cpus = Vec::new();
    let mut round_trip = || -> anyhow::Result<u64> {
        let t0 = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        Ok((t0.elapsed().as_nanos() as u64).max(1))
    };
    for i in 0..RTT_WARMUP + round_trips {
        let ns = round_trip()?;
        if i >= RTT_WARMUP {
            hist.record(ns)?;
        }
        if i % 1000 == 999 {
            if let (Some(a), Some(b)) = (last_cpu(std::process::id()), last_cpu(child.pid())) {
                cpus.push((a, b));
            }
        }
    }
    for _ in 0..idle_trips {
        std::thread::sleep(IDLE_GAP);
        idle.record(round_trip()?)?;
    }
    drop(s);
    Ok((hist, idle, cpus))
}

fn measure_read_parse(work: &Path, frames: u64) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let _child = spawn_helper(work, "blast", listener.local_addr()?, frames)?;
    let mut s = accept_within(&listener, Duration::from_secs(10)).context("blast helper")?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut splitter = FrameSplitter::new(crate::protocol::DEFAULT_MAX_FRAME);
    let mut buf = vec![0u8; crate::protocol::frame::READ_CHUNK];
    let (mut parsed, mut bad) = (0u64, 0u64);
    let mut started: Option<Instant> = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        started.get_or_insert_with(Instant::now);
        splitter.push(&buf[..n]);
        let (batch, err) = splitter.take_batch();
        for frame in batch.iter() {
            match parse_market_data(frame) {
                Ok(md) => parsed += u64::from(md.price.units() > 0),
                Err(_) => bad += 1,
            }
        }
        if let Some(e) = err {
            bail!("blast stream unframeable: {e}");
        }
    }
    let secs = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    if bad > 0 || parsed < frames || secs <= 0.0 {
        bail!("read+parse floor: {parsed} frames parsed, {bad} bad, of {frames}");
    }
    Ok(parsed as f64 / secs)
}

/// Writes a journal-sized record durably `n` times in `work`, as the
/// journal commits: over zeros reserved ahead, through `O_DSYNC`.
///
/// Taken right before the tick → ACK scenario rather than with the other
/// floors: a shared disk's flush time drifts within a minute, and the
/// ratio should compare like with like.
pub fn measure_fsync(work: &Path, n: usize) -> anyhow::Result<Histogram<u64>> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let path = work.join("fsync-floor.journal");
    let record = [b'j'; 200];
    let mut reserve = std::fs::File::create(&path)?;
    reserve.write_all(&vec![0u8; n * record.len()])?;
    reserve.sync_all()?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(&path)?;
    let mut hist = new_hist();
    for i in 0..n {
        let t0 = Instant::now();
        f.write_all_at(&record, (i * record.len()) as u64)?;
        hist.record((t0.elapsed().as_nanos() as u64).max(1))?;
    }
    drop(f);
    let _ = std::fs::remove_file(path);
    Ok(hist)
}
