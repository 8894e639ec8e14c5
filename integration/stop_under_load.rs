//! A strategy under full load stops by itself within the supervisor's stop
//! timeout, with every order it sent answered or counted as unanswered
//! (issue 11: a flooded strategy used to be killed after ignoring SIGTERM).

mod common;

use common::*;

/// The supervisor's stop timeout for this run: the bound the strategy must
/// stop within. Above the default (5 s) so a loaded test machine running a
/// debug build does not decide the outcome; a strategy that never yields
/// misses any bound.
const STOP_TIMEOUT_MS: u64 = 10_000;

/// Orders in the journal before the stop: well past the start, so the
/// strategy is sending at full speed when it is asked to stop.
const ORDERS_BEFORE_STOP: usize = 2_000;

/// The number `key` of a `final counts` line.
fn count(line: &str, key: &str) -> u64 {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// Runs `--all` looping at `rate = 0` with logs at `level`, stops it with
/// SIGTERM once orders flow at full speed, checks that the strategy stopped
/// by itself within the stop timeout with every order it sent answered or
/// counted as unanswered, and returns the run's directory and the orders
/// the strategy sent.
fn stop_mid_flood(level: &str) -> (TestDir, u64) {
    let dir = TestDir::new();
    let shm = ShmName::new("stopflood");
    let config = dir.config(&shm, "");
    let mut env = random_walk_env(0);
    env.extend([
        ("TRADING__GATEWAY__LOOP", "true".to_string()),
        ("TRADING__LOGS__LEVEL", level.into()),
        (
            "TRADING__SUPERVISOR__STOP_TIMEOUT_MS",
            STOP_TIMEOUT_MS.to_string(),
        ),
    ]);
    let mut run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    wait_until("orders flowing at full speed", || {
        dir.journal().len() >= ORDERS_BEFORE_STOP
    });
    run.terminate();
    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    assert!(!shm.exists(), "the segment is removed");

    let main_log = dir.read("logs/main.log");
    assert!(
        !main_log.contains("child ignored SIGTERM"),
        "a child was killed after the stop timeout:\n{main_log}"
    );
    let strategy_pids = child_pids(&main_log, "strategy");
    assert_eq!(strategy_pids.len(), 1, "{main_log}");
    assert!(!alive(strategy_pids[0]));

    let strategy_log = dir.read("logs/strategy.log");
    let last = strategy_log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"))
        .unwrap_or_else(|| panic!("no final counts line:\n{strategy_log}"));
    let (sent, acked, rejected, unanswered) = (
        count(last, "sent"),
        count(last, "acked"),
        count(last, "rejected"),
        count(last, "unanswered"),
    );
    assert!(sent >= ORDERS_BEFORE_STOP as u64, "{last}");
    assert_eq!(sent, acked + rejected + unanswered, "{last}");
    // The ordermanager decided every answered order (once each) and no
    // order the strategy did not send.
    let from_strategy = dir
        .journal()
        .iter()
        .filter(|r| r.client_order_id.is_some())
        .count() as u64;
    assert!(
        (acked + rejected..=sent).contains(&from_strategy),
        "journal {from_strategy}, {last}"
    );
    (dir, sent)
}

#[test]
fn a_strategy_stopped_mid_flood_with_a_line_per_order_exits_in_time() {
    // Debug level: a line per order sent, ACK and REJ, the heaviest logging
    // the strategy can be asked for; its (blocking) log queue must not keep
    // it from stopping.
    let (dir, _) = stop_mid_flood("debug");
    let strategy_log = dir.read("logs/strategy.log");
    assert!(
        strategy_log.contains("order sent"),
        "debug keeps every order"
    );
}

#[test]
fn a_flood_at_info_level_logs_counts_not_a_line_per_order() {
    let (dir, sent) = stop_mid_flood("info");
    let strategy_log = dir.read("logs/strategy.log");
    let lines = strategy_log.lines().count() as u64;
    assert!(
        !strategy_log.contains("order sent") && !strategy_log.contains("order acked"),
        "per-order lines at info:\n{strategy_log}"
    );
    // Start-up, stop, rate-limited rejects (the first ten, then one a second)
    // and counts lines: a few dozen, far below one per order.
    assert!(
        lines < 200 && lines * 10 < sent,
        "{lines} lines for {sent} orders"
    );
    // Every reject is still counted, logged or not.
    let logged_rejects = strategy_log.matches("WARN order rejected").count();
    let skipped: u64 = strategy_log
        .lines()
        .filter(|l| l.contains("WARN order rejected"))
        .filter_map(|l| field(l, "not_logged_before")?.parse::<u64>().ok())
        .sum();
    let last = strategy_log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"))
        .unwrap();
    let rejected = count(last, "rejected");
    assert!(
        logged_rejects as u64 + skipped <= rejected,
        "{logged_rejects} logged + {skipped} skipped > {rejected} counted"
    );
}
