//! Snapshots from journal records and a real shm table.

use std::sync::Arc;

use super::snapshot::{signal_tick, symbol_view};
use super::*;
use crate::ordermanager::journal::{JournalRecord, Outcome};
use crate::ordermanager::positions::Position;
use crate::price::Price;
use crate::protocol::{RejectReason, Side};
use crate::shm::testutil::Seg;
use crate::shm::{PriceTable, Quote};
use crate::symbol::SymbolIndex;

fn record(
    id: &str,
    side: Side,
    price: &str,
    recv_ns: i64,
    reason: Option<RejectReason>,
) -> JournalRecord {
    JournalRecord {
        recv_ns,
        client_order_id: Some(id.into()),
        client: "127.0.0.1:1".into(),
        side: Some(side),
        quantity: Some(100),
        symbol: Some("AAA".into()),
        price: Some(Price::parse(price).unwrap()),
        outcome: if reason.is_some() {
            Outcome::Rejected
        } else {
            Outcome::Accepted
        },
        reason,
        raw: None,
        client_name: Some("strat1".into()),
        frames: None,
    }
}

fn quote(price: &str) -> Option<Quote> {
    Some(Quote {
        price_units: Price::parse(price).unwrap().units(),
        updates: 1,
        ..Quote::default()
    })
}

#[test]
fn unrealised_pnl_marks_the_open_shares_at_the_last_price() {
    let mut long = Position::default();
    long.fill(Side::Buy, 100, Price::parse("10").unwrap());
    long.fill(Side::Sell, 40, Price::parse("11").unwrap());
    let v = symbol_view("AAA", quote("12.5"), long);
    assert_eq!((v.position, v.avg_cost, v.realized), (60, 10.0, 40.0));
    assert_eq!(v.unrealized, 150.0);
    assert_eq!(v.price, Some(12.5));

    let mut short = Position::default();
    short.fill(Side::Sell, 100, Price::parse("10").unwrap());
    assert_eq!(symbol_view("AAA", quote("9"), short).unrealized, 100.0);
    // No price yet (or a slot never written): nothing to mark against.
    let unwritten = Some(Quote::default());
    assert_eq!(symbol_view("AAA", unwritten, short).price, None);
    assert_eq!(symbol_view("AAA", None, short).unrealized, 0.0);
}

#[test]
fn an_order_id_names_the_ring_position_of_its_signal() {
    assert_eq!(signal_tick("strat1-deadbeef-2a"), Some((0xdead_beef, 42)));
    assert_eq!(signal_tick("my-bot-0000000f-1"), Some((15, 1)));
    for other in ["c-1", "nohyphen", "x-zz-1", "-0000000f-1", "x-0000000f-"] {
        assert_eq!(signal_tick(other), None, "{other}");
    }
}

/// A run of two symbols with a table at `seg` and a journal in `dir`.
fn run(seg: &Seg, dir: &tempfile::TempDir) -> (Dashboard, RunStats, std::path::PathBuf) {
    let env = [
        ("TRADING__SYMBOLS", "AAA,BBB"),
        ("TRADING__ORDERBOOK__SHARED_MEMORY_NAME", seg.0.as_str()),
    ];
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load_with_env(None, Some(env.collect())).unwrap();
    let journal = dir.path().join("orders.journal");
    let dashboard = Dashboard::new(&config);
    let mut stats = RunStats::new(journal.clone(), seg.0.clone());
    stats.tap = Some(dashboard.tap());
    (dashboard, stats, journal)
}

fn append(path: &std::path::Path, records: &[JournalRecord]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for r in records {
        writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
    }
}

