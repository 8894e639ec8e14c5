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

#[test]
fn the_gateway_serves_its_frames_and_subscribers_per_stream() {
    let dir = TestDir::new();
    let shm = ShmName::new("gwmetrics");
    let rows = 500;
    let mut csv = String::from("timestamp,symbol,price\n");
    for i in 0..rows {
        let symbol = ["AAPL", "MSFT"][i % 2];
        csv.push_str(&format!(
            "2024-01-02 09:30:00.{i:03},{symbol},{}.25\n",
            100 + i
        ));
    }
    let data = dir.write("md.csv", &csv);
    let config = dir.config(&shm, "");
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__SYMBOLS", "AAPL,MSFT".to_string()),
        ("TRADING__GATEWAY__DATA_PATH", data.display().to_string()),
        // A finite replay ends the process once delivered, leaving nothing
        // to scrape: the replay loops, and the reader stops after one pass.
        ("TRADING__GATEWAY__LOOP", "true".into()),
        ("TRADING__GATEWAY__RATE", "0".into()),
        ("TRADING__GATEWAY__NEWS_RATE", "0".into()),
        ("TRADING__GATEWAY__SEND_TIME", "false".into()),
        // The reader pauses while we scrape: it must not be dropped for it.
        ("TRADING__GATEWAY__MAX_STALL_MS", "600000".into()),
        ("TRADING__GATEWAY__METRICS_PORT", "0".into()),
    ]);
    let mut gw = spawn_role(&dir, "gateway", &config, &env);
    let eps = gw.ready();
    let names: Vec<&str> = eps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["md", "news", "metrics"], "md= and news= stay first");
    let (md, metrics) = (Proc::endpoint(&eps, "md"), Proc::endpoint(&eps, "metrics"));
    let before = parse(&http_get(metrics, "/metrics"));
    assert_eq!(
        sample(&before, "trading_gateway_frames_total{stream=\"md\"}"),
        0.0,
        "the stream starts with its first subscriber"
    );

    let mut reader = std::net::TcpStream::connect(md).unwrap();
    reader
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut frames = 0;
    let mut chunk = [0u8; 4096];
    while frames < rows {
        let n = reader.read(&mut chunk).expect("md frames");
        assert!(n > 0, "the md stream closed after {frames} frames");
        got.extend_from_slice(&chunk[..n]);
        frames = got.iter().filter(|&&b| b == b'*').count();
    }
    let first_pass: Vec<&[u8]> = got.split(|&b| b == b'*').take(rows).collect();
    assert!(
        first_pass[0].starts_with(b"AAPL,100.25,"),
        "{:?}",
        &got[..40]
    );
    assert!(first_pass[rows - 1].starts_with(b"MSFT,599.25,"));

    let samples = parse(&http_get(metrics, "/metrics"));
    let get = |key: &str| sample(&samples, key);
    // The looping feed runs ahead of the reader by what it has queued, so
    // every frame read is counted and perhaps more.
    assert!(get("trading_gateway_frames_total{stream=\"md\"}") >= rows as f64);
    assert_eq!(get("trading_gateway_subscribers{stream=\"md\"}"), 1.0);
    assert_eq!(
        get("trading_gateway_subscribers_dropped_total{stream=\"md\"}"),
        0.0
    );
    assert_eq!(get("trading_gateway_subscribers{stream=\"news\"}"), 0.0);
    assert_eq!(get("trading_gateway_frames_total{stream=\"news\"}"), 0.0);

    drop(reader);
    gw.terminate();
    assert!(gw.wait().success());
    assert!(!shm.exists());
    let log = dir.read("logs/gateway.log");
    assert!(log.contains("metrics listening"), "{log}");
}
