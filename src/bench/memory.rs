//! Peak RSS of every process of a real `--all` run (supervisor, gateway,
//! orderbook, strategy, ordermanager) for a short and a ten times longer
//! finite replay at full speed, side by side: memory must not grow with the
//! CSV's length.
//!
//! The probe scenarios of [`super::pipeline`] play the gateway themselves
//! and have no supervisor; this one runs the stack exactly as a user does,
//! `--all` with `gateway.loop = false` and `gateway.rate = 0`, and samples
//! `/proc/<pid>/status` of the supervisor and of each child it started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};

use super::children::{ChildProc, ShmGuard};

/// How often the processes' memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// Longest a replay may take (2 M ticks take about 20 s on 2 cores).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// The symbols of the generated CSV: the default configuration's.
const SYMBOLS: [&str; 5] = ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN"];
/// Seed of the generated CSV's random walk.
const WALK_SEED: u64 = 7;
/// Crossover windows of the run (the 5/20).
const WINDOWS: (usize, usize) = (5, 20);

/// The peak memory of one process of a run, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peak {
    /// VmHWM: the kernel's own peak resident set, everything included.
    pub hwm_kib: u64,
    /// The highest RssShmem seen: the part that is shared memory (the
    /// table's ring), which is bounded by `orderbook.ring_capacity`, not
    /// by the input.
    pub shmem_kib: u64,
}

/// Peak memory of every process of one `--all` replay.
#[derive(Debug, Clone)]
pub struct MemoryRun {
    /// Ticks in the replayed CSV.
    pub ticks: u64,
    /// Peak per process, by role (`supervisor` for `--all` itself).
    pub peaks: BTreeMap<String, Peak>,
}

/// Replays a generated CSV of `ticks` rows once at full speed through
/// `--all` and records each process's peak memory.
pub fn all_replay(work: &Path, ticks: u64) -> anyhow::Result<MemoryRun> {
    let dir = work.join(format!("memory-{ticks}"));
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join("ticks.csv");
    let symbols: Vec<String> = SYMBOLS.iter().map(|s| s.to_string()).collect();
    crate::gateway::source::write_walk_csv(&csv, &symbols, WALK_SEED, ticks)?;
    let shm = ShmGuard::new("mem");
    let config = write_config(&dir, &shm.name, &csv)?;
    let cfg = config.to_str().context("config path is not UTF-8")?;
    let mut all = ChildProc::spawn("--all run", &dir, &["--all", "--config", cfg], &[])?;
    let peaks = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peaks, stop, pid) = (peaks.clone(), stop.clone(), all.pid());
        std::thread::spawn(move || sample_tree(pid, &peaks, &stop))
    };
    let finished = all.wait_exit(RUN_TIMEOUT);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    if !finished? {
        bail!("the --all replay of {ticks} ticks did not exit with status 0");
    }
    let peaks = std::mem::take(&mut *peaks.lock().expect("sampler ended"));
    Ok(MemoryRun { ticks, peaks })
}