#[test]
fn a_snapshot_carries_prices_pnl_latency_and_the_halted_state() {
    let seg = Seg::new();
    let dir = tempfile::tempdir().unwrap();
    let (dashboard, mut stats, journal) = run(&seg, &dir);
    let syms = vec!["AAA".to_string(), "BBB".to_string()];
    let mut table = PriceTable::create(&seg.0, &syms, 1024).unwrap();
    let p = |s: &str| Price::parse(s).unwrap().units();
    let sent = 1_000_000_000;
    table.publish(SymbolIndex(0), p("10"), 1, sent, sent + 5_000);
    table.publish(SymbolIndex(0), p("12"), 2, sent + 1_000, sent + 6_000);
    let gen = table.generation() as u32;
    // The order of tick 1 arrives 250 µs after the gateway sent that tick.
    let id = |seq: u64| format!("strat1-{gen:08x}-{seq:x}");
    append(
        &journal,
        &[record(
            &id(1),
            Side::Buy,
            "12",
            sent + 1_000 + 250_000,
            None,
        )],
    );
    let s = dashboard.publish(&mut stats);
    assert_eq!((s.accepted, s.state), (1, "trading"));
    assert_eq!(s.symbols[0].price, Some(12.0));
    assert_eq!(s.symbols[1].price, None, "BBB never ticked");
    assert_eq!(
        (s.symbols[0].history.as_slice(), s.symbols[1].history.len()),
        (&[12.0][..], 0)
    );
    assert_eq!(s.symbols[0].position, 100);
    table.publish(SymbolIndex(0), p("13"), 3, sent, sent);
    let halted = record(&id(9), Side::Buy, "13", 0, Some(RejectReason::Halted));
    append(&journal, &[halted]);
    let s = dashboard.publish(&mut stats);
    assert_eq!(s.state, "halted");
    assert_eq!(s.symbols[0].history, [12.0, 13.0], "one point per snapshot");
    assert_eq!(s.rejects["HALTED"], 1);
    assert_eq!((s.unrealized_pnl, s.total_pnl), (100.0, 100.0));
    assert_eq!(s.latency.samples, 1);
    assert!((249..=251).contains(&s.latency.p50_us), "{:?}", s.latency);
    // Tick 9 was never written: not guessed.
    assert_eq!(s.latency.unmeasured, 1);
    assert_eq!(s.restarts["gateway"], 0);
    dashboard.restarted(Role::Gateway);
    append(&journal, &[record("c-1", Side::Sell, "13", 0, None)]);
    let s = dashboard.publish(&mut stats);
    assert_eq!(s.state, "trading", "an accepted order ends the halt");
    assert_eq!(s.restarts["gateway"], 1);
    let text = dashboard.metrics.encode();
    assert!(
        text.contains("trading_orders_total{outcome=\"accepted\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("trading_restarts_total{role=\"gateway\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("trading_tick_to_order_latency_seconds_count 1\n"),
        "{text}"
    );
    drop(table);
}

#[test]
fn publishing_wakes_subscribers_and_a_stop_ends_their_streams() {
    let seg = Seg::new();
    let dir = tempfile::tempdir().unwrap();
    let (mut dashboard, mut stats, _) = run(&seg, &dir);
    let mut rx = dashboard.publish.as_ref().unwrap().subscribe();
    let s = dashboard.publish(&mut stats);
    assert!(rx.has_changed().unwrap());
    assert!(Arc::ptr_eq(&rx.borrow_and_update(), &s));
    dashboard.stop();
    assert!(rx.has_changed().is_err(), "the sender is gone");
}

#[test]
fn a_taken_port_is_an_error_naming_the_keys() {
    let seg = Seg::new();
    let dir = tempfile::tempdir().unwrap();
    let (mut dashboard, _, _) = run(&seg, &dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = crate::config::DashboardConfig {
        enabled: true,
        host: "127.0.0.1".into(),
        port: taken.local_addr().unwrap().port(),
    };
    let err = dashboard.serve(&config).unwrap_err();
    assert!(matches!(err, DashboardError::Bind { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("dashboard.host, dashboard.port"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", config.port)),
        "{text}"
    );
}
