//! The gateway (and the orderbook behind it) as real processes.

mod common;

use std::io::Read;

use common::*;
use trading::shm::PriceTableReader;
use trading::symbol::SymbolIndex;

/// A CSV of `n` rows over AAPL and MSFT and the exact frames it must become.
fn csv(n: usize) -> (String, String) {
    let mut text = String::from("timestamp,symbol,price\n");
    let mut frames = String::with_capacity(n * 40);
    for i in 0..n {
        let sym = if i % 2 == 0 { "AAPL" } else { "MSFT" };
        let ts = format!(
            "2024-01-02 {:02}:{:02}:{:02}",
            9 + i / 3600 % 10,
            i / 60 % 60,
            i % 60
        );
        let price = format!("{}.{:02}", 100 + i % 50, i % 97);
        text.push_str(&format!("{ts},{sym},{price}\n"));
        let p: trading::price::Price = price.parse().unwrap();
        frames.push_str(&format!("{sym},{p},{ts}*"));
    }
    (text, frames)
}

/// A finite replay of `data` over AAPL and MSFT on ephemeral ports, plus `extra`.
fn replay_env(
    data: &std::path::Path,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = TestDir::ports_env();
    env.push(("TRADING__SYMBOLS", "AAPL,MSFT".to_string()));
    env.push(("TRADING__GATEWAY__DATA_PATH", data.display().to_string()));
    env.push(("TRADING__GATEWAY__LOOP", "false".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

#[test]
fn a_subscriber_that_never_reads_does_not_slow_the_one_that_does() {
    let dir = TestDir::new();
    let shm = ShmName::new("gwslow");
    let (text, want) = csv(300_000);
    let data = dir.write("md.csv", &text);
    let config = dir.config(&shm, "");
    let env = replay_env(
        &data,
        &[
            ("TRADING__GATEWAY__RATE", "0"),
            ("TRADING__GATEWAY__SEND_TIME", "false"),
            ("TRADING__GATEWAY__SUBSCRIBER_QUEUE", "8"),
            ("TRADING__GATEWAY__MAX_STALL_MS", "1000"),
        ],
    );
    let mut gw = spawn_role(&dir, "gateway", &config, &env);
    let md = Proc::endpoint(&gw.ready(), "md");
    // The first subscriber connects and never reads a byte.
    let stalled = std::net::TcpStream::connect(md).unwrap();
    let mut reader = std::net::TcpStream::connect(md).unwrap();
    reader.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::with_capacity(want.len());
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want.as_bytes(),
        "the reader got every tick, in order"
    );
    assert!(
        gw.wait().success(),
        "the gateway exits 0 after a finite replay"
    );
    let log = dir.read("logs/gateway.log");
    assert!(
        log.contains("subscriber dropped: it stopped reading"),
        "{log}"
    );
    assert!(
        log.contains("replay delivered") && log.contains("dropped_subscribers: 1"),
        "{log}"
    );
    drop(stalled);
}

#[test]
fn gateway_and_orderbook_leave_the_last_prices_in_the_table() {
    let dir = TestDir::new();
    let shm = ShmName::new("gwob");
    let (text, _) = csv(1_000);
    let data = dir.write("md.csv", &text);
    let config = dir.config(&shm, "");
    // No strategy here: the finite replay must not wait for a ring reader.
    let mut env = replay_env(
        &data,
        &[
            ("TRADING__GATEWAY__RATE", "50000"),
            ("TRADING__ORDERBOOK__AWAIT_RING_READER", "false"),
        ],
    );
    let mut gw = spawn_role(&dir, "gateway", &config, &env);
    let md = Proc::endpoint(&gw.ready(), "md");
    env.push(("TRADING__ORDERBOOK__MD_PORT", md.port().to_string()));
    let mut ob = spawn_role(&dir, "orderbook", &config, &env);
    assert!(
        ob.wait().success(),
        "the orderbook exits 0 when a finite feed ends"
    );
    assert!(gw.wait().success());
    let table = PriceTableReader::attach(&shm.0).unwrap();
    assert!(table.feed_ended());
    assert_eq!(table.ticks_written(), 1_000);
    // Last rows: i = 998 (AAPL) and 999 (MSFT).
    let price = |i: usize| {
        format!("{}.{:02}", 100 + i % 50, i % 97)
            .parse::<trading::price::Price>()
            .unwrap()
            .units()
    };
    assert_eq!(table.read(SymbolIndex(0)).price_units, price(998));
    assert_eq!(table.read(SymbolIndex(1)).price_units, price(999));
    assert_eq!(
        (
            table.read(SymbolIndex(0)).updates,
            table.read(SymbolIndex(1)).updates
        ),
        (500, 500)
    );
    assert!(
        table.read(SymbolIndex(0)).send_ns > 0,
        "SEND_NS travelled into the slot"
    );
}

#[test]
fn a_finite_replays_news_waits_for_a_subscriber_that_joins_after_the_market_data() {
    let dir = TestDir::new();
    let shm = ShmName::new("gwnews");
    let (text, _) = csv(100);
    let data = dir.write("md.csv", &text);
    let config = dir.config(&shm, "");
    let env = replay_env(
        &data,
        &[
            ("TRADING__GATEWAY__RATE", "0"),
            ("TRADING__GATEWAY__NEWS_EVERY_TICKS", "10"),
        ],
    );
    let mut gw = spawn_role(&dir, "gateway", &config, &env);
    let ready = gw.ready();
    let (md, news) = (Proc::endpoint(&ready, "md"), Proc::endpoint(&ready, "news"));
    let read_all = |addr, first: &[u8]| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut s, first).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        String::from_utf8(got).unwrap()
    };
    // The whole market data stream first, as a strategy late to its news
    // link would see it happen: the replay is over before news is asked for.
    let md_frames = read_all(md, b"#RESUME,0*");
    assert!(md_frames.starts_with("#AT,0*"), "{md_frames}");
    assert!(md_frames.ends_with("#END,100*"), "{md_frames}");
    let ticks = md_frames
        .split('*')
        .filter(|f| f.starts_with("AAPL,") || f.starts_with("MSFT,"));
    assert_eq!(ticks.count(), 100, "every tick: {md_frames}");
    let news_frames = read_all(news, b"");
    let tags: Vec<&str> = news_frames
        .split('*')
        .filter(|f| f.starts_with("#TICK,"))
        .collect();
    let expected: Vec<String> = (1..=9).map(|k| format!("#TICK,{}", k * 10)).collect();
    assert_eq!(tags, expected, "{news_frames}");
    assert!(news_frames.ends_with("#END,9*"), "{news_frames}");
    assert!(gw.wait().success());
    let log = dir.read("logs/gateway.log");
    assert!(
        log.contains("replay delivered, role: gateway, stream: news"),
        "{log}"
    );
}
