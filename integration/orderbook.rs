//! The orderbook as a real process, fed by a stand-in gateway: what it
//! stores in the shm table for frames at the edges of the protocol.

mod common;

use std::io::Write;

use common::*;
use trading::shm::PriceTableReader;

/// 2024-01-02 09:30:00 UTC in ns since the epoch.
const T0: i64 = 1_704_187_800_000_000_000;

#[test]
fn a_tick_dated_past_2262_is_malformed_not_stored_with_a_wrapped_time() {
    let dir = TestDir::new();
    let shm = ShmName::new("obts");
    let config = dir.config(&shm, "");
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    gateway.set_nonblocking(true).unwrap();
    let port = gateway.local_addr().unwrap().port().to_string();
    let mut ob = spawn_role(
        &dir,
        "orderbook",
        &config,
        &[
            ("TRADING__SYMBOLS", "AAPL,MSFT".into()),
            ("TRADING__ORDERBOOK__MD_PORT", port),
        ],
    );
    ob.ready();
    let mut feed = accept_within(&gateway);
    // The tester's frame (year 2263 overflows i64 nanoseconds), the first
    // day out of range, then a good tick of another symbol.
    feed.write_all(
        b"AAPL,123.45,2263-01-01 00:00:00*AAPL,2.5,2200-01-01 00:00:00,1*\
          MSFT,1.5,2024-01-02 09:30:00*",
    )
    .unwrap();

    let table = PriceTableReader::attach(&shm.0).unwrap();
    wait_until("the good tick", || table.ticks_written() >= 1);
    let (aapl, msft) = (
        table.symbol_index("AAPL").unwrap(),
        table.symbol_index("MSFT").unwrap(),
    );
    let q = table.read(msft);
    assert_eq!((q.price_units, q.event_ns, q.updates), (150_000_000, T0, 1));
    assert_eq!(table.read(aapl).updates, 0, "no AAPL tick was stored");
    assert_eq!(table.ticks_written(), 1);

    ob.terminate();
    assert!(ob.wait().success());
    let log = dir.read("logs/orderbook.log");
    assert_eq!(
        log.matches("malformed market data frame").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains(
            "timestamp \"2263-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)"
        ),
        "{log}"
    );
    assert!(!shm.exists(), "the orderbook removed its table on SIGTERM");
}
