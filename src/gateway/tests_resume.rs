//! Actor tests of the resume extension: `#RESUME` in, `#AT` and `#END` out.

use std::time::Duration;

use actix::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::tests::{csv, settings, subscribe, symbols};
use super::*;
use crate::logging::discard;

/// A finite replay of `n` rows in resume mode, and the frames it must give.
fn resuming_feed(n: usize, rate: u64) -> (actix::Addr<FeedActor<Replay>>, Vec<String>) {
    let (text, want) = csv(n);
    let (replay, _) = Replay::from_memory(text.as_bytes(), "t", &symbols(), false, false).unwrap();
    let (end_tx, _end) = oneshot::channel();
    let settings = FeedSettings {
        resume_wait: Some(Duration::from_secs(30)),
        ..settings(rate, 64)
    };
    let frames = want.split_inclusive('*').map(str::to_string).collect();
    (
        FeedActor::new(replay, settings, end_tx, discard()).start(),
        frames,
    )
}

async fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[actix_rt::test]
async fn a_resumer_gets_at_then_exactly_its_frames_then_end() {
    for from in [0usize, 200, 500] {
        let (feed, frames) = resuming_feed(500, 0);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = subscribe(&listener, &feed).await;
        client
            .write_all(format!("#RESUME,{from}*").as_bytes())
            .await
            .unwrap();
        let want = format!("#AT,{from}*{}#END,500*", frames[from..].concat());
        assert_eq!(read_all(client).await, want, "resumed at {from}");
    }
}

#[actix_rt::test]
async fn a_live_stream_is_not_rewound_for_a_late_joiner_whose_at_says_where_it_starts() {
    let (feed, frames) = resuming_feed(3_000, 20_000);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut first = subscribe(&listener, &feed).await;
    first.write_all(b"#RESUME,0*").await.unwrap();
    // Let the first subscriber receive something, so the stream is live.
    let mut got = Vec::new();
    while got.iter().filter(|&&b| b == b'*').count() < 20 {
        let mut buf = [0u8; 4096];
        let n = first.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let mut late = subscribe(&listener, &feed).await;
    late.write_all(b"#RESUME,0*").await.unwrap();
    let (first_rest, late_all) = tokio::join!(read_all(first), read_all(late));
    let first_all = String::from_utf8(got).unwrap() + &first_rest;
    assert_eq!(
        first_all,
        format!("#AT,0*{}#END,3000*", frames.concat()),
        "the first subscriber's stream was not disturbed"
    );
    let at = late_all
        .strip_prefix("#AT,")
        .and_then(|r| r.split('*').next())
        .and_then(|m| m.parse::<usize>().ok())
        .expect("the late joiner's first frame is #AT");
    assert!(at > 0, "the live stream was not rewound");
    assert_eq!(
        late_all,
        format!("#AT,{at}*{}#END,3000*", frames[at..].concat())
    );
}

#[actix_rt::test]
async fn a_subscriber_that_sends_no_resume_is_served_after_the_wait() {
    let (text, want) = csv(50);
    let (replay, _) = Replay::from_memory(text.as_bytes(), "t", &symbols(), false, false).unwrap();
    let (end_tx, _end) = oneshot::channel();
    let settings = FeedSettings {
        resume_wait: Some(Duration::from_millis(50)),
        ..settings(0, 64)
    };
    let feed = FeedActor::new(replay, settings, end_tx, discard()).start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = subscribe(&listener, &feed).await;
    assert_eq!(read_all(silent).await, format!("#AT,0*{want}#END,50*"));
}
