//! The market data feed broken on purpose under `--all`: a gateway killed
//! mid-replay, a stalled orderbook the gateway drops, a stopped orderbook
//! whose backlog must not trade. Real processes, real signals.

mod common;

use common::*;
use trading::shm::PriceTableReader;

/// Ticks in the table now (0 while it does not exist).
fn ticks(shm: &ShmName) -> u64 {
    PriceTableReader::attach(&shm.0).map_or(0, |r| r.ticks_written())
}

/// Runs a finite replay of `rows` wavy rows under `--all` with `env` added,
/// calls `fault` once the table holds `after` ticks, and asserts that the
/// run still ends 0 with exactly the orders of an unbroken run.
fn finite_run_survives(
    tag: &str,
    rows: usize,
    after: u64,
    env: &[(&'static str, String)],
    fault: impl FnOnce(&TestDir),
) -> TestDir {
    let dir = TestDir::new();
    let shm = ShmName::new(tag);
    let (csv, data) = wavy_csv(rows);
    let csv_path = dir.write("wavy.csv", &csv);
    let config = dir.config(&shm, "");
    let want = predicted(&data, 3, 8);
    let mut all_env = finite_env(&csv_path, 2_000);
    all_env.extend(env.iter().cloned());
    let mut run = spawn(
        &dir,
        &["--all", "--config", config.to_str().unwrap()],
        &all_env,
    );
    wait_until("ticks in the table", || ticks(&shm) >= after);
    assert!(ticks(&shm) < rows as u64, "the fault must come mid-run");
    fault(&dir);
    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    let got = journal_orders(&dir);
    assert_eq!(got.len(), want.len(), "as many orders as an unbroken run");
    assert_eq!(got, want, "exactly the orders of an unbroken run, in order");
    let mut stdout = Vec::new();
    while let Ok(line) = run.stdout.recv_timeout(TIMEOUT) {
        stdout.push(line);
    }
    let ticks_line = format!("ticks           {rows}");
    assert!(stdout.iter().any(|l| l.trim() == ticks_line), "{stdout:?}");
    assert!(!shm.exists(), "the segment is removed");
    dir
}

/// SIGKILLs `role` once mid-replay (the run must still give exactly its
/// orders, see [`finite_run_survives`]), checks it was started twice and
/// that its successor logged `resumed` once, not from frame 0 (`from_zero`
/// is how that line says 0); returns the run's folder.
fn killed_mid_replay(role: &str, resumed: &str, from_zero: &str) -> TestDir {
    let dir = finite_run_survives(role, 6_000, 1_500, &[], |dir| {
        let pids = child_pids(&dir.read("logs/main.log"), role);
        assert_eq!(pids.len(), 1);
        signal_pid(pids[0], Signal::SIGKILL);
    });
    let main_log = dir.read("logs/main.log");
    assert_eq!(child_pids(&main_log, role).len(), 2, "{main_log}");
    let log = dir.read(&format!("logs/{role}.log"));
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(resumed)).collect();
    assert_eq!(lines.len(), 1, "the second {role} resumed once: {log}");
    assert!(!lines[0].contains(from_zero), "mid-run: {}", lines[0]);
    let ob_log = dir.read("logs/orderbook.log");
    assert!(ob_log.contains("market data feed ended"), "{ob_log}");
    assert!(!ob_log.contains("cut short"), "{ob_log}");
    dir
}

#[test]
fn a_gateway_killed_mid_replay_resumes_and_the_run_gives_exactly_its_orders() {
    killed_mid_replay(
        "gateway",
        "resuming where the subscriber stopped",
        " from: 0,",
    );
}

#[test]
fn an_orderbook_killed_mid_replay_continues_its_table_and_the_run_gives_exactly_its_orders() {
    let dir = killed_mid_replay(
        "orderbook",
        "price table taken over from the previous orderbook",
        "resume_from: 0,",
    );
    let strategy_log = dir.read("logs/strategy.log");
    assert!(
        !strategy_log.contains("price table re-created"),
        "the strategy kept its table: {strategy_log}"
    );
}

#[test]
fn a_stopped_orderbooks_backlog_is_not_traded_and_trading_resumes_by_itself() {
    let dir = TestDir::new();
    let shm = ShmName::new("stale");
    let config = dir.config(&shm, "");
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", "2000".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "2".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "5".into()),
        ("TRADING__STRATEGY__MAX_TICK_AGE_MS", "700".into()),
        ("TRADING__STRATEGY__ORDER_TIMEOUT_MS", "20000".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "30000".into()),
    ]);
    let mut run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    wait_until("a steady order stream", || dir.journal().len() >= 20);
    let orderbook = child_pids(&dir.read("logs/main.log"), "orderbook")[0];
    signal_pid(orderbook, Signal::SIGSTOP);
    // The strategy notices the heartbeat stop after a second: by then the
    // oldest tick waiting in the orderbook's socket is older than 700 ms.
    wait_until("the strategy sees the writer stopped", || {
        dir.read("logs/strategy.log")
            .contains("stopped refreshing its heartbeat")
    });
    signal_pid(orderbook, Signal::SIGCONT);
    wait_until("trading resumes by itself", || {
        dir.read("logs/strategy.log")
            .contains("fresh ticks again: trading resumed")
    });
    let at_resume = dir.journal().len();
    wait_until("orders after the backlog", || {
        dir.journal().len() >= at_resume + 20
    });
    wait_until("the writer seen alive again", || {
        dir.read("logs/strategy.log")
            .contains("the price table's writer is alive again")
    });
    run.terminate();
    assert!(run.wait().success());

    let log = dir.read("logs/strategy.log");
    assert!(
        log.contains("stale ticks: their signals are skipped"),
        "{log}"
    );
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"))
        .expect("final counts");
    let count = |k| field(last, k).and_then(|v| v.parse::<u64>().ok()).unwrap();
    assert!(count("stale_ticks") > 0, "{last}");
    assert!(
        count("skipped_signals") > 0,
        "the backlog made signals: {last}"
    );
    let sent = log.lines().filter(|l| l.contains("order sent")).count() as u64;
    assert_eq!(
        count("sent"),
        sent,
        "a skipped signal is never sent: {last}"
    );
    assert_eq!(dir.journal().len() as u64, sent, "{last}");
    assert!(!shm.exists());
}
