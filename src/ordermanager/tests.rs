//! Actor tests: the sink driven through real loopback connections, raw bytes
//! in, exact bytes out.

use std::time::Duration;

use actix::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::config::Durability;
use crate::lifecycle::{wait_until, GetCounts, Stop};
use crate::logging::discard;
use crate::protocol::RejectReason;

struct Server {
    sink: Addr<OrderSinkActor>,
    addr: std::net::SocketAddr,
    journal: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

fn settings(durability: Durability, group_ms: u64) -> SinkSettings {
    SinkSettings {
        symbols: vec!["AAPL".into(), "MSFT".into()],
        limits: risk::RiskLimits {
            max_order_quantity: 1000,
            max_position: 1500,
            max_position_global: 0,
            price_band_pct: 10.0,
            max_order_notional: 0.0,
            min_price: 0.01,
            max_price: 100_000.0,
        },
        max_orders_per_sec: 1_000_000,
        durability,
        group_commit: Duration::from_millis(group_ms),
        commit_lanes: 2,
        band_table: format!("ut_om_none_{}", std::process::id()),
        positions_every: Duration::ZERO,
        max_reply_backlog: MAX_REPLY_BACKLOG,
        auth: AuthPolicy {
            token: Some(TOKEN.into()),
            required: true,
        },
        max_malformed_in_a_row: 100,
    }
}

const TOKEN: &str = "unit-test-token";

/// A connection authenticated as `name`, its AUTH_OK read.
async fn authed(addr: std::net::SocketAddr, name: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("AUTH,{name},{TOKEN}*").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut c, 8).await, "AUTH_OK*");
    c
}

/// Client sessions on `listener` for `sink`, as the process runs them.
fn serve(listener: TcpListener, sink: &Addr<OrderSinkActor>) {
    let limits = crate::net::SessionLimits {
        max_connections: 64,
        read: crate::net::ReadLimits::frames_only(64),
        cut_linger: Duration::ZERO,
    };
    let to = sink.clone().recipient();
    tokio::spawn(serve_sessions(listener, limits, to, "orders", discard()));
}

async fn server_in(settings: SinkSettings, dir: &std::path::Path) -> Server {
    let path = dir.join("orders.journal");
    let mut r = Recovered::new();
    let (journal, _) = OrderJournal::open(&path, |rec| r.take(rec)).unwrap();
    // A small reserve step, so tests cross it often (the ordermanager's is 1 MiB).
    let journal = journal.reserving(4096);
    let sink = OrderSinkActor::new(settings, journal, r.book, r.seen, discard()).start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(listener, &sink);
    Server {
        sink,
        addr,
        journal: path,
        _dir: None,
    }
}

async fn server_with(settings: SinkSettings) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server_in(settings, dir.path()).await;
    s._dir = Some(dir);
    s
}

async fn server() -> Server {
    server_with(settings(Durability::Group, 1)).await
}

async fn read_exactly(c: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(buf).unwrap()
}

fn journal(s: &Server) -> Vec<JournalRecord> {
    read_journal(&s.journal, 0).unwrap().records
}

#[actix_rt::test]
async fn answers_are_exact_bytes_in_order() {
    let s = server().await;
    let mut c = authed(s.addr, "c1").await;
    c.write_all(b"1,BUY,100,AAPL,10,a1*1,BUY,0,AAPL,10,a2*")
        .await
        .unwrap();
    let want = "ACK,a1*REJ,a2,BAD_QUANTITY*";
    assert_eq!(read_exactly(&mut c, want.len()).await, want);
    let j = journal(&s);
    assert_eq!(j.len(), 2, "both are journaled before they are answered");
    assert_eq!(
        (j[0].outcome, j[1].reason),
        (Outcome::Accepted, Some(RejectReason::BadQuantity))
    );
}

#[actix_rt::test]
async fn split_and_batched_orders_all_count_and_garbage_keeps_the_connection() {
    let s = server().await;
    let mut c = authed(s.addr, "c1").await;
    c.write_all(b"1,SELL,5,MSFT,20,b1*1,BU").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(b"Y,5,MSFT,20,b2*garbage**\xff\xfe*1,BUY,5,MSFT,20,b3*")
        .await
        .unwrap();
    let want = "ACK,b1*ACK,b2*ACK,b3*";
    assert_eq!(read_exactly(&mut c, want.len()).await, want);
    let counts = s.sink.send(GetCounts::<SinkCounts>::new()).await.unwrap();
    assert_eq!(
        (counts.accepted, counts.malformed, counts.rejected),
        (3, 2, 1),
        "the second id-less bad frame of the second waits for its summary"
    );
    let raws: Vec<_> = journal(&s).into_iter().filter_map(|r| r.raw).collect();
    assert_eq!(raws, ["garbage"]);
    drop(c);
    wait_until(
        "the summary of the rest, by the sweep after the disconnect",
        Duration::from_secs(5),
        || {
            let n = journal(&s).len();
            async move { n == 5 }
        },
    )
    .await;
    let raws: Vec<_> = journal(&s).into_iter().filter_map(|r| r.raw).collect();
    assert_eq!(raws, ["garbage", "\u{fffd}\u{fffd}"]);
}

