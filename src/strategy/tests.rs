//! Actor tests: a real shm table stands in for the orderbook, a loopback
//! listener for the ordermanager, and news arrives as messages.

use std::time::Duration;

use actix::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::*;
use crate::lifecycle::{wait_until, GetCounts, Shutdown, Stop};
use crate::logging::discard;
use crate::net::{ConnId, LinkEvent, NetEvent};
use crate::protocol::{parse_order, FrameSplitter};
use crate::shm::testutil::Seg;
use crate::shm::PriceTable;
use crate::signals::{SignalEngine, SignalParams};
use crate::symbol::SymbolIndex;

fn symbols() -> Vec<String> {
    vec!["AAPL".into(), "MSFT".into()]
}

fn params(use_news: bool) -> SignalParams {
    SignalParams {
        short_window: 2,
        long_window: 3,
        bullish_threshold: 70,
        bearish_threshold: 30,
        use_news,
    }
}

/// Prices (whole units) with crossovers for windows 2/3: BUY at index 3, SELL at index 5.
const PRICES: [i64; 6] = [3, 2, 1, 4, 4, 1];

struct Harness {
    seg: Seg,
    table: PriceTable,
    addr: actix::Addr<SignalActor>,
    done: oneshot::Receiver<()>,
    listener: TcpListener,
    _trigger: crate::lifecycle::ShutdownTrigger,
}

/// How long the tests wait for something the actor does in the background.
const PATIENCE: Duration = Duration::from_secs(10);

/// Settings with ids (`order_ids`) or without, and a timeout no test reaches.
fn settings(order_ids: bool) -> StrategySettings {
    StrategySettings {
        client_name: "t".into(),
        order_ids,
        quantity: 10,
        order_timeout: Duration::from_secs(60),
        symbols: symbols(),
        max_tick_age: None,
        auth_token: None,
        max_unanswered: 4096,
    }
}

/// A SignalActor on a fresh table, with ids (`order_ids`) or without.
fn actor(
    seg: &Seg,
    use_news: bool,
    order_ids: bool,
) -> (PriceTable, actix::Addr<SignalActor>, oneshot::Receiver<()>) {
    actor_with(seg, use_news, settings(order_ids))
}

/// A SignalActor on a fresh table with these settings.
fn actor_with(
    seg: &Seg,
    use_news: bool,
    settings: StrategySettings,
) -> (PriceTable, actix::Addr<SignalActor>, oneshot::Receiver<()>) {
    let table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let reader = crate::shm::PriceTableReader::attach_expecting(&seg.0, &symbols()).unwrap();
    let engine = SignalEngine::new(2, &params(use_news)).unwrap();
    let (done_tx, done) = oneshot::channel();
    let addr = SignalActor::new(settings, reader, engine, discard(), done_tx)
        .unwrap()
        .start();
    (table, addr, done)
}

/// Links the actor's orders to `listener` (a mock ordermanager).
fn link(
    addr: &actix::Addr<SignalActor>,
    listener: &TcpListener,
) -> crate::lifecycle::ShutdownTrigger {
    let (shutdown, trigger) = Shutdown::manual();
    let mut cfg = crate::config::Config::load_with_env(None, Some(Default::default())).unwrap();
    cfg.strategy.order_manager_port = listener.local_addr().unwrap().port();
    let settings = links::order_link_settings(&cfg);
    crate::net::ClientLink::<Orders>::new(settings, addr.clone().recipient(), shutdown, discard())
        .start();
    trigger
}

