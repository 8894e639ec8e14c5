//! Measurements, not tests: a well-behaved client's ACK latency quiet
//! and under each attack, and the ordermanager's recovery time and peak
//! memory on a million-record journal, printed. Ignored by default (timing
//! belongs in a report, never in an assertion); run them with
//!
//! ```text
//! cargo test --release --test measure -- --ignored --nocapture
//! cargo test --release --test measure -- --ignored --nocapture recovery
//! ```
//!
//! `MEASURE_BINARY=path` runs either measurement on another build (the one
//! before a change, say), for an A/B in the same conditions.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::history::*;
use common::*;

/// Orders of the well-behaved client per phase and round.
const ORDERS: usize = 400;

/// Rounds of quiet, never-reading and garbage phases, interleaved: the
/// disk's own slow spells (this VM's fdatasync tail drifts over seconds)
/// then fall on every phase alike instead of on whichever ran during them.
/// Each phase starts after a `sync`, so no phase pays for the writeback of
/// the one before (an attack's journal and log are its own cost). Twice
/// through every order of the three phases, so that what remains of one
/// phase's effect on the next (see [`COOL_DOWN`]) falls on every phase alike.
const ROUNDS: usize = 12;

/// The six orders of the phases (0 quiet, 1 never-reading, 2 garbage).
const ORDERS_OF_PHASES: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Before a phase: every dirty page of the machine written back, then
/// [`COOL_DOWN`] idle, so that no phase starts warmed by the one before.
fn settle() {
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(COOL_DOWN);
}

/// Idle time before each phase. On this VM a client's round trip right
/// after a busy spell is faster than after an idle one (the host keeps a
/// busy vCPU awake), so without it a quiet phase that follows an attack
/// measures faster than a quiet machine, and the attack that warmed it
/// looks worse against it.
const COOL_DOWN: Duration = Duration::from_millis(500);

/// Longest a phase probes (a debug build under attack is slow).
const PHASE_LIMIT: Duration = Duration::from_secs(20);

/// Orders the probe sends before it measures: on this VM the first few
/// dozen round trips after an idle spell (a cool-down, a new connection)
/// are several times slower, which would put a cold start, not the
/// phase, into every phase's tail.
const WARM_UP: usize = 100;

/// `ORDERS` orders one at a time, after [`WARM_UP`] unmeasured ones: the
/// ACK round trip of each.
fn probe(addr: SocketAddr, phase: &str) -> Vec<Duration> {
    let mut c = connect_as(addr, &format!("good{phase}"), b"");
    let mut lat = Vec::with_capacity(ORDERS);
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + PHASE_LIMIT;
    for i in 0..WARM_UP + ORDERS {
        if Instant::now() > deadline {
            break;
        }
        let side = if i % 2 == 0 { "BUY" } else { "SELL" };
        let order = format!("1,{side},1,AAPL,100,{phase}{i}*");
        let t = Instant::now();
        c.write_all(order.as_bytes()).unwrap();
        let mut got = 0;
        while !buf[..got].contains(&b'*') {
            got += c.read(&mut buf[got..]).unwrap();
        }
        if i >= WARM_UP {
            lat.push(t.elapsed());
        }
    }
    lat
}

/// (p50, p99, max) of the pooled samples.
fn percentiles(mut lat: Vec<Duration>) -> (Duration, Duration, Duration) {
    lat.sort();
    let n = lat.len();
    (lat[n / 2], lat[n * 99 / 100], lat[n - 1])
}

