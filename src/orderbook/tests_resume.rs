//! The writer's side of the resume extension: `#RESUME` out on every
//! connection, `#AT`/`#END` checked against the frames received.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::net::LinkWriter;

/// An `Up` event whose writer's bytes the test can read.
fn up() -> (NetEvent<MarketData>, UnboundedReceiver<Bytes>) {
    let (writer, rx) = LinkWriter::detached();
    let peer = "127.0.0.1:1".parse().unwrap();
    (ev(LinkEvent::Up { peer, writer }), rx)
}

async fn counts(w: &Addr<BookWriterActor>) -> BookCounts {
    w.send(GetCounts::<BookCounts>::new()).await.unwrap()
}

const TICKS: &[u8] =
    b"AAPL,1,2024-01-02 09:30:00*MSFT,2,2024-01-02 09:30:00*AAPL,3,2024-01-02 09:30:01*";

#[actix_rt::test]
async fn every_connection_asks_to_resume_from_the_frames_received() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::AtEndFrame);
    let (first, mut sent) = up();
    writer.send(first).await.unwrap();
    assert_eq!(sent.recv().await.unwrap(), &b"#RESUME,0*"[..]);
    // An unknown symbol and a malformed frame are positions of the feed too.
    writer.send(frames(b"#AT,0*")).await.unwrap();
    writer.send(frames(TICKS)).await.unwrap();
    writer.send(frames(b"ZZZ,1*AAPL,x*")).await.unwrap();
    writer
        .send(ev(LinkEvent::Down(LinkDown::Closed)))
        .await
        .unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(
        !reader.feed_ended(),
        "an end of stream without #END is a cut connection"
    );
    let (second, mut sent) = up();
    writer.send(second).await.unwrap();
    assert_eq!(sent.recv().await.unwrap(), &b"#RESUME,5*"[..]);
}

#[actix_rt::test]
async fn only_an_end_with_the_count_received_ends_a_finite_feed() {
    let seg = Seg::new();
    let (writer, done) = writer_over(&seg, FeedEnding::AtEndFrame);
    writer.send(frames(b"#AT,0*")).await.unwrap();
    writer.send(frames(TICKS)).await.unwrap();
    writer.send(frames(b"#END,3*")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .unwrap()
        .unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(reader.feed_ended() && !reader.feed_cut());
    assert_eq!(reader.ticks_written(), 3);
}

#[actix_rt::test]
async fn a_gateway_behind_us_repeats_nothing_into_the_table() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::AtEndFrame);
    writer.send(frames(b"#AT,0*")).await.unwrap();
    writer.send(frames(TICKS)).await.unwrap();
    // A restarted gateway that did not get our #RESUME in time starts at 1.
    let (again, _sent) = up();
    writer.send(again).await.unwrap();
    writer
        .send(frames(b"#AT,1*MSFT,2,2024-01-02 09:30:00*AAPL,3,2024-01-02 09:30:01*MSFT,4,2024-01-02 09:30:01*"))
        .await
        .unwrap();
    let c = counts(&writer).await;
    assert_eq!((c.ticks, c.repeated, c.missed), (4, 2, 0));
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.read(SymbolIndex(1)).price_units, 400_000_000);
}

#[actix_rt::test]
async fn a_gap_cuts_a_finite_feed_short_but_a_live_feed_goes_on() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::AtEndFrame);
    writer.send(frames(b"#AT,0*")).await.unwrap();
    writer.send(frames(TICKS)).await.unwrap();
    writer.send(frames(b"#AT,7*MSFT,9*")).await.unwrap();
    writer.send(frames(b"#END,8*")).await.unwrap();
    let c = counts(&writer).await;
    assert_eq!(
        (c.ticks, c.missed),
        (3, 4),
        "nothing published after the cut"
    );
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(reader.feed_ended() && reader.feed_cut());

    let live = Seg::new();
    let (writer, _done) = writer_over(&live, FeedEnding::Never);
    writer.send(frames(TICKS)).await.unwrap();
    writer.send(frames(b"#AT,7*MSFT,9*")).await.unwrap();
    let c = counts(&writer).await;
    assert_eq!((c.ticks, c.missed), (4, 4));
    assert!(!PriceTableReader::attach(&live.0).unwrap().feed_ended());
}

#[actix_rt::test]
async fn an_end_with_another_count_cuts_the_feed_short() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::AtEndFrame);
    writer.send(frames(TICKS)).await.unwrap();
    writer.send(frames(b"#END,4*")).await.unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(reader.feed_cut());
}

#[actix_rt::test]
async fn ticks_dated_before_their_symbols_last_are_counted_and_still_published() {
    let seg = Seg::new();
    let (writer, _done) = writer_over(&seg, FeedEnding::Never);
    writer
        .send(frames(b"AAPL,1,2024-01-02 09:30:05*AAPL,2,2024-01-02 09:30:05*MSFT,3,2024-01-02 09:30:00*AAPL,4,2024-01-02 09:30:01*AAPL,5,2024-01-02 09:30:00*"))
        .await
        .unwrap();
    let c = counts(&writer).await;
    assert_eq!(
        (c.ticks, c.time_backwards),
        (5, 2),
        "equal times and other symbols' times are not backwards"
    );
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.read(SymbolIndex(0)).price_units, 500_000_000);
}
