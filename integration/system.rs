//! The whole system as real processes under `--all`.

mod common;

use common::*;

/// Every line the exited run printed on stdout (its reader thread may lag
/// behind the exit, so read until it hangs up).
fn all_stdout(run: &Proc) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = run.stdout.recv_timeout(TIMEOUT) {
        lines.push(line);
    }
    lines
}

#[test]
fn a_finite_run_records_exactly_the_predicted_orders_and_ends_clean() {
    let dir = TestDir::new();
    let shm = ShmName::new("sys");
    let (csv, rows) = wavy_csv(300);
    let csv_path = dir.write("wavy.csv", &csv);
    let config = dir.config(&shm, "");
    let want = predicted(&rows, 3, 8);
    assert!(
        want.len() >= 10,
        "the data should cross often: {}",
        want.len()
    );

    let mut run = spawn(
        &dir,
        &["--all", "--config", config.to_str().unwrap()],
        &finite_env(&csv_path, 0),
    );
    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    let stdout = all_stdout(&run);
    assert!(
        stdout.iter().any(|l| l.contains("run summary")),
        "no summary in {stdout:?}"
    );
    assert!(
        stdout.iter().any(|l| l.trim() == "ticks           300"),
        "{stdout:?}"
    );

    let journal = dir.journal();
    let got: Vec<_> = journal
        .iter()
        .map(|r| (r.symbol.clone().unwrap(), r.side.unwrap(), r.price.unwrap()))
        .collect();
    assert_eq!(
        got, want,
        "the ordermanager recorded exactly the predicted orders, in order"
    );
    assert!(journal
        .iter()
        .all(|r| r.outcome == trading::ordermanager::Outcome::Accepted));
    assert!(
        journal
            .iter()
            .all(|r| r.client_name.as_deref() == Some("strat1")),
        "the strategy authenticated with the run's own token"
    );

    let executed: Vec<String> = dir
        .read("logs/order_manager.log")
        .lines()
        .filter(|l| l.contains("Executed order:"))
        .map(str::to_string)
        .collect();
    assert_eq!(executed.len(), want.len());
    for (line, (sym, side, price)) in executed.iter().zip(&want) {
        assert!(
            line.contains(&format!("] {} 100 {sym} @ {price},", side.as_str())),
            "{line}"
        );
    }
    assert!(!shm.exists(), "the segment is removed");
    let main_log = dir.read("logs/main.log");
    for role in ["gateway", "orderbook", "strategy", "ordermanager"] {
        for pid in child_pids(&main_log, role) {
            assert!(!alive(pid), "{role} (pid {pid}) is still running");
        }
    }
}

#[test]
fn ctrl_c_stops_a_looping_run_cleanly() {
    let dir = TestDir::new();
    let shm = ShmName::new("sigint");
    let config = dir.config(&shm, "");
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", "5000".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        // Generous bounds: on a loaded machine the answers may take a while.
        ("TRADING__STRATEGY__ORDER_TIMEOUT_MS", "20000".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "30000".into()),
    ]);
    let mut run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    wait_until("orders in the journal", || dir.journal().len() >= 5);
    assert!(shm.exists());
    run.signal(Signal::SIGINT);
    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    assert!(!shm.exists(), "the segment is removed");
    let stdout = all_stdout(&run);
    assert!(
        stdout
            .iter()
            .any(|l| l
                .starts_with("restarts        gateway=0 orderbook=0 strategy=0 ordermanager=0")),
        "{stdout:?}"
    );
    let main_log = dir.read("logs/main.log");
    let pids: Vec<u32> = ["gateway", "orderbook", "strategy", "ordermanager"]
        .iter()
        .flat_map(|r| child_pids(&main_log, r))
        .collect();
    assert_eq!(pids.len(), 4, "{main_log}");
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "children left running: {pids:?}"
    );
    // An ordered stop (strategy before ordermanager) answers every order sent.
    let strategy_log = dir.read("logs/strategy.log");
    let last = strategy_log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"));
    assert!(
        last.is_some_and(|l| l.contains(" unanswered: 0,")),
        "{last:?}"
    );
}

/// Environment for an `--all` run that would end quickly by itself if its
/// orderbook could not start: ephemeral ports, no data file needed, short
/// backoff and a small restart budget.
fn failing_run_env() -> Vec<(&'static str, String)> {
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__SUPERVISOR__MAX_RESTARTS", "1".into()),
        ("TRADING__SUPERVISOR__BACKOFF_INITIAL_MS", "10".into()),
        ("TRADING__SUPERVISOR__BACKOFF_MAX_MS", "20".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "5000".into()),
    ]);
    env
}

/// Every child the run's main.log says it started has exited.
fn assert_children_gone(dir: &TestDir) {
    let main_log = dir.read("logs/main.log");
    for role in ["gateway", "orderbook", "strategy", "ordermanager"] {
        for pid in child_pids(&main_log, role) {
            assert!(!alive(pid), "{role} (pid {pid}) is still running");
        }
    }
}

