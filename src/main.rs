//! The one binary of the trading stack: any single role, or all of them supervised.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use trading::config::Config;
use trading::lifecycle::{exit_for, CannotRun, Exit, Role, RoleContext};

/// A multi-process trading stack: gateway → orderbook → strategy → ordermanager.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
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
    #[arg(long, value_name = "PATH", default_value = "config/default.toml")]
    config: PathBuf,

    /// Write a random-walk market data CSV (timestamp,symbol,price) for the
    /// configured symbols to PATH and exit.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["role", "all"])]
    generate_csv: Option<PathBuf>,

    /// Number of ticks --generate-csv writes.
    #[arg(long, default_value_t = 20_000, requires = "generate_csv")]
    ticks: u64,

    /// Stop when stdin closes (used by the supervisor for its children).
    #[arg(long, hide = true)]
    exit_with_parent: bool,

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
    let config = match Config::load(Some(&cli.config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Config.code());
        }
    };
    let result = if let Some(path) = &cli.generate_csv {
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

fn context(config: Config, cli: &Cli, log: slog::Logger) -> RoleContext {
    RoleContext {
        config,
        config_path: Some(cli.config.clone()),
        log,
        watch_parent: cli.exit_with_parent,
    }
}

fn run_role(role: Role, config: Config, cli: &Cli) -> anyhow::Result<()> {
    let (log, _guard) = trading::logging::init(
        &config.logs.dir,
        role.log_file(),
        role.name(),
        &config.logs.level,
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
    let (log, _guard) = trading::logging::init(
        &config.logs.dir,
        "main.log",
        "supervisor",
        &config.logs.level,
        false,
    )
    .context("opening the log file (logs.dir)")
    .map_err(CannotRun::Environment)?;
    trading::supervisor::run(context(config, cli, log))
}