#[actix_rt::test]
async fn a_resent_id_is_answered_again_and_never_executed_twice() {
    let s = server().await;
    let mut c = authed(s.addr, "c1").await;
    c.write_all(b"1,BUY,100,AAPL,10,d1*1,BUY,2000,AAPL,10,d2*")
        .await
        .unwrap();
    let first = "ACK,d1*REJ,d2,MAX_QUANTITY*";
    assert_eq!(read_exactly(&mut c, first.len()).await, first);
    c.write_all(b"2,BUY,100,AAPL,10,d1*2,BUY,2000,AAPL,10,d2*")
        .await
        .unwrap();
    assert_eq!(
        read_exactly(&mut c, first.len()).await,
        first,
        "the recorded answers, again (a resend may carry a new timestamp)"
    );
    let counts = s.sink.send(GetCounts::<SinkCounts>::new()).await.unwrap();
    assert_eq!((counts.accepted, counts.duplicates), (1, 2));
    assert_eq!(journal(&s).len(), 2);
}

#[actix_rt::test]
async fn a_client_without_ids_is_never_written_to() {
    let mut st = settings(Durability::Group, 1);
    st.auth.required = false;
    let s = server_with(st).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"1795571018.5577044,BUY,100,AAPL,186.73*1,SELL,0,AAPL,1*1,SELL,1,ZZZ,1*")
        .await
        .unwrap();
    wait_until(
        "three records are journaled",
        Duration::from_secs(5),
        || {
            let n = journal(&s).len();
            async move { n == 3 }
        },
    )
    .await;
    let reasons: Vec<_> = journal(&s).into_iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            None,
            Some(RejectReason::BadQuantity),
            Some(RejectReason::UnknownSymbol)
        ]
    );
    let mut buf = [0u8; 16];
    let got = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await;
    assert!(
        got.is_err(),
        "the server wrote {got:?} to a client that sends no ids"
    );
}

#[actix_rt::test]
async fn risk_rules_and_the_halt_switch() {
    let s = server().await;
    let mut c = authed(s.addr, "c1").await;
    c.write_all(
        b"1,BUY,1000,AAPL,10,r1*1,BUY,600,AAPL,10,r2*1,SELL,1001,AAPL,10,r3*1,BUY,1,NOPE,1,r4*",
    )
    .await
    .unwrap();
    let want = "ACK,r1*REJ,r2,MAX_POSITION*REJ,r3,MAX_QUANTITY*REJ,r4,UNKNOWN_SYMBOL*";
    assert_eq!(read_exactly(&mut c, want.len()).await, want);
    s.sink.send(SetHalted(true)).await.unwrap();
    c.write_all(b"1,SELL,1,AAPL,10,r5*").await.unwrap();
    assert_eq!(
        read_exactly(&mut c, "REJ,r5,HALTED*".len()).await,
        "REJ,r5,HALTED*"
    );
    s.sink.send(SetHalted(false)).await.unwrap();
    c.write_all(b"1,SELL,1,AAPL,10,r6*").await.unwrap();
    assert_eq!(read_exactly(&mut c, "ACK,r6*".len()).await, "ACK,r6*");
}

#[actix_rt::test]
async fn the_rate_limit_is_per_client() {
    let mut st = settings(Durability::Every, 0);
    st.max_orders_per_sec = 2;
    let s = server_with(st).await;
    let mut a = authed(s.addr, "qa").await;
    a.write_all(b"1,BUY,1,AAPL,10,q1*1,BUY,1,AAPL,10,q2*1,BUY,1,AAPL,10,q3*")
        .await
        .unwrap();
    let want = "ACK,q1*ACK,q2*REJ,q3,RATE_LIMIT*";
    assert_eq!(read_exactly(&mut a, want.len()).await, want);
    let mut b = authed(s.addr, "qb").await;
    b.write_all(b"1,BUY,1,AAPL,10,q4*").await.unwrap();
    assert_eq!(read_exactly(&mut b, "ACK,q4*".len()).await, "ACK,q4*");
}

#[actix_rt::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let s = server().await;
    let mut bad = TcpStream::connect(s.addr).await.unwrap();
    bad.write_all(&[b'x'; 200]).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(10), bad.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed");
    let mut good = authed(s.addr, "good").await;
    good.write_all(b"1,BUY,1,AAPL,10,g1*").await.unwrap();
    assert_eq!(read_exactly(&mut good, 7).await, "ACK,g1*");
}

