//! The lossless tick ring on real processes: a finite replay many rings
//! long, read by a strategy that is stopped (SIGSTOP) several times
//! mid-run, loses no tick and sends exactly the orders of the data.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};

use common::*;
use trading::bench::pipeline::last_counts;
use trading::shm::PriceTableReader;

/// Ring entries of the test's table: the replay is hundreds of rings long.
const RING: u64 = 256;
/// Rows of the replay.
const ROWS: usize = 100_000;

/// Relays every connection accepted on `listener` to `to`, both ways, on
/// background threads: the orderbook dials it before the gateway exists.
fn relay(listener: TcpListener, to: SocketAddr) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let (Ok(a), Ok(b)) = (conn, TcpStream::connect(to)) else {
                return;
            };
            let pairs = [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)];
            for (mut from, mut into) in pairs {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

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
    env.extend(auth_env());
    env.extend([
        ("TRADING__STRATEGY__AUTH_TOKEN", TOKEN.to_string()),
        ("TRADING__ORDERBOOK__RING_CAPACITY", RING.to_string()),
        // Stops are short; the gateway must not drop the held-back orderbook.
        ("TRADING__GATEWAY__MAX_STALL_MS", "60000".into()),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".into(),
        ),
    ]);

    let mut om = spawn_role(&dir, "ordermanager", &config, &env);
    let orders = Proc::endpoint(&om.ready(), "orders");
    env.push((
        "TRADING__STRATEGY__ORDER_MANAGER_PORT",
        orders.port().to_string(),
    ));
    let md_relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = md_relay.local_addr().unwrap().port();
    env.push(("TRADING__ORDERBOOK__MD_PORT", relay_port.to_string()));
    let mut orderbook = spawn_role(&dir, "orderbook", &config, &env);
    orderbook.ready();
    let table = PriceTableReader::attach(&shm.0).unwrap();
    let mut strategy = spawn_role(&dir, "strategy", &config, &env);
    let spid = strategy.child.id();
    // Registered before the first tick: every tick is kept for it.
    wait_until("the strategy's registration", || {
        table.registered_readers().iter().any(|r| r.pid == spid)
    });
    let mut gateway = spawn_role(&dir, "gateway", &config, &env);
    relay(md_relay, Proc::endpoint(&gateway.ready(), "md"));

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
        strategy.signal(Signal::SIGSTOP);
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
        strategy.signal(Signal::SIGCONT);
    }

    let status = strategy.wait();
    assert!(status.success(), "strategy exit status {status}");
    let strategy_log = dir.read("logs/strategy.log");
    assert_eq!(
        logged(&strategy_log, "final counts", "ticks"),
        Some(ROWS as u64)
    );
    assert_eq!(logged(&strategy_log, "final counts", "lost"), Some(0));
    let got = journal_orders(&dir);
    assert_eq!(got.len(), want.len(), "as many orders as the data predicts");
    assert_eq!(got, want, "exactly the predicted orders, in order");

    assert!(orderbook.wait().success());
    let book_log = dir.read("logs/orderbook.log");
    let waits = logged(&book_log, "final stats", "ring_waits").unwrap();
    assert!(waits >= 3, "one wait per stop at least: {waits}");
    assert!(
        book_log.contains(&format!("reader_pid: {spid}")),
        "the wait names the reader: {book_log}"
    );
    assert!(gateway.wait().success());
    om.terminate();
    assert!(om.wait().success());
}
