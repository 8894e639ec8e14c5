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
    let get = |key: &str| {
        *after
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {after:?}"))
    };
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
