//! The price table across real processes: one writer process, several slot
//! readers and a ring reader, each a re-execution of this test binary.
//!
//! The parent test spawns the writer, waits until it created the table,
//! spawns the readers, waits until each attached, then lets the writer go,
//! so reads overlap writes. Every tick's price and times form a checkable
//! pattern (event = price·7 + 3, …), so a torn read cannot go unnoticed.
//! Children report on stdout lines prefixed `SHMTEST ` and by exit status;
//! everything is bounded by a deadline, after which children are killed.
//! The segment is unlinked whatever happens.

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use trading::shm::{unlink_segment, PriceTable, PriceTableReader, RingRead};
use trading::symbol::SymbolIndex;

const ROLE: &str = "TRADING_SHM_MP_ROLE";
const NAME: &str = "TRADING_SHM_MP_NAME";
const COUNT: &str = "TRADING_SHM_MP_COUNT";
const CAPACITY: &str = "TRADING_SHM_MP_CAPACITY";
const SLOW: &str = "TRADING_SHM_MP_SLOW";
const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "GOOG", "AMZN"];
const TIMEOUT: Duration = Duration::from_secs(120);
const BATCH: u64 = 64;
const PRICE_BASE: i64 = 1_000_000;

fn symbols() -> Vec<String> {
    SYMBOLS.iter().map(|s| s.to_string()).collect()
}

/// Tick `seq`'s slot and fields: (idx, price, event, send, write).
fn expected(seq: u64) -> (usize, i64, i64, i64, i64) {
    let p = PRICE_BASE + seq as i64;
    ((seq % 4) as usize, p, p * 7 + 3, p * 11, p * 13)
}

fn env_u64(key: &str) -> u64 {
    env::var(key).unwrap().parse().unwrap()
}

/// The child entry point: does nothing unless started by a parent test.
#[test]
fn mp_child() {
    let Ok(role) = env::var(ROLE) else { return };
    let name = env::var(NAME).unwrap();
    let n = env_u64(COUNT);
    let report = match role.as_str() {
        "writer" => run_writer(&name, n),
        "slots" => run_slot_reader(&name, n),
        "ring" => run_ring_reader(&name, n),
        other => panic!("unknown role {other}"),
    };
    println!("SHMTEST OK {report}");
}

