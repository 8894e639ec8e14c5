//! A single role's own `/metrics` (`ordermanager.metrics_port = 0`): the
//! exposition parses line by line and its counters match what was sent.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::*;

/// Every sample line of a text exposition, `name{labels}` → value; panics
/// on a line that is neither a sample, a `#` comment nor the final `# EOF`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF in\n{text}");
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        assert!(
            samples.insert(key.to_string(), value).is_none(),
            "{key} twice"
        );
    }
    samples
}

/// The value of sample `key`; panics naming it when it is missing.
fn sample(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing from {samples:?}"))
}

#[test]
fn the_ordermanager_serves_its_orders_rejects_fsyncs_and_connections() {
    let dir = TestDir::new();
    let shm = ShmName::new("ommetrics");
    let config = dir.config(&shm, "");
    let mut env = auth_env();
    env.extend([
        ("TRADING__ORDERMANAGER__PORT", "0".to_string()),
        ("TRADING__ORDERMANAGER__METRICS_PORT", "0".into()),
        // One commit, so one fdatasync, per record: the histogram's count
        // is then exactly the number of orders.
        ("TRADING__ORDERMANAGER__DURABILITY", "every".into()),
    ]);
    let mut om = spawn_role(&dir, "ordermanager", &config, &env);
    let eps = om.ready();
    let (orders, metrics) = (
        Proc::endpoint(&eps, "orders"),
        Proc::endpoint(&eps, "metrics"),
    );
    let before = parse(&http_get(metrics, "/metrics"));
    assert_eq!(before["trading_journal_fsync_seconds_count"], 0.0);

    let sent = "1,BUY,10,AAPL,100.5,a1*1,SELL,5,AAPL,101,a2*1,BUY,1,MSFT,300,a3*\
                1,BUY,999999,AAPL,100,q1*1,HOLD,1,AAPL,100,s1*";
    let want = "ACK,a1*ACK,a2*ACK,a3*REJ,q1,MAX_QUANTITY*REJ,s1,BAD_SIDE*";
    let mut client = connect_as(orders, "met1", sent.as_bytes());
    let mut got = vec![0u8; want.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), want);

    let after = parse(&http_get(metrics, "/metrics"));
    let get = |key: &str| sample(&after, key);
    assert_eq!(get("trading_orders_total{outcome=\"accepted\"}"), 3.0);
    assert_eq!(get("trading_orders_total{outcome=\"rejected\"}"), 2.0);
    assert_eq!(get("trading_rejects_total{reason=\"MAX_QUANTITY\"}"), 1.0);
    assert_eq!(get("trading_rejects_total{reason=\"BAD_SIDE\"}"), 1.0);
    assert_eq!(get("trading_journal_fsync_seconds_count"), 5.0);
    assert_eq!(
        get("trading_journal_fsync_seconds_bucket{le=\"+Inf\"}"),
        5.0
    );
    assert!(get("trading_journal_fsync_seconds_sum") > 0.0);
    assert_eq!(get("trading_connections"), 1.0);
    assert_eq!(get("trading_connections_opened_total"), 1.0);
    assert_eq!(dir.journal().len(), 5, "the journal holds what was counted");

    drop(client);
    om.terminate();
    assert!(om.wait().success());
    assert!(!shm.exists());
    let log = dir.read("logs/order_manager.log");
    assert!(log.contains("metrics listening"), "{log}");
}

#[test]
fn the_orderbook_serves_its_ticks_malformed_frames_and_ring_lag() {
    use std::io::Write;
    let dir = TestDir::new();
    let shm = ShmName::new("obmetrics");
    let config = dir.config(&shm, "");
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    gateway.set_nonblocking(true).unwrap();
    let port = gateway.local_addr().unwrap().port().to_string();
    let env = [
        ("TRADING__SYMBOLS", "AAPL,MSFT".to_string()),
        ("TRADING__ORDERBOOK__MD_PORT", port),
        ("TRADING__ORDERBOOK__METRICS_PORT", "0".into()),
    ];
    let mut ob = spawn_role(&dir, "orderbook", &config, &env);
    let metrics = Proc::endpoint(&ob.ready(), "metrics");
    // A ring reader that reads nothing: every tick written is lag.
    let table = trading::shm::PriceTableReader::attach(&shm.0).unwrap();
    let reader = table
        .register_ring_reader(&table.cursor_from_oldest())
        .unwrap();
    let mut feed = accept_within(&gateway);
    feed.write_all(
        b"AAPL,100.5,2024-01-02 09:30:00*not a tick*MSFT,300,2024-01-02 09:30:01*\
          AAPL,101,2024-01-02 09:30:02*",
    )
    .unwrap();
    wait_until("the three good ticks", || table.ticks_written() >= 3);

    let samples = parse(&http_get(metrics, "/metrics"));
    let get = |key: &str| sample(&samples, key);
    assert_eq!(get("trading_ticks_total"), 3.0);
    assert_eq!(get("trading_malformed_frames_total"), 1.0);
    assert_eq!(get("trading_ring_waits_total"), 0.0);
    assert_eq!(get("trading_ring_readers"), 1.0);
    assert_eq!(get("trading_ring_lag_ticks"), 3.0);

    drop(reader);
    drop(table);
    ob.terminate();
    assert!(ob.wait().success());
    assert!(!shm.exists());
}

#[test]
fn the_strategy_serves_the_ticks_it_read() {
    use std::io::Write;
    let dir = TestDir::new();
    let shm = ShmName::new("stmetrics");
    let config = dir.config(&shm, "");
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    gateway.set_nonblocking(true).unwrap();
    // An ordermanager that never answers: orders stay unanswered.
    let silent_om = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let env = [
        ("TRADING__SYMBOLS", "AAPL,MSFT".to_string()),
        (
            "TRADING__ORDERBOOK__MD_PORT",
            gateway.local_addr().unwrap().port().to_string(),
        ),
        (
            "TRADING__STRATEGY__ORDER_MANAGER_PORT",
            silent_om.local_addr().unwrap().port().to_string(),
        ),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__METRICS_PORT", "0".into()),
    ];
    let mut ob = spawn_role(&dir, "orderbook", &config, &env);
    ob.ready();
    let mut st = spawn_role(&dir, "strategy", &config, &env);
    let metrics = Proc::endpoint(&st.ready(), "metrics");
    let mut feed = accept_within(&gateway);
    let ticks: String = (0..5)
        .map(|i| format!("AAPL,10{i},2024-01-02 09:30:0{i}*"))
        .collect();
    feed.write_all(ticks.as_bytes()).unwrap();
    let read = || {
        let samples = parse(&http_get(metrics, "/metrics"));
        sample(&samples, "trading_strategy_ticks_total{what=\"read\"}")
    };
    wait_until("the strategy read the five ticks", || read() >= 5.0);
    let samples = parse(&http_get(metrics, "/metrics"));
    assert_eq!(
        sample(&samples, "trading_strategy_ticks_total{what=\"read\"}"),
        5.0
    );
    assert_eq!(
        sample(&samples, "trading_strategy_ticks_total{what=\"lost\"}"),
        0.0
    );

    st.terminate();
    st.wait();
    ob.terminate();
    assert!(ob.wait().success());
    assert!(!shm.exists());
}