#[actix_rt::test]
async fn a_restart_recovers_positions_and_answers_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let first = server_in(settings(Durability::Every, 0), dir.path()).await;
    let mut c = authed(first.addr, "c1").await;
    c.write_all(b"1,BUY,100,AAPL,10,p1*1,SELL,40,AAPL,12,p2*1,BUY,0,AAPL,1,p3*")
        .await
        .unwrap();
    let want = "ACK,p1*ACK,p2*REJ,p3,BAD_QUANTITY*";
    assert_eq!(read_exactly(&mut c, want.len()).await, want);
    first.sink.send(Stop).await.unwrap();

    let r = recover(&read_journal(&first.journal, 0).unwrap().records);
    assert_eq!((r.accepted, r.rejected, r.seen.len()), (2, 1, 3));
    assert_eq!(r.book.net("AAPL"), 60);
    assert_eq!(
        r.book.by_symbol["AAPL"].realized().to_string(),
        "80",
        "40 shares sold 2 above cost"
    );

    let second = server_in(settings(Durability::Every, 0), dir.path()).await;
    let mut c = authed(second.addr, "c1").await;
    c.write_all(b"1,BUY,100,AAPL,10,p1*1,BUY,0,AAPL,1,p3*1,SELL,60,AAPL,10,p4*")
        .await
        .unwrap();
    let want = "ACK,p1*REJ,p3,BAD_QUANTITY*ACK,p4*";
    assert_eq!(read_exactly(&mut c, want.len()).await, want);
    let counts = second
        .sink
        .send(GetCounts::<SinkCounts>::new())
        .await
        .unwrap();
    assert_eq!(
        (counts.accepted, counts.duplicates),
        (1, 2),
        "recorded ids are not executed again"
    );
}

#[actix_rt::test]
async fn a_client_that_never_reads_its_answers_is_disconnected() {
    let mut st = settings(Durability::Group, 0);
    st.max_reply_backlog = 4096;
    let s = server_with(st).await;
    // A tiny receive window, so the answers back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(s.addr).await.unwrap();
    let orders: String = std::iter::once(format!("AUTH,slow,{TOKEN}*"))
        .chain((0..20_000).map(|i| format!("1,BUY,1,AAPL,10,s{i}*")))
        .collect();
    // The server may close while we are still writing: that is the point.
    let _ = slow.write_all(orders.as_bytes()).await;
    for _ in 0..1000 {
        if s.sink
            .send(GetCounts::<SinkCounts>::new())
            .await
            .unwrap()
            .slow_clients
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.sink
            .send(GetCounts::<SinkCounts>::new())
            .await
            .unwrap()
            .slow_clients,
        1
    );
    // Everything it sent before the cut was journaled once; others are unaffected.
    let mut good = authed(s.addr, "good").await;
    good.write_all(b"1,SELL,1,AAPL,10,ok1*").await.unwrap();
    assert_eq!(read_exactly(&mut good, "ACK,ok1*".len()).await, "ACK,ok1*");
}

#[test]
fn a_failed_commit_answers_nothing_and_stops_the_system_with_its_code() {
    use std::io::{Read, Write};
    for durability in [Durability::Every, Durability::Group] {
        let system = actix_rt::System::new();
        let addr = system.block_on(async {
            let full = std::fs::OpenOptions::new()
                .append(true)
                .open("/dev/full")
                .unwrap();
            let mut st = settings(durability, 0);
            st.auth.required = false;
            let sink = OrderSinkActor::new(
                st,
                OrderJournal::on_file(full),
                PositionBook::new(),
                Default::default(),
                discard(),
            )
            .start();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            serve(listener, &sink);
            addr
        });
        let client = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(b"1,BUY,1,AAPL,10,f1*1,BUY,1,AAPL,10,f2*")
                .unwrap();
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            got
        });
        assert_eq!(
            system.run_with_code().unwrap(),
            EXIT_JOURNAL_FAILED,
            "{durability:?}"
        );
        assert_eq!(
            String::from_utf8(client.join().unwrap()).unwrap(),
            "",
            "{durability:?}: nothing is answered that is not on disk"
        );
    }
}

#[path = "tests_hostile.rs"]
mod hostile;

#[path = "tests_commit.rs"]
mod commit;

#[actix_rt::test]
async fn auth_ok_does_not_wait_for_a_group_commit() {
    // A one-minute group commit: anything that waited for it would time out.
    let s = server_with(settings(Durability::Group, 60_000)).await;
    let c = tokio::time::timeout(Duration::from_secs(5), authed(s.addr, "quick")).await;
    assert!(c.is_ok(), "AUTH_OK came only with the group commit");
}