/// Runs `attack` in a loop on its own thread until the probe is done.
/// `attack` gets a tag unique to the phase and connection, so that the
/// orders it sends are new ones (journaled), never resends of a former
/// phase's (answered from the seen window, which costs no disk).
fn under(addr: SocketAddr, phase: &str, attack: fn(SocketAddr, &str)) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let tag = phase.to_string();
    let attacker = std::thread::spawn(move || {
        let mut round = 0;
        while !flag.load(Ordering::Relaxed) {
            attack(addr, &format!("{tag}{round}"));
            round += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = probe(addr, phase);
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    r
}

/// A client that sends orders and never reads its answers.
fn never_reads(addr: SocketAddr, tag: &str) {
    let mut c = connect_as(addr, "deaf", b"");
    c.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0u64;
    while Instant::now() < deadline {
        // New ids every time: each is a journaled order, as in the report.
        let chunk: String = (0..500)
            .map(|i| format!("1,BUY,1,MSFT,100,{tag}x{}*", n + i))
            .collect();
        n += 500;
        if c.write_all(chunk.as_bytes()).is_err() {
            return;
        }
    }
}

/// A client that sends 100k `x*` frames.
fn garbage(addr: SocketAddr, _: &str) {
    let mut c = connect_as(addr, "junk", b"");
    let _ = c.write_all("x*".repeat(100_000).as_bytes());
    let _ = read_to_close(&mut c);
}

#[test]
#[ignore = "a measurement: run by hand with --release --ignored --nocapture"]
fn ack_latency_of_a_well_behaved_client_under_attack() {
    let dir = TestDir::new();
    let shm = ShmName::new("measure");
    let config = dir.config(&shm, "");
    let mut env = auth_env();
    env.push(("TRADING__ORDERMANAGER__PORT", "0".into()));
    env.push(("TRADING__LOGS__LEVEL", "info".into()));
    env.push(("TRADING__ORDERMANAGER__MAX_POSITION", "1000000000".into()));
    env.push(("TRADING__ORDERMANAGER__MAX_ORDER_NOTIONAL", "0".into()));
    let (mut om, program) = spawn_measured(&dir, &config, &env);
    let addr = Proc::endpoint(&om.ready(), "orders");
    println!("binary {program}");
    // Per phase: the probe's samples, and the ordermanager's CPU seconds
    // and the wall-clock seconds the phase took (what the attack cost it).
    let pid = om.child.id();
    let mut phases: [(Vec<Duration>, f64, f64); 3] = Default::default();
    for round in 0..ROUNDS {
        for i in ORDERS_OF_PHASES[round % ORDERS_OF_PHASES.len()] {
            let phase = &mut phases[i];
            settle();
            let (cpu, t) = (cpu_seconds(pid), Instant::now());
            phase.0.extend(match i {
                0 => probe(addr, &format!("q{round}-")),
                1 => under(addr, &format!("deaf{round}-"), never_reads),
                _ => under(addr, &format!("junk{round}-"), garbage),
            });
            phase.1 += cpu_seconds(pid) - cpu;
            phase.2 += t.elapsed().as_secs_f64();
        }
    }
    println!("{ROUNDS} rounds of quiet, never-reading and garbage phases; samples per phase: {} / {} / {}",
        phases[0].0.len(), phases[1].0.len(), phases[2].0.len());
    let [quiet, deaf, junk] = phases;
    let quiet_p99 = percentiles(quiet.0.clone()).1;
    for (what, (lat, cpu, wall)) in [
        ("quiet", quiet),
        ("a client that never reads", deaf),
        ("a 100k-frame garbage flood", junk),
    ] {
        let (p50, p99, max) = percentiles(lat);
        println!(
            "{what:<28} p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}  p99/quiet {:.2}  ordermanager CPU {:>3.0}%",
            p50,
            p99,
            max,
            p99.as_secs_f64() / quiet_p99.as_secs_f64(),
            100.0 * cpu / wall
        );
    }
    let rss = std::fs::read_to_string(format!("/proc/{}/status", om.child.id()))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    println!("ordermanager peak RSS: {rss}");
    om.terminate();
    om.wait();
    let log = dir.read("logs/order_manager.log");
    let journal = std::fs::metadata(dir.path().join("data/orders.journal")).map_or(0, |m| m.len());
    println!(
        "journal {} records, {journal} bytes; log {} bytes; final: {}",
        dir.journal().len(),
        log.len(),
        log.lines()
            .find(|l| l.contains("final counts"))
            .unwrap_or("")
    );
    println!(
        "log lines by message, most first: {:?}",
        lines_by_message(&log)
    );
}

/// The five commonest messages of a log and their line counts: what an
/// attack made the ordermanager write.
fn lines_by_message(log: &str) -> Vec<(String, usize)> {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for line in log.lines() {
        // `Mon DD HH:MM:SS.mmm LEVEL message, key: value, ...`
        let message = line.splitn(5, ' ').nth(4).unwrap_or(line);
        let message = message.split(',').next().unwrap_or(message);
        *counts.entry(message.to_string()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.truncate(5);
    counts
}

/// The ordermanager on `config`: this build's, or with `MEASURE_BINARY=path`
/// another build's (e.g. the one before a change), measured in the same
/// conditions for an A/B on a shared machine. Returns the program too.
fn spawn_measured(dir: &TestDir, config: &Path, env: &[(&str, String)]) -> (Proc, String) {
    let program = std::env::var("MEASURE_BINARY").unwrap_or_else(|_| binary().to_string());
    let cfg = config.to_str().unwrap();
    let args: Vec<&str> = "--role ordermanager --exit-with-parent --config"
        .split(' ')
        .chain([cfg])
        .collect();
    (spawn_program(dir, &program, &args, env), program)
}

/// Records of the journal [`recovery_of_a_million_records`] restarts on.
const HISTORY_RECORDS: u64 = 1_000_000;

/// Peak resident memory (`VmHWM`) of process `pid`, as /proc prints it.
fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map_or("VmHWM: ?".into(), |l| {
            l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
        })
}

/// CPU seconds (user + system) process `pid` used so far: unlike the
/// wall-clock time, about the same on a busy machine.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // /proc counts in USER_HZ, 100 a second on Linux whatever the kernel's HZ.
    ticks as f64 / 100.0
}

/// The ordermanager started on a journal of [`HISTORY_RECORDS`] orders of
/// one strategy: time from spawn to READY (the recovery) and peak RSS.
/// `MEASURE_BINARY=path` measures another build of the binary (e.g. the
/// one before a change) on the same journal.
#[test]
#[ignore = "a measurement: run by hand with --release --ignored --nocapture"]
fn recovery_of_a_million_records() {
    let dir = TestDir::new();
    let shm = ShmName::new("measure_rec");
    let config = dir.config(&shm, "");
    let journal = dir.path().join("data/orders.journal");
    write_history(&journal, "strat1", HISTORY_RECORDS);
    let bytes = std::fs::metadata(&journal).unwrap().len();
    let mut env = auth_env();
    env.push(("TRADING__ORDERMANAGER__PORT", "0".into()));
    env.push(("TRADING__LOGS__LEVEL", "info".into()));
    let started = Instant::now();
    let (mut om, program) = spawn_measured(&dir, &config, &env);
    let addr = Proc::endpoint(&om.ready(), "orders");
    let recovery = started.elapsed();
    let rss = peak_rss(om.child.id());
    let cpu = cpu_seconds(om.child.id());
    // The last order resent: recovered exactly, answered without a second execution.
    let last = history_frame("strat1", HISTORY_RECORDS);
    let mut c = connect_as(addr, "strat1", last.as_bytes());
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    while !answer.contains(&b'*') {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    om.terminate();
    om.wait();
    println!("binary {program}");
    println!(
        "recovery of {HISTORY_RECORDS} records ({bytes} bytes): {:.2} s to READY ({cpu:.2} s of CPU), peak RSS {rss}; resend of the last id: {answer}",
        recovery.as_secs_f64()
    );
    assert_eq!(
        answer,
        format!("ACK,{}*", history_id("strat1", HISTORY_RECORDS))
    );
}
