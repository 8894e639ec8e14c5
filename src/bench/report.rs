//! `bench.md`: the machine, every figure next to its floor as a ratio, and
//! each of the targets with PASS or MISS.
//!
//! Kept as plain string building: the report is read by people and diffed
//! in git, so its layout is stable and every number has its unit.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::floors::Floors;
use super::pipeline::Outcome;

/// Peak RSS every process must stay under, KiB.
pub(crate) const RSS_TARGET_KIB: u64 = 20 * 1024;

/// What the figures were measured on.
pub struct Machine {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs this process may run on.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// UTC date and time of the run.
    pub date: String,
    /// Release or debug build, full or quick run.
    pub build: String,
    /// `/proc/loadavg` at the start of the run: this machine may be shared,
    /// and other work on it moves every figure, floors included.
    pub load: String,
}

impl Machine {
    /// Describes this machine now.
    pub fn describe(quick: bool) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_string());
        let mut date = Vec::new();
        let now = crate::clock::unix_now_ns();
        crate::protocol::write_event_time(&mut date, now - now % 1_000_000_000);
        let profile = if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        };
        let mode = if quick { "--quick run" } else { "full run" };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or("unknown".into(), |s| s.trim().to_string()),
            date: format!("{} UTC", String::from_utf8_lossy(&date)),
            build: format!("{profile}, {mode}"),
            load: load_average(),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `12.3 µs`, `1.23 ms`: latency in the unit that reads best.
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{:.2} µs", ns as f64 / 1e3),
        10_000..=999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

/// `1.23 M/s`, `456 k/s`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**MISS**"
    }
}

/// Whether the two RTT processes were ever seen on the same CPU.
fn core_sharing(f: &Floors) -> String {
    let same = f.rtt_cpus.iter().filter(|(a, b)| a == b).count();
    format!(
        "not pinned; on the same CPU in {same} of {} samples",
        f.rtt_cpus.len()
    )
}

/// The whole report.
pub fn render(m: &Machine, f: &Floors, runs: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmark report\n");
    let _ = writeln!(s, "Made by `cargo run --release -- bench` ({}).\n", m.build);
    let _ = writeln!(s, "| machine | |\n|---|---|");
    let _ = writeln!(s, "| CPU | {} |\n| logical cores | {} |", m.cpu, m.cores);
    let _ = writeln!(s, "| kernel | {} |\n| date | {} |", m.kernel, m.date);
    let _ = writeln!(
        s,
        "| load average (1 / 5 / 15 min) | {} at the start, {} at the end |\n",
        m.load,
        load_average()
    );
    s.push_str(&targets(f, runs));
    s.push_str(&floors(f));
    s.push_str(&throughput(f, &runs[0]));
    s.push_str(&latency(f, runs));
    s.push_str(&memory(runs));
    s.push_str(METHOD);
    s
}

/// The targets table alone, for the terminal.
pub fn summary(f: &Floors, runs: &[Outcome]) -> String {
    targets(f, runs)
}

fn floors(f: &Floors) -> String {
    let mut s = String::from("## Floors (same run, same machine)\n\n| floor | p50 | p99 | p99.9 | note |\n|---|---|---|---|---|\n");
    let row = |s: &mut String, what: &str, h: &Histogram<u64>, note: &str| {
        let q = |p| fmt_ns(h.value_at_quantile(p));
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {} | {note} |",
            q(0.5),
            q(0.99),
            q(0.999)
        );
    };
    row(
        &mut s,
        "loopback TCP round trip, 64 B, two processes",
        &f.rtt,
        &format!("{} round trips; {}", f.rtt.len(), core_sharing(f)),
    );
    row(
        &mut s,
        "the same, each after 2 ms idle (the one-in-flight gap)",
        &f.rtt_idle,
        &format!(
            "{} round trips: sleeping CPUs woken, as one tick in flight meets them",
            f.rtt_idle.len()
        ),
    );
    row(
        &mut s,
        "journal-sized durable write (in place, `O_DSYNC`, as the journal commits)",
        &f.fsync,
        &format!("{} syncs, temp dir", f.fsync.len()),
    );
    let _ = writeln!(
        s,
        "\nSingle-reader TCP read + split + parse of market data frames: **{}** ({} frames from a child writing as fast as it can).\n",
        fmt_rate(f.parse_frames_per_s),
        f.parse_frames
    );
    s
}

