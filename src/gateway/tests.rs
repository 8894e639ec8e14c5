//! Actor tests: a FeedActor driven with real loopback sockets as subscribers.

use std::time::Duration;

use actix::Actor;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::*;
use crate::logging::discard;

pub(super) fn symbols() -> Vec<String> {
    vec!["AAPL".into(), "MSFT".into()]
}

/// A CSV of `n` rows alternating two symbols, and the frames it must produce.
pub(super) fn csv(n: usize) -> (String, String) {
    let mut text = String::from("timestamp,symbol,price\n");
    let mut frames = String::new();
    for i in 0..n {
        let sym = if i % 2 == 0 { "AAPL" } else { "MSFT" };
        let ts = format!("2024-01-02 09:{:02}:{:02}", (i / 60) % 60, i % 60);
        let price = format!("{}.{:02}", 100 + i % 7, i % 100);
        text.push_str(&format!("{ts},{sym},{price}\n"));
        let p = crate::price::Price::parse(&price).unwrap();
        frames.push_str(&format!("{sym},{p},{ts}*"));
    }
    (text, frames)
}

pub(super) fn settings(rate: u64, queue_len: usize) -> FeedSettings {
    FeedSettings {
        name: "md",
        rate,
        queue_len,
        max_stall: Duration::from_millis(200),
        paused: false,
        resume_wait: None,
    }
}

/// Connects a client and hands the server side to the feed.
pub(super) async fn subscribe<A>(listener: &TcpListener, feed: &actix::Addr<A>) -> TcpStream
where
    A: Actor<Context = actix::Context<A>> + actix::Handler<Subscribe>,
{
    // Small kernel buffers on both ends: a subscriber that stops reading
    // fills them (and then its queue) after a few kilobytes, not megabytes.
    // The receive buffer must be set before connecting to bound the window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let client = socket
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &4096).unwrap();
    feed.send(Subscribe {
        stream,
        peer,
        slot: None,
    })
    .await
    .unwrap();
    client
}

async fn read_to_end(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[actix_rt::test]
async fn a_finite_replay_delivers_every_frame_in_order_then_eof() {
    let (text, want) = csv(500);
    let (replay, _) = Replay::from_memory(text.as_bytes(), "t", &symbols(), false, false).unwrap();
    let (end_tx, end_rx) = oneshot::channel();
    let feed = FeedActor::new(replay, settings(50_000, 64), end_tx, discard()).start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = subscribe(&listener, &feed).await;
    let got = read_to_end(client).await;
    assert_eq!(got, want);
    let end = end_rx.await.unwrap();
    assert_eq!((end.frames, end.dropped), (500, 0));
}

#[actix_rt::test]
async fn nothing_is_sent_before_the_first_subscriber() {
    let (text, want) = csv(20);
    let (replay, _) = Replay::from_memory(text.as_bytes(), "t", &symbols(), false, false).unwrap();
    let (end_tx, _end_rx) = oneshot::channel();
    let feed = FeedActor::new(replay, settings(100_000, 64), end_tx, discard()).start();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = subscribe(&listener, &feed).await;
    assert_eq!(
        read_to_end(client).await,
        want,
        "the first ticks were not lost"
    );
}

/// A subscriber that never reads is dropped; the reader still gets everything.
///
/// With a rate, batches are small (a millisecond's worth) and the queues
/// deep enough to hold more than a second of catch-up after a stall, so the
/// reader, which shares this test's thread, does not fall a whole queue
/// behind on a loaded machine; at full speed the reader holds the stream
/// back instead, and only a stall of `max_stall` (a second here) drops it.
async fn slow_subscriber_case(rate: u64, frames: usize, queue_len: usize) {
    let (text, want) = csv(frames);
    let (replay, _) = Replay::from_memory(text.as_bytes(), "t", &symbols(), false, false).unwrap();
    let (end_tx, end_rx) = oneshot::channel();
    let settings = FeedSettings {
        max_stall: Duration::from_secs(1),
        ..settings(rate, queue_len)
    };
    let feed = FeedActor::new(replay, settings, end_tx, discard()).start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // The reader first: the stream starts with it, so it misses no frame
    // however soon the first batch goes out.
    let reader = subscribe(&listener, &feed).await;
    let stalled = subscribe(&listener, &feed).await;
    let got = read_to_end(reader).await;
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the reading subscriber lost or reordered frames"
    );
    let end = end_rx.await.unwrap();
    assert_eq!((end.frames, end.dropped), (frames as u64, 1));
    drop(stalled);
}

#[actix_rt::test]
async fn with_a_rate_a_full_queue_drops_only_the_subscriber_that_stopped_reading() {
    // 64 batches of at most 1024 frames (and a few KiB of socket) cannot
    // hold 80,000 frames however the turns fall, so the stalled subscriber
    // is dropped on any machine; the reader would have to stall for over a
    // second (64 batches of a millisecond's frames) to be.
    slow_subscriber_case(50_000, 80_000, 64).await;
}

#[actix_rt::test]
async fn at_full_speed_a_stalled_subscriber_is_dropped_after_max_stall() {
    slow_subscriber_case(0, 20_000, 2).await;
}

#[actix_rt::test]
async fn a_paced_stream_keeps_its_rate_exactly_in_frames_due() {
    // 1000 frames/s for the news stream: after it starts, frames only go out as they are due.
    let (end_tx, _end) = oneshot::channel();
    let feed = FeedActor::new(
        NewsSource::new(&symbols(), 1),
        FeedSettings {
            name: "news",
            ..settings(1000, 64)
        },
        end_tx,
        discard(),
    )
    .start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = std::time::Instant::now();
    let mut client = subscribe(&listener, &feed).await;
    let mut buf = vec![0u8; 1 << 16];
    let mut frames = 0;
    while frames < 50 {
        let n = client.read(&mut buf).await.unwrap();
        frames += buf[..n].iter().filter(|&&b| b == b'*').count();
    }
    // Pacing, not a timing assertion: 50 frames at 1000/s cannot all be due before 50 ms.
    assert!(started.elapsed() >= Duration::from_millis(49));
}
