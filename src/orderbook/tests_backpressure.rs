//! The writer's wait for a slow ring reader: it answers a read only once
//! every frame is published, keeps its heartbeat and answers meanwhile,
//! and loses nothing.

use std::time::Duration;

use super::*;
use crate::lifecycle::wait_until;

/// `count` frames of AAPL at prices 1, 2, 3, … as one read.
fn read_of(count: u64) -> NetEvent<MarketData> {
    let text: String = (1..=count).map(|p| format!("AAPL,{p}*")).collect();
    frames(text.as_bytes())
}

#[actix_rt::test]
async fn a_full_ring_holds_the_read_until_the_reader_moves_on() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::Never); // ring of 64
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    let slot = reader.register_ring_reader(&cursor).unwrap();

    let read = tokio::spawn(writer.send(read_of(150)));
    let counts = || async { writer.send(GetCounts::<BookCounts>::new()).await.unwrap() };
    // The writer fills the ring, then waits: still answering, still beating.
    wait_until("the writer waits", Duration::from_secs(10), || async {
        counts().await.ring_waits > 0
    })
    .await;
    let c = counts().await;
    assert_eq!((c.ticks, c.ring_waits, c.reads), (64, 1, 1));
    let beat = reader.heartbeat_ns();
    wait_until(
        "a heartbeat while waiting",
        Duration::from_secs(10),
        || async { reader.heartbeat_ns() > beat },
    )
    .await;
    assert!(
        !read.is_finished(),
        "answered before the read was published"
    );

    // The reader drains what it can and tells the writer, until all is read.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 150 {
        while let RingRead::Tick(t) = reader.ring_next(&mut cursor) {
            seen.push(t.price_units / 100_000_000);
        }
        slot.publish(&cursor);
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of 150",
            seen.len()
        );
    }
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen, (1..=150).collect::<Vec<i64>>());
    let c = counts().await;
    assert_eq!((c.ticks, c.reads, c.repeated), (150, 1, 0));
    assert!(c.ring_waits >= 2, "64 + 64 + 22 needs two waits at least");
}

#[actix_rt::test]
async fn a_reader_that_dies_stops_holding_the_writer_back() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::Never);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let id = crate::shm::ProcessIdentity::of(child.id()).unwrap();
    let _slot = reader
        .register_as(id, &reader.cursor_from_oldest())
        .unwrap();
    let read = tokio::spawn(writer.send(read_of(100)));
    wait_until("the writer waits", Duration::from_secs(10), || async {
        writer
            .send(GetCounts::<BookCounts>::new())
            .await
            .unwrap()
            .ring_waits
            > 0
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let c = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!((c.ticks, c.dead_readers), (100, 1));
}