fn throughput(f: &Floors, run: &Outcome) -> String {
    let mut s = String::from("## Feed throughput, rate = 0\n\n");
    let _ = writeln!(
        s,
        "{} ticks sent as fast as TCP takes them; the strategy read {}, lost {} \
         (sent minus read); the orderbook waited for it {} times, {} ms in all.\n",
        run.ticks,
        opt(run.strategy_ticks),
        opt(run.lost),
        opt(run.ring_waits.map(|w| w.0)),
        opt(run.ring_waits.map(|w| w.1))
    );
    s.push_str("| stage | ticks/s | floor: read + parse | ratio |\n|---|---|---|---|\n");
    if let Some((book, strat, send)) = run.rates {
        let fl = f.parse_frames_per_s;
        for (what, r) in [
            ("probe's writes accepted by TCP", send),
            ("through the orderbook (table holds the last tick)", book),
            (
                "to the strategy's last tick (its last crossover's order)",
                strat,
            ),
        ] {
            let _ = writeln!(
                s,
                "| {what} | {} | {} | {:.1}% |",
                fmt_rate(r),
                fmt_rate(fl),
                100.0 * r / fl
            );
        }
    }
    s.push('\n');
    s
}

fn latency(f: &Floors, runs: &[Outcome]) -> String {
    let mut s = String::from("## Latency, gateway send → ordermanager receive (same clock)\n\n");
    s.push_str("| scenario | samples | orders expected / seen | p50 | p90 | p99 | p99.9 | max | p50 ÷ RTT p50 | p99 ÷ RTT p99 |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let (rtt50, rtt99) = (f.rtt.value_at_quantile(0.5), f.rtt.value_at_quantile(0.99));
    for r in runs.iter().skip(1) {
        let h = &r.latency;
        let q = |p| fmt_ns(h.value_at_quantile(p));
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} | {} | {} | {} | {} | {} | {:.1}× | {:.1}× |",
            r.name,
            h.len(),
            r.expected_orders,
            r.orders,
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            fmt_ns(h.max()),
            h.value_at_quantile(0.5) as f64 / rtt50 as f64,
            h.value_at_quantile(0.99) as f64 / rtt99 as f64
        );
    }
    if let Some(one) = runs.iter().find(|r| r.name.contains("one tick in flight")) {
        let idle50 = f.rtt_idle.value_at_quantile(0.5);
        let _ = writeln!(
            s,
            "\nOne tick in flight waits 2 ms idle before each sample, so its floor is the idle round trip (p50 {}): its p50 is {:.1}× that.",
            fmt_ns(idle50),
            one.latency.value_at_quantile(0.5) as f64 / idle50 as f64
        );
    }
    let fs50 = f.fsync.value_at_quantile(0.5);
    let _ = writeln!(s, "\nFloor of tick → ACK: RTT p50 + durable write p50 = {}; the proxy adds one more loopback hop.", fmt_ns(rtt50 + fs50));
    if let Some(ack) = runs.iter().find(|r| r.name.contains("ACK")) {
        let _ = writeln!(
            s,
            "Its p50 is {:.1}× that; REJs seen: {}.\n",
            ack.latency.value_at_quantile(0.5) as f64 / (rtt50 + fs50) as f64,
            ack.rejected
        );
    }
    s
}

