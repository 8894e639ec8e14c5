//! Actor tests of the commit pipeline: one turn per client per commit,
//! whatever its connections, and every order answered once.

use super::*;

/// Frames of one turn in these tests.
const PER_TURN: usize = 4;

/// A sink whose sessions hand over at most [`PER_TURN`] frames a turn.
async fn server_in_turns() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recovered::new();
    let path = dir.path().join("orders.journal");
    let (journal, _) = OrderJournal::open(&path, |rec| r.take(rec)).unwrap();
    let st = settings(Durability::Group, 0);
    let sink = OrderSinkActor::new(st, journal, r.book, r.seen, discard()).start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = crate::net::SessionLimits {
        max_connections: 8,
        read: crate::net::ReadLimits {
            frames_per_turn: PER_TURN,
            ..crate::net::ReadLimits::frames_only(64)
        },
        cut_linger: Duration::ZERO,
    };
    let to = sink.clone().recipient();
    tokio::spawn(serve_sessions(listener, limits, to, "orders", discard()));
    let s = Server {
        sink,
        addr,
        journal: path,
        _dir: None,
    };
    (s, dir)
}

/// The answers to `n` orders on `c`.
async fn answers(c: &mut TcpStream, n: usize) -> Vec<String> {
    let text = read_exactly(c, n * "ACK,x0-00*".len()).await;
    text.split_terminator('*').map(str::to_string).collect()
}

#[actix_rt::test]
async fn a_client_gets_one_turn_per_commit_over_all_its_connections() {
    let (s, _dir) = server_in_turns().await;
    // One client on two connections, each sending 40 orders in one write
    // (ten turns each), and another client's single order.
    let mut floods = Vec::new();
    for c in 0..2 {
        let mut conn = authed(s.addr, "flood").await;
        let orders: String = (0..40)
            .map(|i| format!("1,BUY,1,MSFT,10,x{c}-{i:02}*"))
            .collect();
        conn.write_all(orders.as_bytes()).await.unwrap();
        floods.push(conn);
    }
    let mut good = authed(s.addr, "good").await;
    good.write_all(b"1,BUY,1,AAPL,10,g0-00*").await.unwrap();
    assert_eq!(answers(&mut good, 1).await, ["ACK,g0-00"]);
    for (c, conn) in floods.iter_mut().enumerate() {
        let want: Vec<String> = (0..40).map(|i| format!("ACK,x{c}-{i:02}")).collect();
        assert_eq!(answers(conn, 40).await, want, "connection {c}");
    }
    let counts = s.sink.send(GetCounts::<SinkCounts>::new()).await.unwrap();
    assert_eq!(counts.accepted, 81);
    assert_eq!(journal(&s).len(), 81, "every order recorded once");
    assert!(
        counts.largest_commit <= (PER_TURN + 1) as u64,
        "one turn of the flooding client and the good order at most: {counts:?}"
    );
    assert!(counts.commits >= (80 / PER_TURN) as u64, "{counts:?}");
}

/// A second lane: while a flooder's commit is held on its way to disk,
/// another client's order is committed at once (its record reaches the
/// file first), but answered only once the held commit has landed, so
/// answers keep the journal's order and nothing is answered ahead of a gap.
/// The flooder's second connection cannot take that lane: its turn waits
/// until the client's held one has landed.
#[actix_rt::test]
async fn a_second_commit_runs_beside_a_slow_one_and_lands_after_it() {
    const HELD: Duration = Duration::from_millis(400);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.journal");
    let (mut journal, _) = OrderJournal::open(&path, |_| {}).unwrap();
    journal.delay_next = Some(HELD);
    let holding = journal.holding.clone();
    // No reserve: the held commit is not one that zero-fills ahead, which
    // runs alone.
    let sink = OrderSinkActor::new(
        settings(Durability::Group, 0),
        journal,
        PositionBook::default(),
        SeenIds::default(),
        discard(),
    )
    .start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(listener, &sink);

    let mut flood = authed(addr, "flood").await;
    let mut flood2 = authed(addr, "flood").await;
    let mut good = authed(addr, "good").await;
    let held_from = std::time::Instant::now();
    flood.write_all(b"1,BUY,1,MSFT,10,f0-00*").await.unwrap();
    // The flood's commit is started (and held) before the good order comes.
    wait_for(|| holding.load(std::sync::atomic::Ordering::SeqCst)).await;
    flood2.write_all(b"1,BUY,1,MSFT,10,f1-00*").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A client leaving asks for a commit while that turn is deferred: no
    // empty commit may take the free lane for it.
    drop(TcpStream::connect(addr).await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    good.write_all(b"1,BUY,1,AAPL,10,g0-00*").await.unwrap();
    // The good order's record is on file while the flood's is still held.
    let on_file = |needle: &str| {
        std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    wait_for(|| on_file("g0-00")).await;
    assert!(!on_file("f0-00"), "the good commit ran beside the held one");
    assert!(!on_file("f1-00"), "the flooder's other connection waited");
    assert_eq!(answers(&mut good, 1).await, ["ACK,g0-00"]);
    assert!(
        held_from.elapsed() >= HELD,
        "answered only after the held commit landed"
    );
    assert_eq!(answers(&mut flood, 1).await, ["ACK,f0-00"]);
    assert_eq!(answers(&mut flood2, 1).await, ["ACK,f1-00"]);
    assert_eq!(
        crate::ordermanager::replay::recorded_ids(&path),
        ["f0-00", "g0-00", "f1-00"],
        "the journal keeps the decision order"
    );
    let counts = sink.send(GetCounts::<SinkCounts>::new()).await.unwrap();
    assert_eq!((counts.accepted, counts.commits), (3, 3));
}

/// Polls `cond` every 5 ms for at most 10 s.
async fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
