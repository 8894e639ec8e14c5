//! Actor tests of hostile clients: no or wrong AUTH, a hijacked id, shared
//! limits, garbage floods.

use super::*;

/// Reads until the server closes; what it sent before.
async fn read_to_close(c: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .expect("the server closes");
    String::from_utf8(got).unwrap()
}

async fn counts(s: &Server) -> SinkCounts {
    s.sink.send(GetCounts::<SinkCounts>::new()).await.unwrap()
}

#[actix_rt::test]
async fn without_a_valid_auth_nothing_trades_and_nothing_is_journaled() {
    let s = server().await;
    let mut none = TcpStream::connect(s.addr).await.unwrap();
    none.write_all(b"1,BUY,5000,AAPL,10,evil1*").await.unwrap();
    assert_eq!(read_to_close(&mut none).await, "REJ,-,AUTH_FAILED*");
    let mut wrong = TcpStream::connect(s.addr).await.unwrap();
    wrong
        .write_all(b"AUTH,evil,guess*1,BUY,5,AAPL,10,evil2*")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut wrong).await, "REJ,-,AUTH_FAILED*");
    let mut late = authed(s.addr, "c1").await;
    late.write_all(b"AUTH,c2,x*1,BUY,1,AAPL,10,ok*")
        .await
        .unwrap();
    assert_eq!(
        read_exactly(&mut late, 6).await,
        "ACK,ok",
        "a second AUTH is garbage"
    );
    let c = counts(&s).await;
    assert_eq!((c.auth_failures, c.accepted, c.malformed), (2, 1, 1));
    assert!(
        journal(&s)
            .iter()
            .all(|r| r.client_name.as_deref() == Some("c1")),
        "refused clients left no record"
    );
}

#[actix_rt::test]
async fn an_id_is_scoped_to_its_client_and_a_changed_resend_is_id_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_in(settings(Durability::Every, 0), dir.path()).await;
    let mut evil = authed(s.addr, "evil").await;
    evil.write_all(b"1,SELL,1,MSFT,10,strat1-x-1f*")
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut evil, 15).await, "ACK,strat1-x-1f");
    let mut strat = authed(s.addr, "strat1").await;
    strat
        .write_all(b"1,BUY,100,AAPL,10,strat1-x-1f*")
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut strat, 16).await, "ACK,strat1-x-1f*");
    // The same id again with other content: refused, and the original stands.
    strat
        .write_all(b"1,SELL,1,MSFT,10,strat1-x-1f*1,BUY,100,AAPL,10,strat1-x-1f*")
        .await
        .unwrap();
    let want = "REJ,strat1-x-1f,ID_MISMATCH*ACK,strat1-x-1f*";
    assert_eq!(read_exactly(&mut strat, want.len()).await, want);
    let c = counts(&s).await;
    assert_eq!((c.accepted, c.id_mismatches, c.duplicates), (2, 1, 1));
    let book = &PositionBook::from_records(&journal(&s));
    assert_eq!(
        book.client_net("strat1", "AAPL"),
        100,
        "executed for strat1"
    );
    assert_eq!(book.client_net("evil", "MSFT"), -1);
    s.sink.send(Stop).await.unwrap();
    // After a restart the mismatch record does not replace the answer.
    let again = server_in(settings(Durability::Every, 0), dir.path()).await;
    let mut strat = authed(again.addr, "strat1").await;
    strat
        .write_all(b"1,BUY,100,AAPL,10,strat1-x-1f*1,BUY,1,AAPL,10,strat1-x-1f*")
        .await
        .unwrap();
    assert_eq!(
        read_exactly(&mut strat, want.len()).await,
        "ACK,strat1-x-1f*REJ,strat1-x-1f,ID_MISMATCH*"
    );
}

#[actix_rt::test]
async fn limits_are_per_client_name_and_survive_a_reconnect() {
    let mut st = settings(Durability::Group, 0);
    st.max_orders_per_sec = 2;
    st.limits.max_position = 2;
    let s = server_with(st).await;
    let mut a = authed(s.addr, "qa").await;
    a.write_all(b"1,BUY,1,AAPL,10,a1*1,BUY,1,AAPL,10,a2*")
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut a, 14).await, "ACK,a1*ACK,a2*");
    drop(a);
    let mut a = authed(s.addr, "qa").await;
    a.write_all(b"1,SELL,1,AAPL,10,a3*").await.unwrap();
    let want = "REJ,a3,RATE_LIMIT*";
    assert_eq!(
        read_exactly(&mut a, want.len()).await,
        want,
        "no fresh bucket"
    );
    let mut b = authed(s.addr, "qb").await;
    b.write_all(b"1,BUY,2,AAPL,10,b1*1,BUY,1,AAPL,10,b2*")
        .await
        .unwrap();
    let want = "ACK,b1*REJ,b2,MAX_POSITION*";
    assert_eq!(
        read_exactly(&mut b, want.len()).await,
        want,
        "qb has its own room, no more"
    );
}

#[actix_rt::test]
async fn a_client_sending_only_garbage_is_cut_and_costs_a_few_records() {
    let s = server().await;
    let mut c = authed(s.addr, "junk").await;
    let flood = "x*".repeat(1000) + "1,BUY,x,AAPL,10,j1*";
    let _ = c.write_all(flood.as_bytes()).await;
    assert_eq!(read_to_close(&mut c).await, "", "cut before the id'd frame");
    wait_until("the cut is counted", Duration::from_secs(5), || {
        let sink = s.sink.clone();
        async move {
            sink.send(GetCounts::<SinkCounts>::new())
                .await
                .is_ok_and(|c| c.garbage_clients == 1)
        }
    })
    .await;
    s.sink.send(Stop).await.unwrap();
    let records = journal(&s);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].frames, None);
    assert_eq!(
        records[1].frames,
        Some(100),
        "101 in a row cut it: 1 + 100 summarized"
    );
    assert!(records.iter().all(|r| r.raw.as_deref() == Some("x")));
    // A malformed frame with an id is still answered and recorded.
    let s = server().await;
    let mut c = authed(s.addr, "c1").await;
    c.write_all(b"x*1,BUY,x,AAPL,10,j2*").await.unwrap();
    assert_eq!(read_exactly(&mut c, 20).await, "REJ,j2,BAD_QUANTITY*");
    assert_eq!(journal(&s).len(), 2);
}