/// The highest peak RSS of each role over every scenario.
fn peak_rss(runs: &[Outcome]) -> Vec<(&'static str, u64)> {
    let mut peaks: Vec<(&'static str, u64)> = Vec::new();
    for r in runs.iter().flat_map(|o| o.rss.iter()) {
        match peaks.iter_mut().find(|(role, _)| *role == r.role) {
            Some(p) => p.1 = p.1.max(r.peak_kib),
            None => peaks.push((r.role, r.peak_kib)),
        }
    }
    peaks
}

fn memory(runs: &[Outcome]) -> String {
    let mut s = String::from("## Memory\n\n| process | peak RSS (VmHWM, max over scenarios) | target | result |\n|---|---|---|---|\n");
    for (role, kib) in peak_rss(runs) {
        let _ = writeln!(
            s,
            "| {role} | {:.1} MiB | ≤ 20 MiB | {} |",
            kib as f64 / 1024.0,
            verdict(kib <= RSS_TARGET_KIB)
        );
    }
    let _ = writeln!(
        s,
        "| gateway | not measured: the probe plays it | ≤ 20 MiB | — |"
    );
    let shm = runs.iter().map(|r| r.shm_bytes).max().unwrap_or(0);
    let _ = writeln!(s, "\nShared-memory segment: {} bytes ({:.1} MiB, default ring capacity), mapped by the orderbook and the strategy and counted in their RSS as they touch it.\n", shm, shm as f64 / 1048576.0);
    s
}

fn targets(f: &Floors, runs: &[Outcome]) -> String {
    let mut s = String::from(
        "## Targets\n\n| target | figure | floor | ratio | result |\n|---|---|---|---|---|\n",
    );
    let lost: u64 = runs
        .iter()
        .map(|r| r.lost.unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    let _ = writeln!(
        s,
        "| ticks lost = 0 (all scenarios) | {} | — | — | {} |",
        if lost == u64::MAX {
            "unknown".into()
        } else {
            lost.to_string()
        },
        verdict(lost == 0)
    );
    if let Some((book, strat, _)) = runs[0].rates {
        let fl = f.parse_frames_per_s;
        let _ = writeln!(
            s,
            "| through the orderbook ≥ 50% of read + parse | {} | {} | {:.1}% | {} |",
            fmt_rate(book),
            fmt_rate(fl),
            100.0 * book / fl,
            verdict(book >= 0.5 * fl)
        );
        let _ = writeln!(
            s,
            "| to the strategy's last tick ≥ 25% of read + parse | {} | {} | {:.1}% | {} |",
            fmt_rate(strat),
            fmt_rate(fl),
            100.0 * strat / fl,
            verdict(strat >= 0.25 * fl)
        );
    }
    for (role, kib) in peak_rss(runs) {
        let _ = writeln!(
            s,
            "| {role} peak RSS ≤ 20 MiB | {:.1} MiB | — | — | {} |",
            kib as f64 / 1024.0,
            verdict(kib <= RSS_TARGET_KIB)
        );
    }
    if let Some(r) = runs
        .iter()
        .find(|r| r.name == "tick → order, 10000 ticks/s")
    {
        for (q, limit) in [(0.5, 1.5), (0.99, 2.5)] {
            let (v, fl) = (r.latency.value_at_quantile(q), f.rtt.value_at_quantile(q));
            let ratio = v as f64 / fl as f64;
            let _ = writeln!(s, "| tick → order at 10k ticks/s p{} ≤ {limit}× RTT p{} | {} | {} | {ratio:.1}× | {} |", q * 100.0, q * 100.0, fmt_ns(v), fmt_ns(fl), verdict(ratio <= limit));
        }
    }
    s.push('\n');
    s
}

fn opt(v: Option<u64>) -> String {
    v.map_or("unknown".into(), |v| v.to_string())
}

const METHOD: &str = "## How it is measured\n\n\
- Real `trading-stack --role orderbook` and `--role strategy` child processes (and `--role ordermanager` for tick → ACK), each scenario with a fresh shm table, its own temp directory and loopback ports. The strategy runs with windows 5/20 and `use_news = false`, so every crossover is an order at once.\n\
- The bench process plays the gateway (it serves the market data stream, stamps SEND_NS and remembers each tick's send time on its monotonic clock) and the ordermanager (it ACKs each order at once and stamps its receipt on the same clock). An order's id names its crossover tick's ring sequence, which is the tick's index in the feed.\n\
- Tick → ACK: the bench process sits as a TCP proxy between the strategy and a real ordermanager (default `durability = \"group\"`, journal in a temp dir on disk) and stamps each ACK as it passes.\n\
- Steady rates: every wake-up sends the ticks due by then in one write (mostly one tick); the first 5% of ticks (at most 1,000) are not sampled. One tick in flight: the ticks before each crossover go first, the table must hold them, 2 ms pass, then the crossover tick goes alone and its order is awaited.\n\
- Peak RSS: VmHWM from `/proc/<pid>/status`, sampled every 10 ms while each child lives.\n\
- Floors: blocking sockets with `TCP_NODELAY` between this process and a helper child of the same binary; the pipeline's processes use tokio. Nothing is pinned to a core. The round trip is taken back to back (warm CPUs) and, for one tick in flight, each after 2 ms idle (CPUs that went to sleep must be woken, which costs more on a VM).\n\n\
![latency](latency.svg)\n\n![throughput](throughput.svg)\n";
