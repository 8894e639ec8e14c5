//! `trading-stack bench`: one command that measures the real processes and
//! writes `reports/bench.md` with a latency plot and a throughput plot.
//!
//! Every figure is put next to a floor measured in the same run on the same
//! machine, so a slow machine shows as slow floors, not as a slow stack:
//!
//! 1. [`floors`] — loopback TCP round trip between two processes, one
//!    reader's TCP read + parse throughput of market data, one `fdatasync`;
//! 2. [`pipeline`] — real `--role orderbook` and `--role strategy` children
//!    around a [`probe`] that plays the gateway and the ordermanager: feed
//!    throughput at `rate = 0` (and ticks lost), tick → order latency at
//!    1,000 and 10,000 ticks/s and with one tick in flight, and tick → ACK
//!    through a real `--role ordermanager` with its journal's `fdatasync`;
//! 3. peak RSS of every child and the shm segment's size, and [`memory`]:
//!    every process of a real `--all` run (supervisor and gateway
//!    included) at two input sizes side by side (`--memory-only` runs just
//!    that);
//! 4. [`report`] and [`plots`] — the Markdown report with each target's
//!    PASS/MISS, and SVG plots drawn without system fonts.
//!
//! Targets live here, in a benchmark, not in timed tests: tests stay correct
//! on a slow machine. Everything runs on loopback, is bounded in time, and
//! every child process, shm segment and scratch file is removed on the way
//! out, also on failure.

pub mod children;
pub mod feed;
pub mod floors;
pub mod memory;
pub mod pipeline;
pub mod plots;
pub mod probe;
pub mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;

/// The benchmark's subcommands, added to the binary's command line.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Measure the real processes against this machine's floors and write
    /// a report with plots (see README, Benchmarks).
    Bench(BenchArgs),
    /// A child of `bench` standing in for the far end of a floor measurement.
    #[command(hide = true)]
    BenchHelper(HelperArgs),
}

/// Options of `trading-stack bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Fewer ticks and samples: seconds instead of about a minute (for smoke
    /// runs and the test; figures are noisier).
    #[arg(long)]
    pub quick: bool,
    /// Directory for bench.md, latency.svg and throughput.svg.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Ticks of the rate = 0 throughput run [default: 2,000,000; 200,000 with --quick].
    #[arg(long)]
    pub ticks: Option<u64>,
    /// Only measure peak RSS of every process of `--all` replays of 200,000
    /// and 2,000,000 ticks (20,000 and 200,000 with --quick); writes
    /// memory.md instead of bench.md.
    #[arg(long)]
    pub memory_only: bool,
}

/// What a helper child does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HelperMode {
    /// Echo 64-byte messages back (round-trip floor).
    Echo,
    /// Write market data frames as fast as possible (read + parse floor).
    Blast,
}

/// Options of the hidden helper child.
#[derive(Debug, Clone, clap::Args)]
pub struct HelperArgs {
    /// Its role.
    #[arg(value_enum)]
    pub mode: HelperMode,
    /// The bench process's listener to connect to.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Frames to write (blast).
    #[arg(long, default_value_t = 0)]
    pub frames: u64,
}

/// Entry point from `main`: runs a subcommand and turns its result into
/// the process's exit status.
pub fn main(command: &BenchCommand) -> ExitCode {
    let result = match command {
        BenchCommand::Bench(args) => run(args),
        BenchCommand::BenchHelper(h) => floors::run_helper(h.mode, h.addr, h.frames),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A histogram of nanoseconds from 1 ns to 100 s at 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant bounds are valid")
}

/// Sizes of one run: full or `--quick`.
struct Plan {
    /// Sizes of the `--all` replays whose peak RSS is compared.
    memory_ticks: [u64; 2],
    rate0_ticks: u64,
    steady_secs: u64,
    single_samples: u64,
}

impl Plan {
    fn of(args: &BenchArgs) -> Plan {
        let (ticks, secs, samples) = if args.quick {
            (200_000, 2, 200)
        } else {
            (2_000_000, 10, 2_000)
        };
        Plan {
            memory_ticks: [ticks / 10, ticks],
            rate0_ticks: args.ticks.unwrap_or(ticks),
            steady_secs: secs,
            single_samples: samples,
        }
    }
}

/// Runs every measurement and writes the report and plots to `args.out`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
    let plan = Plan::of(args);
    let machine = report::Machine::describe(args.quick);
    let work = children::WorkDir::new(&std::env::temp_dir())?;
    progress(&format!("scratch directory {}", work.path().display()));
    if args.memory_only {
        return memory_only(args, &plan, work.path(), &progress);
    }
    let mut floors = floors::measure(work.path(), args.quick, &progress)?;
    progress(&format!("pipeline at rate = 0: {} ticks", plan.rate0_ticks));
    let mut runs = vec![pipeline::throughput(
        work.path(),
        plan.rate0_ticks,
        &progress,
    )?];
    for rate in [1_000, 10_000] {
        progress(&format!(
            "tick → order at {rate} ticks/s for {} s",
            plan.steady_secs
        ));
        runs.push(pipeline::steady(
            work.path(),
            rate,
            plan.steady_secs,
            false,
            &progress,
        )?);
    }
    progress(&format!(
        "tick → order, one tick in flight: {} samples",
        plan.single_samples
    ));
    runs.push(pipeline::one_in_flight(work.path(), plan.single_samples)?);
    progress("floor: journal-sized durable write (O_DSYNC, in place)");
    floors.fsync = floors::measure_fsync(work.path(), if args.quick { 50 } else { 500 })?;
    progress(&format!(
        "tick → ACK through a real ordermanager at 1000 ticks/s for {} s",
        plan.steady_secs
    ));
    runs.push(pipeline::steady(
        work.path(),
        1_000,
        plan.steady_secs,
        true,
        &progress,
    )?);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    plots::latency(&args.out.join("latency.svg"), &floors, &runs)?;
    plots::throughput(&args.out.join("throughput.svg"), &floors, &runs[0])?;
    let memory = measure_memory(&plan, work.path(), &progress)?;
    let mut text = report::render(&machine, &floors, &runs);
    text.push_str(&memory::render(&memory, report::RSS_TARGET_KIB));
    let path = args.out.join("bench.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    progress(&format!(
        "wrote {} (and latency.svg, throughput.svg)",
        path.display()
    ));
    println!("{}", report::summary(&floors, &runs));
    Ok(())
}

/// Peak RSS of every process of an `--all` replay at each of the plan's sizes.
fn measure_memory(
    plan: &Plan,
    work: &std::path::Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Vec<memory::MemoryRun>> {
    plan.memory_ticks
        .iter()
        .map(|&ticks| {
            progress(&format!(
                "peak RSS of every process: --all replay of {ticks} ticks"
            ));
            memory::all_replay(work, ticks)
        })
        .collect()
}

/// `bench --memory-only`: the memory comparison alone, written to memory.md.
fn memory_only(
    args: &BenchArgs,
    plan: &Plan,
    work: &std::path::Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let runs = measure_memory(plan, work, progress)?;
    let text = memory::render(&runs, report::RSS_TARGET_KIB);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("memory.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    progress(&format!("wrote {}", path.display()));
    println!("{text}");
    Ok(())
}