#[test]
fn a_run_on_the_table_of_a_stopped_orderbook_fails_and_leaves_the_table() {
    let dir = TestDir::new();
    let shm = ShmName::new("stopped");
    let config = dir.config(&shm, "");
    // A market data "gateway" that never answers: the orderbook stays connected
    // and idle, and no stranger's port is ever dialled.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let md_port = silent.local_addr().unwrap().port().to_string();
    let mut writer = spawn_role(
        &dir,
        "orderbook",
        &config,
        &[
            ("TRADING__ORDERBOOK__MD_PORT", md_port),
            ("TRADING__ORDERBOOK__STATS_INTERVAL_MS", "100".into()),
        ],
    );
    writer.ready();
    let before = trading::shm::PriceTableReader::attach(&shm.0).unwrap();
    assert_eq!(before.writer_pid(), writer.child.id());
    writer.signal(Signal::SIGSTOP);
    // What the tester saw: the stopped writer's heartbeat goes stale, older
    // than the 2 s after which the supervisor used to call it gone.
    wait_until("a stale heartbeat", || {
        before.writer_status(trading::clock::unix_now_ns(), 2_500_000_000)
            == trading::shm::WriterStatus::Stale
    });

    let mut run = spawn(
        &dir,
        &["--all", "--config", config.to_str().unwrap()],
        &failing_run_env(),
    );
    let status = run.wait();
    assert!(!status.success(), "the run must fail: {status}");

    let after = trading::shm::PriceTableReader::attach(&shm.0).unwrap();
    assert_eq!(after.generation(), before.generation(), "the same table");
    assert_eq!(after.writer_pid(), writer.child.id());
    assert!(
        !dir.read("logs/main.log").contains("price table removed"),
        "{}",
        dir.read("logs/main.log")
    );
    assert_children_gone(&dir);

    writer.signal(Signal::SIGCONT);
    writer.terminate();
    assert!(writer.wait().success());
    assert!(!shm.exists(), "the orderbook removed its own table");
}

#[test]
fn a_run_never_removes_a_file_that_is_not_a_table() {
    let dir = TestDir::new();
    let shm = ShmName::new("garbage");
    let config = dir.config(&shm, "");
    let path = std::path::Path::new("/dev/shm").join(&shm.0);
    std::fs::write(&path, b"someone else's file").unwrap();

    let mut run = spawn(
        &dir,
        &["--all", "--config", config.to_str().unwrap()],
        &failing_run_env(),
    );
    let status = run.wait();
    assert!(!status.success(), "the orderbook cannot start: {status}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
    let main_log = dir.read("logs/main.log");
    assert!(
        main_log.contains("price table name left alone"),
        "{main_log}"
    );
    assert!(
        dir.read("logs/orderbook.log").contains("remove it by hand"),
        "the orderbook says why it cannot start"
    );
    assert_children_gone(&dir);
}

/// An installed binary run in a folder without `config/`: the built-in
/// defaults, said so in the first log line, with `data/` and `logs/` read
/// against that folder.
#[test]
fn a_run_outside_the_repository_uses_the_built_in_defaults_and_its_folder() {
    let dir = TestDir::new();
    let shm = ShmName::new("anywhere");
    let (csv, rows) = wavy_csv(300);
    dir.write("data/market_data.csv", &csv);
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__SYMBOLS", SYMBOLS.join(",")),
        ("TRADING__GATEWAY__LOOP", "false".to_string()),
        ("TRADING__GATEWAY__RATE", "0".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "3".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "8".into()),
        ("TRADING__ORDERBOOK__SHARED_MEMORY_NAME", shm.0.clone()),
        ("TRADING__STRATEGY__SHARED_MEMORY_NAME", shm.0.clone()),
        ("TRADING__ORDERMANAGER__SHARED_MEMORY_NAME", shm.0.clone()),
    ]);
    let mut run = spawn(&dir, &["--all"], &env);
    let status = run.wait();
    assert!(
        status.success(),
        "exit status {status}: {:?}",
        all_stderr(&run)
    );
    let first = dir.read("logs/main.log");
    let first = first.lines().next().unwrap_or_default();
    assert!(
        first.contains("configuration") && first.contains("built-in defaults"),
        "{first}"
    );
    assert!(dir.read("logs/gateway.log").contains("built-in defaults"));
    assert_eq!(journal_orders(&dir), predicted(&rows, 3, 8));
    assert!(!shm.exists(), "the segment is removed");
}

/// The README's fast replay, news included (`use_news = true` by default):
/// news is paced by the replay's ticks, so two runs give the same orders,
/// and some of them.
#[test]
fn the_readmes_fast_replay_with_news_gives_the_same_orders_every_time() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/market_data.csv");
    let run = || {
        let dir = TestDir::new();
        let shm = ShmName::new("newsreplay");
        let config = dir.config(&shm, "");
        let mut env = TestDir::ports_env();
        env.extend([
            ("TRADING__GATEWAY__DATA_PATH", data.display().to_string()),
            ("TRADING__GATEWAY__LOOP", "false".into()),
            ("TRADING__GATEWAY__RATE", "0".into()),
        ]);
        let mut all = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
        let status = all.wait();
        assert!(
            status.success(),
            "exit status {status}: {:?}",
            all_stderr(&all)
        );
        let counts = dir
            .read("logs/strategy.log")
            .lines()
            .find(|l| l.contains("final counts"))
            .map(str::to_string)
            .expect("the strategy's final counts");
        assert!(!shm.exists(), "the segment is removed");
        (journal_orders(&dir), counts)
    };
    let (first, counts) = run();
    assert!(
        counts.contains("news: 399,"),
        "one item per 50 ticks: {counts}"
    );
    assert!(
        first.len() > 100,
        "news and crossovers trade: {}",
        first.len()
    );
    let (second, _) = run();
    assert_eq!(first, second, "the same replay gives the same orders");
}