async fn start(use_news: bool) -> Harness {
    let seg = Seg::new();
    let (table, addr, done) = actor(&seg, use_news, true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trigger = link(&addr, &listener);
    Harness {
        seg,
        table,
        addr,
        done,
        listener,
        _trigger: trigger,
    }
}

/// The actor's counters now.
async fn counts(addr: &actix::Addr<SignalActor>) -> StrategyCounts {
    addr.send(GetCounts::<StrategyCounts>::new()).await.unwrap()
}

/// Waits until the actor's counters satisfy `cond`; panics naming `what` if
/// they never do, so no test goes on after a silently expired wait.
async fn wait_for_counts(
    addr: &actix::Addr<SignalActor>,
    what: &str,
    cond: impl Fn(&StrategyCounts) -> bool,
) {
    let cond = &cond;
    wait_until(what, PATIENCE, || async move { cond(&counts(addr).await) }).await;
}

fn publish(table: &mut PriceTable, symbol: usize, prices: &[i64]) {
    for &p in prices {
        table.publish(SymbolIndex::new(symbol), p * 100_000_000, 0, 0, 0);
    }
    table.notify_readers();
}

/// Reads `n` order frames from the mock ordermanager: (id, side, price).
async fn read_orders(conn: &mut TcpStream, n: usize) -> Vec<(String, String, String)> {
    read_frames(conn, n)
        .await
        .iter()
        .map(|f| {
            let o = parse_order(f.as_bytes()).unwrap();
            (
                o.client_order_id.unwrap().to_string(),
                o.side.as_str().to_string(),
                o.price.to_string(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn crossovers_become_orders_with_ids_from_the_tick_and_a_finite_run_ends() {
    let mut h = start(false).await;
    let gen = format!("{:08x}", h.table.generation() as u32);
    publish(&mut h.table, 0, &PRICES);
    let (mut conn, _) = h.listener.accept().await.unwrap();
    let got = read_orders(&mut conn, 2).await;
    assert_eq!(
        got,
        [
            (format!("t-{gen}-3"), "BUY".to_string(), "4".to_string()),
            (format!("t-{gen}-5"), "SELL".to_string(), "1".to_string())
        ]
    );
    h.table.mark_feed_ended();
    h.table.notify_readers();
    conn.write_all(format!("ACK,t-{gen}-3*REJ,t-{gen}-5,MAX_POSITION*").as_bytes())
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, &mut h.done)
        .await
        .unwrap()
        .unwrap();
    let _ = h.seg;
}

#[actix_rt::test]
async fn unanswered_orders_are_resent_with_the_same_ids_after_a_reconnect() {
    let mut h = start(false).await;
    publish(&mut h.table, 0, &PRICES);
    publish(&mut h.table, 1, &PRICES);
    let (mut first, _) = h.listener.accept().await.unwrap();
    let sent = read_orders(&mut first, 4).await;
    first
        .write_all(format!("ACK,{}*", sent[0].0).as_bytes())
        .await
        .unwrap();
    // Let the ACK land before the connection drops.
    wait_for_counts(&h.addr, "the ACK is counted", |c| c.orders.acked == 1).await;
    drop(first);
    let (mut second, _) = h.listener.accept().await.unwrap();
    let resent = read_orders(&mut second, 3).await;
    assert_eq!(
        resent,
        sent[1..],
        "exactly the unanswered, same ids, same order"
    );
    let acks: String = resent.iter().map(|o| format!("ACK,{}*", o.0)).collect();
    second.write_all(acks.as_bytes()).await.unwrap();
    h.table.mark_feed_ended();
    h.table.notify_readers();
    tokio::time::timeout(PATIENCE, &mut h.done)
        .await
        .unwrap()
        .unwrap();
}

#[actix_rt::test]
async fn agreeing_news_after_a_crossover_yields_exactly_one_order() {
    let mut h = start(true).await;
    publish(&mut h.table, 0, &PRICES[..4]); // BUY crossover at index 3, news still HOLD
    let (mut conn, _) = h.listener.accept().await.unwrap();
    wait_for_counts(&h.addr, "the four ticks are consumed", |c| {
        c.input.ticks == 4
    })
    .await;
    assert_eq!(
        counts(&h.addr).await.orders.sent,
        0,
        "the crossover waits for news"
    );
    for read in [&b"AAPL,10*MSFT,95*APPL,90*"[..], b"AAPL,90*AAPL,95*"] {
        let frames = crate::protocol::FrameBatch::split(read, 1024).unwrap();
        let event = NetEvent::<News>::new(ConnId(1), LinkEvent::Frames(frames));
        h.addr.send(event).await.unwrap();
    }
    // AAPL,10 disagrees; MSFT,95 has no pending signal; APPL is unknown;
    // AAPL,90 (in the next read) agrees: the order; AAPL,95 agrees again: nothing.
    let got = read_orders(&mut conn, 1).await;
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str()),
        ("BUY", "4"),
        "priced at the symbol's last tick"
    );
    let c = counts(&h.addr).await;
    assert_eq!(
        (c.orders.sent, c.input.news),
        (1, 4),
        "one order per price signal: {c:?}"
    );
}

#[actix_rt::test]
async fn without_ids_orders_use_the_original_five_fields_and_need_no_answer() {
    let seg = Seg::new();
    let (mut table, addr, done) = actor(&seg, false, false);
    // Orders made before the ordermanager is reachable wait, then go out on connect.
    publish(&mut table, 0, &PRICES);
    table.mark_feed_ended();
    table.notify_readers();
    wait_for_counts(&addr, "both orders are made, untracked", |c| {
        c.orders.sent == 2 && c.unanswered == 0
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _trigger = link(&addr, &listener);
    let (mut conn, _) = listener.accept().await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while text.matches('*').count() < 2 {
        let n = tokio::time::timeout(PATIENCE, conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    let orders: Vec<Vec<&str>> = text
        .split('*')
        .filter(|f| !f.is_empty())
        .map(|f| f.split(',').collect())
        .collect();
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o.len() == 5), "{text}");
    assert_eq!((orders[0][1], orders[0][4]), ("BUY", "4"));
    assert_eq!((orders[1][1], orders[1][4]), ("SELL", "1"));
    // Nothing to wait for: the finite run ends without any answer.
    tokio::time::timeout(PATIENCE, done).await.unwrap().unwrap();
}

/// Reads the two orders of [`PRICES`] from a fresh connection of `h`.
async fn two_orders(h: &mut Harness) -> (TcpStream, Vec<(String, String, String)>) {
    publish(&mut h.table, 0, &PRICES);
    let (mut conn, _) = h.listener.accept().await.unwrap();
    let sent = read_orders(&mut conn, 2).await;
    (conn, sent)
}

#[actix_rt::test]
async fn a_stop_waits_for_the_answers_to_sent_orders() {
    let mut h = start(false).await;
    let (mut conn, sent) = two_orders(&mut h).await;
    h.addr.send(Stop).await.unwrap();
    conn.write_all(format!("ACK,{}*", sent[0].0).as_bytes())
        .await
        .unwrap();
    wait_for_counts(&h.addr, "the first answer is counted", |c| {
        c.orders.acked == 1
    })
    .await;
    assert!(h.done.try_recv().is_err(), "one order is still unanswered");
    // A stopping strategy takes no new signals.
    publish(&mut h.table, 1, &PRICES);
    conn.write_all(format!("REJ,{},HALTED*", sent[1].0).as_bytes())
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, &mut h.done)
        .await
        .unwrap()
        .unwrap();
    // The actor is gone, so its writer ends; nothing came after the stop.
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, conn.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[actix_rt::test]
async fn a_stop_gives_up_on_unanswered_orders_after_the_order_timeout() {
    let seg = Seg::new();
    let timeout = Duration::from_millis(300);
    let (table, addr, done) = actor_with(
        &seg,
        false,
        StrategySettings {
            order_timeout: timeout,
            ..settings(true)
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _trigger = link(&addr, &listener);
    let mut h = Harness {
        seg,
        table,
        addr,
        done,
        listener,
        _trigger,
    };
    let (_conn, _) = two_orders(&mut h).await;
    let asked = std::time::Instant::now();
    h.addr.send(Stop).await.unwrap();
    tokio::time::timeout(PATIENCE, &mut h.done)
        .await
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() >= timeout,
        "stopped before the order timeout"
    );
}

#[actix_rt::test]
async fn a_stop_without_an_order_connection_is_immediate() {
    let seg = Seg::new();
    let (mut table, addr, done) = actor(&seg, false, true);
    publish(&mut table, 0, &PRICES);
    wait_for_counts(&addr, "both orders are made", |c| c.unanswered == 2).await;
    addr.send(Stop).await.unwrap();
    tokio::time::timeout(PATIENCE, done).await.unwrap().unwrap();
}

/// The next `n` frames on `conn`, as text.
async fn read_frames(conn: &mut TcpStream, n: usize) -> Vec<String> {
    let mut s = FrameSplitter::new(1024);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while out.len() < n {
        let k = tokio::time::timeout(PATIENCE, conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(k > 0, "connection closed after {out:?}");
        s.push(&buf[..k]);
        while let Ok(Some(f)) = s.next_frame() {
            out.push(String::from_utf8(f.to_vec()).unwrap());
        }
    }
    out
}

#[actix_rt::test]
async fn auth_goes_first_on_every_connection_before_the_resends() {
    let seg = Seg::new();
    let with_token = StrategySettings {
        auth_token: Some("tok".into()),
        ..settings(true)
    };
    let (mut table, addr, _done) = actor_with(&seg, false, with_token);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _trigger = link(&addr, &listener);
    publish(&mut table, 0, &PRICES);
    let (mut first, _) = listener.accept().await.unwrap();
    let got = read_frames(&mut first, 3).await;
    assert_eq!(got[0], "AUTH,t,tok");
    assert!(
        got[1..].iter().all(|f| parse_order(f.as_bytes()).is_ok()),
        "{got:?}"
    );
    first.write_all(b"AUTH_OK*").await.unwrap();
    drop(first);
    let (mut second, _) = listener.accept().await.unwrap();
    let again = read_frames(&mut second, 3).await;
    assert_eq!(again, got, "AUTH, then the unanswered orders, same ids");
}

#[cfg(test)]
#[path = "tests_fresh.rs"]
mod fresh;

#[cfg(test)]
#[path = "tests_table.rs"]
mod table;

#[actix_rt::test]
async fn ticks_wait_while_max_unanswered_orders_are_in_flight() {
    let seg = Seg::new();
    let one = StrategySettings {
        max_unanswered: 1,
        ..settings(true)
    };
    let (mut table, addr, _done) = actor_with(&seg, false, one);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _trigger = link(&addr, &listener);
    let (mut conn, _) = listener.accept().await.unwrap();
    let gen = format!("{:08x}", table.generation() as u32);
    publish(&mut table, 0, &PRICES);
    let first = read_orders(&mut conn, 1).await;
    assert_eq!(first[0].0, format!("t-{gen}-3"));
    // The BUY at tick 3 is unanswered: tick 4 is not read, even after the
    // housekeeping timer's drains.
    wait_for_counts(&addr, "ticks up to the first order", |c| c.input.ticks == 4).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        counts(&addr).await.input.ticks,
        4,
        "held while one is in flight"
    );
    conn.write_all(format!("ACK,t-{gen}-3*").as_bytes())
        .await
        .unwrap();
    let second = read_orders(&mut conn, 1).await;
    assert_eq!(second[0].0, format!("t-{gen}-5"));
    wait_for_counts(&addr, "every tick read", |c| {
        c.input.ticks == PRICES.len() as u64
    })
    .await;
}