/// Writes the run's configuration: its own ports, shm name, journal and
/// logs, a finite full-speed replay of `csv`, news off.
fn write_config(dir: &Path, shm: &str, csv: &Path) -> anyhow::Result<std::path::PathBuf> {
    let d = dir.display();
    let syms: Vec<String> = SYMBOLS.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        "symbols = [{syms}]\n\
         [logs]\ndir = \"{d}/logs\"\nlevel = \"info\"\n\
         [gateway]\nmd_port = 0\nnews_port = 0\nloop = false\nrate = 0\ndata_path = \"{csv}\"\n\
         [orderbook]\nshared_memory_name = \"{shm}\"\n\
         [strategy]\nshared_memory_name = \"{shm}\"\nuse_news = false\n\
         short_window = {sw}\nlong_window = {lw}\n\
         [ordermanager]\nport = 0\njournal_path = \"{d}/orders.journal\"\n\
         shared_memory_name = \"{shm}\"\n",
        syms = syms.join(", "),
        csv = csv.display(),
        sw = WINDOWS.0,
        lw = WINDOWS.1,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Samples the supervisor `root` and its children until `stop`, keeping
/// each role's highest figures.
fn sample_tree(root: u32, peaks: &Mutex<BTreeMap<String, Peak>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut procs = vec![(root, "supervisor".to_string())];
        procs.extend(
            children_of(root)
                .into_iter()
                .filter_map(|pid| Some((pid, role_of(pid)?))),
        );
        let mut peaks = peaks.lock().expect("sampler only");
        for (pid, role) in procs {
            if let Some(now) = memory_of(pid) {
                let p = peaks.entry(role).or_default();
                p.hwm_kib = p.hwm_kib.max(now.hwm_kib);
                p.shmem_kib = p.shmem_kib.max(now.shmem_kib);
            }
        }
        drop(peaks);
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// The direct children of `pid`, from every thread's `children` list.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The `--role` a child runs; `None` before it is exec'd (its command
/// line is still the supervisor's then).
fn role_of(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = cmdline.split(|&b| b == 0);
    args.by_ref().find(|a| *a == b"--role")?;
    Some(String::from_utf8_lossy(args.next()?).into_owned())
}

/// VmHWM and RssShmem of `pid` now; `None` once it is gone.
fn memory_of(pid: u32) -> Option<Peak> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    Some(Peak {
        hwm_kib: kib("VmHWM:")?,
        shmem_kib: kib("RssShmem:").unwrap_or(0),
    })
}

/// The report's section: each process's peak at each input size, side by
/// side, and whether it stayed flat and under the target.
pub fn render(runs: &[MemoryRun], target_kib: u64) -> String {
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut s = String::from(
        "## Memory by input size\n\n`--all`, finite replay at `rate = 0`, windows 5/20, no news; \
         peak RSS (VmHWM) of each process, of which shared memory (the table's ring) in brackets.\n\n| process |",
    );
    for r in runs {
        let _ = write!(s, " {} ticks |", r.ticks);
    }
    s.push_str(" growth | ≤ 20 MiB |\n|---|");
    s.push_str(&"---|".repeat(runs.len() + 2));
    s.push('\n');
    let roles: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.peaks.keys()).collect();
    for role in roles {
        let _ = write!(s, "| {role} |");
        let figures: Vec<u64> = runs
            .iter()
            .map(|r| r.peaks.get(role).copied().unwrap_or_default())
            .map(|p| {
                let _ = write!(s, " {} ({}) |", mib(p.hwm_kib), mib(p.shmem_kib));
                p.hwm_kib
            })
            .collect();
        let (first, last) = (figures.first().copied(), figures.last().copied());
        let growth = match (first, last) {
            (Some(a), Some(b)) if a > 0 => format!("{:+.1} MiB", (b as f64 - a as f64) / 1024.0),
            _ => "—".into(),
        };
        let worst = figures.iter().copied().max().unwrap_or(0);
        let verdict = if worst <= target_kib { "PASS" } else { "MISS" };
        let _ = writeln!(s, " {growth} | {verdict} |");
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_puts_sizes_side_by_side_with_growth_and_verdict() {
        let run = |ticks, hwm, shmem| MemoryRun {
            ticks,
            peaks: BTreeMap::from([(
                "gateway".to_string(),
                Peak {
                    hwm_kib: hwm,
                    shmem_kib: shmem,
                },
            )]),
        };
        let text = render(
            &[run(200_000, 10_240, 0), run(2_000_000, 30_720, 512)],
            20_480,
        );
        assert!(
            text.contains("| process | 200000 ticks | 2000000 ticks | growth | ≤ 20 MiB |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| gateway | 10.0 MiB (0.0 MiB) | 30.0 MiB (0.5 MiB) | +20.0 MiB | MISS |"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_child_is_named_by_its_role_argument() {
        let me = std::process::id();
        assert_eq!(role_of(me), None, "the test binary has no --role");
        let now = memory_of(me).expect("this process is alive");
        assert!(now.hwm_kib > 0);
    }
}
