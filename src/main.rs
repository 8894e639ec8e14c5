//! The one binary of the trading stack: any single role, or all of them supervised.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use trading::config::Config;
use trading::lifecycle::{exit_for, CannotRun, Exit, Role, RoleContext};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "\
Examples:
  trading-stack --all                                  # the whole system; Ctrl+C stops it
  TRADING__GATEWAY__LOOP=false trading-stack --all     # replay the CSV once, then a summary
  trading-stack --role ordermanager --config my.toml   # one process
  trading-stack bench --quick                          # measure, write reports/bench.md

Exit statuses: 0 ok, 1 failed (a restart may help), 2 configuration, 3 journal,
4 environment (e.g. port in use), 5 data file. Linux only.";

/// A multi-process trading stack: gateway → orderbook → strategy → ordermanager.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    /// Run one process: gateway (market data and news over TCP), orderbook
    /// (market data into the shared-memory price table), strategy (signals from
    /// the table and the news, orders out) or ordermanager (validates, executes
    /// and journals orders).
    #[arg(long, value_enum, value_name = "NAME", conflicts_with = "all")]
    role: Option<Role>,

    /// Run all four roles as supervised child processes; Ctrl+C stops them in
    /// order. With `gateway.loop = false` the run ends by itself with a summary.
    #[arg(long)]
    all: bool,

    /// Configuration file; keys it leaves out keep their built-in defaults and
    /// TRADING__SECTION__KEY environment variables override single keys.
    /// Without it: config/default.toml if present here, else the built-in
    /// defaults. Relative paths in a file are read against its folder.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Write a random-walk market data CSV (timestamp,symbol,price) for the
    /// configured symbols to PATH and exit.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["role", "all"])]
    generate_csv: Option<PathBuf>,

    /// Number of ticks --generate-csv writes.
    #[arg(long, default_value_t = 20_000, requires = "generate_csv")]
    ticks: u64,

    /// Start with an empty order journal (with --all or --role ordermanager):
    /// the old `ordermanager.journal_path` is moved aside as
    /// `<path>.<UTC time>`, never deleted, so no earlier run's positions or
    /// ids carry over.
    #[arg(long)]
    fresh: bool,

    /// Stop when stdin closes (used by the supervisor for its children).
    #[arg(long, hide = true)]
    exit_with_parent: bool,

    /// The process (PID:STARTTIME) this one replaces: the supervisor's dead
    /// child of the same role, whose state (the orderbook's table) it continues.
    #[arg(long, hide = true, value_name = "PID:STARTTIME")]
    replaces: Option<trading::shm::ProcessIdentity>,

    /// `bench`: measure the real processes and write reports/bench.md;
    /// `backtest`: run the strategy over a CSV in one process.
    #[command(subcommand)]
    command: Option<Command>,
}

/// The subcommands: each one's module owns its arguments.
#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Bench(trading::bench::BenchCommand),
    /// Run the configured strategy over a CSV of ticks in one process, with
    /// the ordermanager's checks and books; writes orders.csv, summary.md and
    /// equity.svg (see README, Backtest).
    Backtest(trading::backtest::BacktestArgs),
}

/// `--help`'s closing lines: the strategy kinds `strategy.kind` accepts.
fn kinds_help() -> String {
    let mut text = String::from(
        "Strategy kinds (strategy.kind; each kind but crossover reads [strategies.<kind>]):\n  \
         crossover        moving-average crossover combined with news ([strategy] windows and thresholds)",
    );
    for k in trading::signals::registry::KINDS {
        text.push_str(&format!("\n  {:<16} {}", k.name, k.about));
    }
    text
}

fn main() -> ExitCode {
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(
        &<Cli as clap::CommandFactory>::command()
            .after_help(kinds_help())
            .get_matches(),
    )
    .unwrap_or_else(|e| e.exit());
    match &cli.command {
        Some(Command::Bench(command)) => return trading::bench::main(command),
        Some(Command::Backtest(args)) => return trading::backtest::main(args),
        None => {}
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Config.code());
        }
    };
    if cli.fresh && !(cli.all || cli.role == Some(Role::Ordermanager)) {
        eprintln!("error: --fresh applies to --all or --role ordermanager (see --help)");
        return ExitCode::from(Exit::Config.code());
    }
    let result = if let Err(e) = start_fresh(&config, &cli) {
        Err(e)
    } else if let Some(path) = &cli.generate_csv {
        trading::gateway::write_random_walk_csv(&config, path, cli.ticks)
    } else if let Some(role) = cli.role {
        run_role(role, config, &cli)
    } else if cli.all {
        run_all(config, &cli)
    } else {
        eprintln!("error: give --role NAME, --all or --generate-csv PATH (see --help)");
        return ExitCode::from(Exit::Config.code());
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The one place an error reaches the terminal: the roles log it
            // to their file only. Its kind decides the status (see
            // `trading::lifecycle::exit`), which tells the supervisor
            // whether a restart can help.
            eprintln!("error: {e:#}");
            ExitCode::from(exit_for(&e).code())
        }
    }
}

/// `--fresh`: sets the journal aside once, before any role starts, so a
/// supervised ordermanager restarted later still recovers this run's orders.
fn start_fresh(config: &Config, cli: &Cli) -> anyhow::Result<()> {
    if !cli.fresh {
        return Ok(());
    }
    let path = &config.ordermanager.journal_path;
    let now = trading::clock::unix_now_ns();
    match trading::ordermanager::journal::set_aside(path, now) {
        Ok(Some(to)) => println!(
            "fresh start: journal {} moved to {}",
            path.display(),
            to.display()
        ),
        Ok(None) => println!("fresh start: no journal at {}", path.display()),
        Err(e) => {
            let e = anyhow::Error::new(e).context(format!(
                "--fresh: moving the journal {} aside (ordermanager.journal_path)",
                path.display()
            ));
            return Err(CannotRun::Journal(e).into());
        }
    }
    Ok(())
}

fn context(config: Config, cli: &Cli, log: slog::Logger) -> RoleContext {
    // The first line of every log: which settings this process runs with.
    slog::info!(log, "configuration"; "from" => config.file.describe());
    RoleContext {
        config_path: config.file.path().map(PathBuf::from),
        config,
        log,
        watch_parent: cli.exit_with_parent,
        replaces: cli.replaces,
    }
}

fn run_role(role: Role, config: Config, cli: &Cli) -> anyhow::Result<()> {
    let (log, _guard) = trading::logging::init(
        &config.logs,
        role.log_file(),
        role.name(),
        // A supervised child's terminal is the supervisor's status line.
        !cli.exit_with_parent,
    )
    .context("opening the log file (logs.dir)")
    .map_err(CannotRun::Environment)?;
    let ctx = context(config, cli, log.clone());
    let result = match role {
        Role::Gateway => trading::gateway::run(ctx),
        Role::Orderbook => trading::orderbook::run(ctx),
        Role::Strategy => trading::strategy::run(ctx),
        Role::Ordermanager => trading::ordermanager::run(ctx),
    };
    if let Err(e) = &result {
        // The file only: main prints the error on the terminal, once.
        slog::crit!(log, #"file-only", "stopped with an error";
            "error" => format!("{e:#}"), "exit_status" => exit_for(e).code());
    }
    result
}

fn run_all(config: Config, cli: &Cli) -> anyhow::Result<()> {
    let (log, _guard) = trading::logging::init(&config.logs, "main.log", "supervisor", false)
        .context("opening the log file (logs.dir)")
        .map_err(CannotRun::Environment)?;
    trading::supervisor::run(context(config, cli, log))
}