fn run_writer(name: &str, n: u64) -> String {
    let mut table = PriceTable::create(name, &symbols(), env_u64(CAPACITY) as usize).unwrap();
    println!("SHMTEST CREATED");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "GO");
    for seq in 0..n {
        let (idx, p, event, send, write) = expected(seq);
        assert_eq!(
            table.publish(SymbolIndex::new(idx), p, event, send, write),
            seq
        );
        if (seq + 1) % BATCH == 0 {
            table.heartbeat(trading::clock::unix_now_ns());
            table.notify_readers();
            // Pace the writer a little so readers on a busy machine overlap
            // many writes instead of arriving after the last one.
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    table.mark_feed_ended();
    table.notify_readers();
    format!("published={}", table.ticks_written())
}

fn attach(name: &str) -> PriceTableReader {
    let reader = PriceTableReader::attach_expecting(name, &symbols()).unwrap();
    println!("SHMTEST ATTACHED");
    reader
}

fn run_slot_reader(name: &str, n: u64) -> String {
    let reader = attach(name);
    let mut last = [0u64; 4];
    let mut reads = 0u64;
    loop {
        let ended = reader.feed_ended();
        for (idx, last) in last.iter_mut().enumerate() {
            let q = reader.read(SymbolIndex::new(idx));
            reads += 1;
            assert!(
                q.updates >= *last,
                "slot {idx}: updates went back from {last} to {}",
                q.updates
            );
            *last = q.updates;
            if q.updates == 0 {
                continue;
            }
            let seq = (q.price_units - PRICE_BASE) as u64;
            let (want_idx, p, event, send, write) = expected(seq);
            assert_eq!(want_idx, idx, "slot {idx} holds tick {seq} of another slot");
            assert_eq!(
                (q.event_ns, q.send_ns, q.write_ns),
                (event, send, write),
                "torn {q:?}"
            );
            assert_eq!(q.price_units, p);
            assert_eq!(
                q.updates,
                seq / 4 + 1,
                "slot {idx}: update count of tick {seq}"
            );
        }
        if ended {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(reader.ticks_written(), n);
    assert_eq!(last.iter().sum::<u64>(), n);
    format!("reads={reads}")
}

fn run_ring_reader(name: &str, n: u64) -> String {
    let slow = env::var(SLOW).is_ok();
    let reader = attach(name);
    let mut cursor = reader.cursor_from_oldest();
    assert_eq!(cursor.next_seq(), 0);
    let (mut seen, mut lost) = (0u64, 0u64);
    loop {
        let before = cursor.next_seq();
        match reader.ring_next(&mut cursor) {
            RingRead::Tick(t) => {
                assert_eq!(t.seq, before, "tick out of order");
                assert_eq!(cursor.next_seq(), before + 1);
                let (idx, p, event, send, write) = expected(t.seq);
                assert_eq!(
                    (
                        t.symbol.get(),
                        t.price_units,
                        t.event_ns,
                        t.send_ns,
                        t.write_ns
                    ),
                    (idx, p, event, send, write),
                    "torn tick"
                );
                seen += 1;
                if slow && seen % 256 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            RingRead::Lost(k) => {
                assert!(k > 0, "a loss of zero ticks");
                assert_eq!(
                    cursor.next_seq(),
                    before + k,
                    "cursor moved by other than the loss"
                );
                lost += k;
            }
            RingRead::Empty => {
                if reader.feed_ended() && cursor.next_seq() == reader.ticks_written() {
                    break;
                }
                reader.wait_for_ticks(&cursor, Duration::from_millis(100));
            }
        }
    }
    assert_eq!(seen + lost, n);
    assert_eq!(cursor.next_seq(), n);
    format!("seen={seen} lost={lost}")
}

/// A spawned child with its stdout protocol lines on a channel.
struct Proc {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Proc {
    fn spawn(role: &'static str, name: &str, n: u64, capacity: usize, slow: bool) -> Proc {
        let mut cmd = Command::new(env::current_exe().unwrap());
        cmd.args(["--exact", "mp_child", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(NAME, name)
            .env(COUNT, n.to_string())
            .env(CAPACITY, capacity.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if slow {
            cmd.env(SLOW, "1");
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print "test mp_child ... " on the same line.
                if let Some(at) = line.find("SHMTEST ") {
                    let _ = tx.send(line[at + "SHMTEST ".len()..].to_owned());
                }
            }
        });
        let stdin = child.stdin.take();
        Proc {
            role,
            child,
            stdin,
            lines,
        }
    }

    /// Waits for the next protocol line, which must start with `prefix`.
    fn expect(&mut self, prefix: &str, deadline: Instant) -> String {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) if line.starts_with(prefix) => line,
            Ok(line) => panic!("{}: expected {prefix}, got {line}", self.role),
            Err(e) => panic!(
                "{}: no {prefix} line ({e}); exit {:?}",
                self.role,
                self.child.try_wait()
            ),
        }
    }

    /// Waits for the child to exit successfully before `deadline`.
    fn expect_success(&mut self, deadline: Instant) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.role);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit in time",
                self.role
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Already exited: kill fails harmlessly; otherwise stop it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unlinks the test's segment however the test ends.
struct SegGuard(String);

impl Drop for SegGuard {
    fn drop(&mut self) {
        let _ = unlink_segment(&self.0);
    }
}

fn unique_name(tag: &str) -> SegGuard {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    SegGuard(format!("trading-mp-{tag}-{}-{n}", std::process::id()))
}

/// Runs one writer, `slot_readers` slot readers and one ring reader; returns
/// the ring reader's `seen=… lost=…` report.
fn run_scenario(
    tag: &str,
    n: u64,
    capacity: usize,
    slot_readers: usize,
    slow_ring: bool,
) -> String {
    let seg = unique_name(tag);
    let deadline = Instant::now() + TIMEOUT;
    let mut writer = Proc::spawn("writer", &seg.0, n, capacity, false);
    writer.expect("CREATED", deadline);
    let mut readers: Vec<Proc> = (0..slot_readers)
        .map(|_| Proc::spawn("slots", &seg.0, n, capacity, false))
        .collect();
    readers.push(Proc::spawn("ring", &seg.0, n, capacity, slow_ring));
    for r in &mut readers {
        r.expect("ATTACHED", deadline);
    }
    let mut stdin = writer.stdin.take().unwrap();
    writeln!(stdin, "GO").unwrap();
    drop(stdin);
    assert_eq!(writer.expect("OK", deadline), format!("OK published={n}"));
    writer.expect_success(deadline);
    let mut ring_report = String::new();
    for r in &mut readers {
        let report = r.expect("OK", deadline);
        r.expect_success(deadline);
        println!("{tag}: {} {report}", r.role);
        if r.role == "ring" {
            ring_report = report;
        }
    }
    ring_report
}

#[test]
fn every_read_is_consistent_and_a_big_ring_loses_nothing() {
    let report = run_scenario("lossless", 200_000, 1 << 18, 3, false);
    assert_eq!(report, "OK seen=200000 lost=0");
}

#[test]
fn a_slow_ring_reader_gets_exact_loss_counts() {
    let report = run_scenario("lossy", 200_000, 64, 1, true);
    // The in-order and per-loss checks are asserted in the child.
    let counts: Vec<u64> = report
        .trim_start_matches("OK ")
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{report}");
    assert_eq!(counts[0] + counts[1], 200_000, "{report}");
}
