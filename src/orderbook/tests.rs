//! Actor tests: each actor driven alone, its peer mocked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Context, Handler};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::*;
use crate::lifecycle::{GetCounts, Shutdown};
use crate::logging::discard;
use crate::shm::testutil::Seg;
use crate::shm::{PriceTable, PriceTableReader, RingRead};

fn symbols() -> Vec<String> {
    vec!["AAPL".into(), "MSFT".into()]
}

#[actix_rt::test]
async fn the_writer_publishes_frames_split_across_reads_and_counts_bad_ones() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let (done, _done_rx) = oneshot::channel();
    let writer =
        BookWriterActor::new(table, 64, Duration::from_secs(3600), discard(), done).start();
    let reads: [&[u8]; 4] = [
        b"AAPL,186.73,2024-01-02 09:30:00,17000*MSFT,3",
        b"25.5,2024-01-02 09:30:01*ZZZZ,1*AAPL,abc*\xff\xfe*",
        b"**AAPL,187,2024-01-02 09:30:02*",
        b"MSFT,326*",
    ];
    for r in reads {
        writer
            .send(MarketBytes(bytes::Bytes::copy_from_slice(r)))
            .await
            .unwrap()
            .unwrap();
    }
    let stats = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!(
        (
            stats.ticks,
            stats.unknown_symbols,
            stats.malformed,
            stats.reads
        ),
        (4, 1, 2, 4)
    );

    let reader = PriceTableReader::attach_expecting(&seg.0, &symbols()).unwrap();
    let aapl = reader.read(0);
    assert_eq!((aapl.price_units, aapl.updates), (18_700_000_000, 2));
    assert_eq!(aapl.event_ns, 1_704_187_802_000_000_000);
    let msft = reader.read(1);
    assert_eq!((msft.price_units, msft.updates), (32_600_000_000, 2));
    let mut cursor = reader.cursor_from_oldest();
    let mut seen = Vec::new();
    while let RingRead::Tick(t) = reader.ring_next(&mut cursor) {
        seen.push((t.symbol_idx, t.price_units, t.send_ns));
    }
    assert_eq!(
        seen,
        [
            (0, 18_673_000_000, 17000),
            (1, 32_550_000_000, 0),
            (0, 18_700_000_000, 0),
            (1, 32_600_000_000, 0)
        ]
    );
}

#[actix_rt::test]
async fn an_oversized_frame_is_an_error_and_a_new_connection_starts_clean() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let (done, _rx) = oneshot::channel();
    let writer =
        BookWriterActor::new(table, 16, Duration::from_secs(3600), discard(), done).start();
    let r = writer
        .send(MarketBytes(bytes::Bytes::from_static(
            b"AAPL,1*AAPL,2222222222222222222",
        )))
        .await
        .unwrap();
    assert!(r.is_err());
    writer
        .send(FeedEvent::Connected("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    writer
        .send(MarketBytes(bytes::Bytes::from_static(b"MSFT,5*")))
        .await
        .unwrap()
        .unwrap();
    let s = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!((s.ticks, s.oversized, s.malformed), (2, 1, 0));
}

#[actix_rt::test]
async fn a_finite_feed_end_marks_the_table_and_stops_the_writer() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let (done, done_rx) = oneshot::channel();
    let writer =
        BookWriterActor::new(table, 64, Duration::from_secs(3600), discard(), done).start();
    writer.send(FeedEvent::Ended).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), done_rx)
        .await
        .unwrap()
        .unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(reader.feed_ended());
}

/// Records everything the feed sends, standing in for the writer.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);
impl Actor for Recorder {
    type Context = Context<Self>;
}
impl Handler<MarketBytes> for Recorder {
    type Result = Result<(), crate::protocol::FrameError>;
    fn handle(&mut self, m: MarketBytes, _: &mut Context<Self>) -> Self::Result {
        self.0
            .lock()
            .unwrap()
            .push(format!("bytes {}", String::from_utf8_lossy(&m.0)));
        Ok(())
    }
}
impl Handler<FeedEvent> for Recorder {
    type Result = ();
    fn handle(&mut self, m: FeedEvent, _: &mut Context<Self>) {
        let line = match m {
            FeedEvent::Connected(_) => "connected".to_string(),
            FeedEvent::Disconnected(_) => "disconnected".to_string(),
            FeedEvent::Ended => "ended".to_string(),
        };
        self.0.lock().unwrap().push(line);
    }
}

async fn wait_for(rec: &Recorder, n: usize) -> Vec<String> {
    for _ in 0..1000 {
        let got = rec.0.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("recorder saw only {:?}", rec.0.lock().unwrap());
}

#[actix_rt::test]
async fn the_feed_reconnects_after_the_gateway_drops_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rec = Recorder::default();
    let addr = rec.clone().start();
    let (shutdown, trigger) = Shutdown::manual();
    let _feed = FeedActor::new("127.0.0.1".into(), port, false, addr, shutdown, discard()).start();
    let (mut first, _) = listener.accept().await.unwrap();
    first.write_all(b"AAPL,1*").await.unwrap();
    wait_for(&rec, 2).await;
    drop(first);
    let (mut second, _) = listener.accept().await.unwrap();
    second.write_all(b"MSFT,2*").await.unwrap();
    let got = wait_for(&rec, 5).await;
    assert_eq!(
        got,
        [
            "connected",
            "bytes AAPL,1*",
            "disconnected",
            "connected",
            "bytes MSFT,2*"
        ]
    );
    trigger.trigger();
}

#[actix_rt::test]
async fn a_finite_feed_reports_its_end_instead_of_reconnecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rec = Recorder::default();
    let addr = rec.clone().start();
    let (shutdown, _trigger) = Shutdown::manual();
    let _feed = FeedActor::new("127.0.0.1".into(), port, true, addr, shutdown, discard()).start();
    let (mut s, _) = listener.accept().await.unwrap();
    s.write_all(b"AAPL,1*").await.unwrap();
    drop(s);
    let got = wait_for(&rec, 3).await;
    assert_eq!(got, ["connected", "bytes AAPL,1*", "ended"]);
}
