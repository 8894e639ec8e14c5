//! Actor tests: each actor driven alone, its peer mocked.

use std::time::Duration;

use actix::{Actor, Addr};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::*;
use crate::lifecycle::{wait_until, GetCounts, Shutdown};
use crate::logging::discard;
use crate::net::{ConnId, LinkDown, LinkEvent, NetEvent};
use crate::protocol::{FrameBatch, FrameError};
use crate::shm::testutil::Seg;
use crate::shm::{PriceTable, PriceTableReader, RingRead};
use crate::symbol::SymbolIndex;

fn symbols() -> Vec<String> {
    vec!["AAPL".into(), "MSFT".into()]
}

/// The writer's stream kind, addressed as the feed would.
fn ev(event: LinkEvent) -> NetEvent<MarketData> {
    NetEvent::new(ConnId(1), event)
}

/// The frames of raw bytes as the link would batch one read.
fn frames(read: &[u8]) -> NetEvent<MarketData> {
    ev(LinkEvent::Frames(FrameBatch::split(read, 64).unwrap()))
}

fn writer_over(seg: &Seg, ending: FeedEnding) -> (Addr<BookWriterActor>, oneshot::Receiver<()>) {
    let table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let (done, done_rx) = oneshot::channel();
    let w = BookWriterActor::new(
        table,
        Default::default(),
        ending,
        Duration::from_secs(3600),
        discard(),
        done,
    );
    (w.start(), done_rx)
}

#[actix_rt::test]
async fn the_writer_publishes_every_frame_of_a_read_and_counts_bad_ones() {
    let seg = Seg::new();
    let (writer, _done_rx) = writer_over(&seg, FeedEnding::Never);
    let reads: [&[u8]; 3] = [
        b"AAPL,186.73,2024-01-02 09:30:00,17000*MSFT,325.5,2024-01-02 09:30:01*",
        b"ZZZZ,1*AAPL,abc*\xff\xfe*AAPL,187,2024-01-02 09:30:02*",
        b"MSFT,326*",
    ];
    for r in reads {
        writer.send(frames(r)).await.unwrap();
    }
    let stats = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!(
        (
            stats.ticks,
            stats.unknown_symbols,
            stats.malformed,
            stats.reads
        ),
        (4, 1, 2, 3)
    );

    let reader = PriceTableReader::attach_expecting(&seg.0, &symbols()).unwrap();
    let aapl = reader.read(SymbolIndex(0));
    assert_eq!((aapl.price_units, aapl.updates), (18_700_000_000, 2));
    assert_eq!(aapl.event_ns, 1_704_187_802_000_000_000);
    let msft = reader.read(SymbolIndex(1));
    assert_eq!((msft.price_units, msft.updates), (32_600_000_000, 2));
    let mut cursor = reader.cursor_from_oldest();
    let mut seen = Vec::new();
    while let RingRead::Tick(t) = reader.ring_next(&mut cursor) {
        seen.push((t.symbol.0, t.price_units, t.send_ns));
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
async fn an_unframeable_stream_is_counted_and_a_finite_feed_goes_on() {
    let seg = Seg::new();
    let (writer, _done_rx) = writer_over(&seg, FeedEnding::AtEof);
    writer.send(frames(b"AAPL,1*")).await.unwrap();
    let too_long = FrameError::TooLong { limit: 64 };
    writer
        .send(ev(LinkEvent::Down(LinkDown::Unframeable(too_long))))
        .await
        .unwrap();
    writer.send(frames(b"MSFT,5*")).await.unwrap();
    let s = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!((s.ticks, s.oversized, s.malformed), (2, 1, 0));
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(!reader.feed_ended(), "only the end of stream ends the feed");
}

#[actix_rt::test]
async fn a_finite_feed_end_marks_the_table_and_stops_the_writer() {
    let seg = Seg::new();
    let (writer, done_rx) = writer_over(&seg, FeedEnding::AtEof);
    writer
        .send(ev(LinkEvent::Down(LinkDown::Closed)))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), done_rx)
        .await
        .unwrap()
        .unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(reader.feed_ended());
}

/// Waits until the writer's counters satisfy `cond`.
async fn counts_until(writer: &Addr<BookWriterActor>, what: &str, cond: fn(&BookCounts) -> bool) {
    wait_until(what, Duration::from_secs(10), || {
        let w = writer.clone();
        async move { cond(&w.send(GetCounts::<BookCounts>::new()).await.unwrap()) }
    })
    .await;
}

#[actix_rt::test]
async fn the_feed_and_the_writer_over_a_socket_survive_a_gateway_drop() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seg = Seg::new();
    let (writer, _done_rx) = writer_over(&seg, FeedEnding::Never);
    let mut cfg = crate::config::Config::load_with_env(None, Some(Default::default())).unwrap();
    cfg.orderbook.md_port = listener.local_addr().unwrap().port();
    let (shutdown, trigger) = Shutdown::manual();
    let feed = FeedActor::new(
        feed_settings(&cfg),
        writer.clone().recipient(),
        shutdown,
        discard(),
    );
    let _feed = feed.start();
    let (mut first, _) = listener.accept().await.unwrap();
    // The partial "MS" of the broken connection must not glue onto "FT,…".
    first.write_all(b"AAPL,1*MS").await.unwrap();
    counts_until(&writer, "the first tick is published", |c| c.ticks == 1).await;
    drop(first);
    let (mut second, _) = listener.accept().await.unwrap();
    second.write_all(b"FT,3*MSFT,2*").await.unwrap();
    counts_until(&writer, "the second read is handled", |c| c.reads == 2).await;
    let s = writer.send(GetCounts::<BookCounts>::new()).await.unwrap();
    assert_eq!(
        (s.ticks, s.unknown_symbols, s.malformed),
        (2, 1, 0),
        "FT,3 is a frame of its own (an unknown symbol), never MSFT,3"
    );
    trigger.trigger();
}

#[cfg(test)]
#[path = "tests_resume.rs"]
mod resume;

#[path = "tests_backpressure.rs"]
mod backpressure;
