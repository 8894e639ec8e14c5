//! `trading-stack backtest`: the configured strategy over a CSV of ticks,
//! in one process, with the ordermanager's own checks and books.
//!
//! The strategy is the very object the live strategy process builds
//! ([`Config::build_strategy`]); each tick gets its position in the file
//! as its tag, which is the live ring's sequence number for the same file,
//! so the two runs' decisions coincide. Orders go through [`Exchange`]
//! (the ordermanager's `Desk`) and
//! fill at the tick's price. With `use_news = true` the strategy gets the
//! news a live finite replay of the file gets ([`news::ReplayNews`]: the
//! same seeded items at the same ticks). A finite live replay and a
//! backtest of its CSV give the same orders, positions and realised P&L,
//! with news and without (`integration/backtest.rs` checks both).
//!
//! Outputs, in `--out DIR` (default `reports/backtest/<UTC time>/`):
//! `orders.csv`, `summary.md` and `equity.svg`; the summary is printed too.

pub mod exchange;
pub mod news;
pub mod recording;
pub mod report;
pub mod run;
pub mod sweep;
pub mod ticks;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::Config;
use crate::lifecycle::Exit;
use crate::signals::registry;
pub use exchange::{Exchange, OrderRow};
pub use run::{replay, run, Backtester, Outcome};
pub use ticks::{TickData, TickRow};

/// Options of `trading-stack backtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// CSV of ticks with a `timestamp,symbol,price` header (the gateway's replay format).
    #[arg(long, value_name = "FILE", required_unless_present = "replay")]
    pub data: Option<PathBuf>,
    /// Instead of a CSV: a recording of a live strategy's inputs, ticks and
    /// news in order (`strategy.record_path`), replayed with their tags.
    #[arg(long, value_name = "RECORDING", conflicts_with_all = ["data", "sweep"])]
    pub replay: Option<PathBuf>,
    /// Configuration: `strategy.kind` and its settings, `symbols`, and the
    /// ordermanager's limits (TRADING__SECTION__KEY overrides apply).
    /// Without it, as for the roles: config/default.toml if present here,
    /// else the built-in defaults.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory for orders.csv, summary.md and equity.svg
    /// [default: reports/backtest/YYYY-MM-DD-HH-MM-SS, UTC].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Symbol whose prices and fills the picture shows [default: the first configured].
    #[arg(long, value_name = "SYMBOL")]
    pub plot_symbol: Option<String>,
    /// Run a grid of settings instead, in parallel on every core:
    /// NAME=A..B or NAME=A..B:STEP, inclusive (once or twice, e.g.
    /// `--sweep short_window=2..20 --sweep long_window=10..100:5`); writes
    /// sweep.csv and sweep.svg (a heatmap of total P&L).
    #[arg(long, value_name = "NAME=A..B[:STEP]")]
    pub sweep: Vec<String>,
}

/// Why a backtest stopped, with the exit status it maps to.
fn fail(exit: Exit, e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(exit.code())
}

/// Entry point from `main`.
pub fn main(args: &BacktestArgs) -> ExitCode {
    let axes: Vec<sweep::Axis> = match args.sweep.iter().map(|f| sweep::parse_axis(f)).collect() {
        Ok(a) => a,
        Err(e) => return fail(Exit::Config, &e),
    };
    let cfg = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, &e.into()),
    };
    let (data, source) = match (&args.data, &args.replay) {
        (Some(path), _) => match ticks::load(path, &cfg.symbols) {
            Ok(d) => (d, Source::Ticks(path.clone())),
            Err(e) => return fail(Exit::Data, &e.into()),
        },
        (None, Some(path)) => match recording::read(path, &cfg.symbols) {
            Ok(inputs) => (
                recorded_ticks(&inputs),
                Source::Recording(path.clone(), inputs),
            ),
            Err(e) => return fail(Exit::Data, &e.into()),
        },
        (None, None) => unreachable!("clap requires --data or --replay"),
    };
    report_oddities(&cfg, &data);
    let result = if args.sweep.is_empty() {
        backtest(args, &cfg, &data, &source)
    } else {
        run_sweep(args, &cfg, &data, &axes)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(Exit::Failure, &e),
    }
}

