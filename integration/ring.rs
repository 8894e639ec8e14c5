//! The lossless tick ring on real processes: a finite `--all` replay many
//! rings long, read by a strategy that is stopped (SIGSTOP) several times
//! mid-run, loses no tick and sends exactly the orders of the data.

mod common;

use common::*;
use trading::bench::pipeline::last_counts;
use trading::shm::PriceTableReader;

/// Ring entries of the test's table: the replay is hundreds of rings long.
const RING: u64 = 256;
/// Rows of the replay.
const ROWS: usize = 100_000;

/// `key: N` of the last `marker` line of a log.
fn logged(log: &str, marker: &str, key: &str) -> Option<u64> {
    let [n] = last_counts(log, marker, [key]);
    n
}

#[test]
fn a_stopped_strategy_holds_the_replay_back_and_loses_no_tick() {
    let dir = TestDir::new();
    let shm = ShmName::new("ring");
    let (csv, data) = wavy_csv(ROWS);
    let csv_path = dir.write("wavy.csv", &csv);
    let config = dir.config(&shm, "");
    let want = predicted(&data, 3, 8);
    let mut env = finite_env(&csv_path, 0);
    env.extend([
        ("TRADING__ORDERBOOK__RING_CAPACITY", RING.to_string()),
        // Stops are short; the gateway must not drop the held-back orderbook.
        ("TRADING__GATEWAY__MAX_STALL_MS", "60000".into()),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".into(),
        ),
    ]);
    let mut run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    // The default configuration: the finite replay starts only once the
    // strategy has registered, so every tick is kept for it from tick 0.
    wait_until("the table", || PriceTableReader::attach(&shm.0).is_ok());
    let table = PriceTableReader::attach(&shm.0).unwrap();
    wait_until("the strategy's registration", || {
        !table.registered_readers().is_empty()
    });
    let spid = table.registered_readers()[0].pid;
    wait_until("the registered reader to be the strategy", || {
        child_pids(&dir.read("logs/main.log"), "strategy") == [spid]
    });
    let cursor = || {
        table
            .registered_readers()
            .iter()
            .find(|r| r.pid == spid)
            .map_or(0, |r| r.next_seq)
    };
    for stop in 0..3 {
        let from = table.ticks_written();
        wait_until("progress", || table.ticks_written() >= from + 4 * RING);
        signal_pid(spid, Signal::SIGSTOP);
        // The orderbook fills the ring up to the stopped reader and waits.
        wait_until("the orderbook to wait for the stopped strategy", || {
            table.ticks_written() == cursor() + RING
        });
        assert!(
            table.ticks_written() < ROWS as u64,
            "stop {stop} must come mid-run"
        );
        let beat = table.heartbeat_ns();
        wait_until("a heartbeat while waiting", || table.heartbeat_ns() > beat);
        assert_eq!(table.ticks_written(), cursor() + RING, "still waiting");
        signal_pid(spid, Signal::SIGCONT);
    }

    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    let strategy_log = dir.read("logs/strategy.log");
    assert_eq!(
        logged(&strategy_log, "final counts", "ticks"),
        Some(ROWS as u64)
    );
    assert_eq!(logged(&strategy_log, "final counts", "lost"), Some(0));
    assert_eq!(
        logged(
            &strategy_log,
            "registered as a ring reader",
            "lossless_from_tick"
        ),
        Some(0),
        "the replay waited for the strategy: {strategy_log}"
    );
    let got = journal_orders(&dir);
    assert_eq!(got.len(), want.len(), "as many orders as the data predicts");
    assert_eq!(got, want, "exactly the predicted orders, in order");

    let book_log = dir.read("logs/orderbook.log");
    let waits = logged(&book_log, "final stats", "ring_waits").unwrap();
    assert!(waits >= 3, "one wait per stop at least: {waits}");
    assert!(
        book_log.contains(&format!("reader_pid: {spid}")),
        "the wait names the reader: {book_log}"
    );
    assert!(!shm.exists(), "the segment is removed");
}