/// What the run trades, in words: the kind and its settings.
pub fn describe(cfg: &Config) -> String {
    let kind = &cfg.strategy.kind;
    if kind == registry::CROSSOVER {
        let s = &cfg.strategy;
        return format!(
            "crossover (short_window {}, long_window {}, use_news {})",
            s.short_window, s.long_window, s.use_news
        );
    }
    let settings = cfg
        .strategies
        .get(kind)
        .and_then(|v| v.clone().into_table().ok())
        .map(|t| {
            t.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!("{kind} ({settings})")
}

/// Says on stderr what in the data or settings deserves a second look.
fn report_oddities(cfg: &Config, data: &TickData) {
    if data.unknown_rows > 0 {
        eprintln!(
            "note: {} rows of symbols not in `symbols` skipped (first: {:?})",
            data.unknown_rows, data.unknown_symbols
        );
    }
    if let Some(at) = &data.first_backwards {
        eprintln!(
            "note: {} ticks have an event time earlier than the tick before them (first at {at}); kept in file order, as the live feed plays them",
            data.backwards
        );
    }
    if cfg.strategy.use_news && cfg.gateway.news_every_ticks == 0 {
        eprintln!("note: strategy.use_news is on but news is paced by the clock (gateway.news_every_ticks = 0), which a backtest cannot reproduce: crossovers wait for agreeing news and trade nothing");
    }
}

/// A progress bar of `len` steps on stderr (drawn only on a terminal).
fn progress_bar(len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} {{eta}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("a valid template"));
    bar
}

/// The grid of `--sweep`: runs, writes sweep.csv and sweep.svg, prints the best.
fn run_sweep(
    args: &BacktestArgs,
    cfg: &Config,
    data: &TickData,
    axes: &[sweep::Axis],
) -> anyhow::Result<()> {
    let points = axes.iter().map(|a| a.values.len() as u64).product();
    let bar = progress_bar(points, "settings");
    let started = std::time::Instant::now();
    let results = sweep::sweep(cfg, axes, &data.ticks, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let out = args.out.clone().unwrap_or_else(default_out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    sweep::write_csv(&out.join("sweep.csv"), axes, &results)?;
    sweep::heatmap(&out.join("sweep.svg"), axes, &results)?;
    let skipped = results.iter().filter(|p| p.result.is_err()).count();
    println!(
        "sweep of {} (and the settings swept) on {}: {} settings × {} ticks in {:.2} s on {} threads; {skipped} skipped (settings the strategy refuses, e.g. short_window >= long_window)",
        describe(cfg),
        args.data.as_deref().unwrap_or(Path::new("?")).display(),
        results.len(),
        data.ticks.len(),
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let best = results
        .iter()
        .filter_map(|p| Some((p, p.result.as_ref().ok()?)))
        .max_by_key(|(_, (f, _))| f.total());
    if let Some((p, (f, dd))) = best {
        let at: Vec<_> = axes
            .iter()
            .zip(&p.at)
            .map(|(a, v)| format!("{} {v}", a.name))
            .collect();
        println!(
            "best total P&L {} at {} ({} fills, max drawdown {})",
            report::money(f.total()),
            at.join(", "),
            f.filled,
            report::money(*dd)
        );
    }
    println!(
        "written: {}, {}",
        out.join("sweep.csv").display(),
        out.join("sweep.svg").display()
    );
    Ok(())
}

/// Where the inputs came from.
enum Source {
    /// A CSV of ticks.
    Ticks(PathBuf),
    /// A recording, and its inputs.
    Recording(PathBuf, Vec<recording::Input>),
}

/// The ticks of a recording, for the report's picture.
fn recorded_ticks(inputs: &[recording::Input]) -> TickData {
    let ticks = inputs
        .iter()
        .filter_map(|i| match i {
            recording::Input::Tick(t) => Some(TickRow {
                symbol: t.symbol,
                price_units: t.price_units,
                event_ns: t.event_ns,
            }),
            recording::Input::News(_) => None,
        })
        .collect();
    TickData {
        ticks,
        ..TickData::default()
    }
}

/// Loads, runs, writes and prints.
fn backtest(
    args: &BacktestArgs,
    cfg: &Config,
    data: &TickData,
    source: &Source,
) -> anyhow::Result<()> {
    let mut strategy = cfg.build_strategy()?;
    let plot = match &args.plot_symbol {
        Some(s) => cfg
            .symbols
            .iter()
            .position(|c| c == s)
            .with_context(|| format!("--plot-symbol {s:?} is not in `symbols`"))?,
        None => 0,
    };
    let bar = progress_bar(data.ticks.len() as u64, "ticks");
    let (outcome, from) = match source {
        Source::Ticks(path) => {
            let o = run(&mut strategy, &data.ticks, cfg, &mut |done| {
                bar.set_position(done)
            });
            (o, path.display().to_string())
        }
        Source::Recording(path, inputs) => {
            let o = replay(&mut strategy, inputs, cfg);
            (o, format!("the recording {}", path.display()))
        }
    };
    bar.finish_and_clear();
    let out = args.out.clone().unwrap_or_else(default_out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let title = format!("{} on {from}", describe(cfg));
    let summary = report::summary(&title, &outcome, data);
    report::write_orders(&out.join("orders.csv"), &outcome)?;
    std::fs::write(out.join("summary.md"), &summary)
        .with_context(|| format!("writing {}", out.join("summary.md").display()))?;
    report::equity_svg(&out.join("equity.svg"), &outcome, &data.ticks, plot)?;
    println!("{summary}\nwritten: {}", written(&out));
    Ok(())
}

/// The three files, for the last line.
fn written(out: &Path) -> String {
    ["orders.csv", "summary.md", "equity.svg"]
        .map(|f| out.join(f).display().to_string())
        .join(", ")
}

/// `reports/backtest/<UTC date-time>`.
fn default_out() -> PathBuf {
    let now = crate::clock::unix_now_ns();
    let mut date = Vec::new();
    crate::protocol::write_event_time(&mut date, now - now % 1_000_000_000);
    let stamp = String::from_utf8_lossy(&date).replace([' ', ':'], "-");
    PathBuf::from("reports/backtest").join(stamp)
}
