//! The link layer driven over real loopback sockets, its owner mocked by a
//! recorder actor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::lifecycle::{wait_until, Shutdown, Stop};
use crate::logging::discard;

/// Stream kind of the tests.
enum Test {}

/// What the recorder saw, one line per event: `up`, the frames of a batch
/// joined by `|`, or `down: <reason>`.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The owner: records events and keeps the newest writer to answer with.
struct Recorder {
    seen: Seen,
    writer: Arc<Mutex<Option<LinkWriter>>>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<NetEvent<Test>> for Recorder {
    type Result = ();

    fn handle(&mut self, m: NetEvent<Test>, _: &mut Context<Self>) {
        let line = match m.event {
            LinkEvent::Up { writer, .. } => {
                *self.writer.lock().unwrap() = Some(writer);
                "up".to_string()
            }
            LinkEvent::Frames(b) => b
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join("|"),
            LinkEvent::Down(why) => {
                self.writer.lock().unwrap().take();
                format!("down: {why}")
            }
        };
        self.seen.0.lock().unwrap().push(line);
    }
}

type Writer = Arc<Mutex<Option<LinkWriter>>>;

fn recorder() -> (Addr<Recorder>, Seen, Writer) {
    let seen = Seen::default();
    let writer = Writer::default();
    let addr = Recorder {
        seen: seen.clone(),
        writer: writer.clone(),
    }
    .start();
    (addr, seen, writer)
}

fn settings(port: u16, eof_ends: bool) -> LinkSettings {
    LinkSettings {
        peer: "test",
        config_key: "test.port",
        host: "127.0.0.1".into(),
        port,
        limits: ReadLimits::frames_only(16),
        eof_ends,
        read_through_shutdown: false,
    }
}

/// A listener standing in for the peer, and a link to it owned by a recorder.
async fn linked(eof_ends: bool) -> (TcpListener, Addr<ClientLink<Test>>, Seen, Writer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (owner, seen, writer) = recorder();
    // The trigger is dropped: these links are ended by Stop, not a shutdown.
    let (shutdown, _) = Shutdown::manual();
    let link = ClientLink::new(
        settings(port, eof_ends),
        owner.recipient(),
        shutdown,
        discard(),
    );
    (listener, link.start(), seen, writer)
}

/// Waits until the link actor has stopped.
async fn link_ended(link: &Addr<ClientLink<Test>>, what: &str) {
    wait_until(what, Duration::from_secs(10), || {
        let connected = link.connected();
        async move { !connected }
    })
    .await;
}

async fn seen_len(seen: &Seen, n: usize) {
    let s = seen.clone();
    wait_until(
        &format!("{n} events are recorded"),
        Duration::from_secs(10),
        || {
            let k = s.lines().len();
            async move { k >= n }
        },
    )
    .await;
}

#[actix_rt::test]
async fn a_client_link_frames_reads_reports_up_down_and_reconnects() {
    let (listener, link, seen, writer) = linked(false).await;

    let (mut first, _) = listener.accept().await.unwrap();
    seen_len(&seen, 1).await;
    first.write_all(b"A,1*B,").await.unwrap();
    seen_len(&seen, 2).await;
    first.write_all(b"2***C,3*").await.unwrap();
    seen_len(&seen, 3).await;
    // The owner answers through the writer it was given.
    let w = writer.lock().unwrap().clone().unwrap();
    w.send(bytes::Bytes::from_static(b"ACK,1*")).unwrap();
    let mut got = [0u8; 6];
    first.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ACK,1*");
    // A partial frame of a broken connection is never glued to the next one.
    first.write_all(b"D,").await.unwrap();
    drop(first);
    let (mut second, _) = listener.accept().await.unwrap();
    second.write_all(b"4*E,5*").await.unwrap();
    seen_len(&seen, 6).await;
    assert_eq!(
        seen.lines(),
        [
            "up",
            "A,1",
            "B,2|C,3",
            "down: the peer closed the connection",
            "up",
            "4|E,5"
        ]
    );
    link.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn an_oversized_frame_drops_the_connection_after_the_frames_before_it() {
    let (listener, link, seen, _) = linked(false).await;
    let (mut c, _) = listener.accept().await.unwrap();
    c.write_all(b"A,1*0123456789abcdefXYZ").await.unwrap();
    seen_len(&seen, 3).await;
    assert_eq!(
        seen.lines()[..3],
        [
            "up",
            "A,1",
            "down: frame longer than the 16-byte limit without a '*' terminator"
        ]
    );
    // It reconnects.
    let _again = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    link.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn a_finite_feed_ends_at_its_end_of_stream() {
    let (listener, link, seen, _) = linked(true).await;
    let (mut c, _) = listener.accept().await.unwrap();
    c.write_all(b"A,1*").await.unwrap();
    drop(c);
    seen_len(&seen, 3).await;
    assert_eq!(seen.lines()[2], "down: the peer closed the connection");
    link_ended(&link, "the link ends").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.accept())
            .await
            .is_err(),
        "no reconnect after the end of a finite feed"
    );
}

#[actix_rt::test]
async fn a_peer_that_refuses_at_once_is_retried_with_growing_delays() {
    let (listener, link, seen, _) = linked(false).await;
    // Backoff 50, 100, 200, 400 ms…: in 800 ms at most 5 connections, where
    // a reset on every accept would make about 16. Each refusal carries a
    // frame (as an AUTH_FAILED does): frames alone must not reset the backoff.
    let mut accepted = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(Ok((mut c, _))) = tokio::time::timeout_at(deadline, listener.accept()).await {
        accepted += 1;
        c.write_all(b"REJ,-,REFUSED*").await.unwrap();
        drop(c);
    }
    assert!(seen.lines().contains(&"REJ,-,REFUSED".to_string()));
    assert!((2..=5).contains(&accepted), "accepted {accepted}");
    link.send(Stop).await.unwrap();
}

fn limits(max_connections: usize, partial: Option<Duration>) -> SessionLimits {
    SessionLimits {
        max_connections,
        read: ReadLimits {
            max_frame: 64,
            idle: None,
            partial,
            frames_per_turn: usize::MAX,
        },
        cut_linger: Duration::ZERO,
    }
}

/// Sessions on an ephemeral loopback port, reported to `to`; the port.
pub(super) async fn serve_to<K: 'static>(
    limits: SessionLimits,
    to: actix::Recipient<NetEvent<K>>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_sessions(listener, limits, to, "test", discard()));
    addr
}

async fn serve(limits: SessionLimits) -> (std::net::SocketAddr, Seen, Writer) {
    let (owner, seen, writer) = recorder();
    (serve_to(limits, owner.recipient()).await, seen, writer)
}

#[actix_rt::test]
async fn connections_over_the_cap_are_refused_and_a_freed_place_is_reused() {
    let (addr, seen, _) = serve(limits(2, None)).await;
    let _a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    seen_len(&seen, 2).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "the third is closed at once");
    drop(b);
    seen_len(&seen, 3).await;
    let mut d = TcpStream::connect(addr).await.unwrap();
    d.write_all(b"X,1*").await.unwrap();
    seen_len(&seen, 5).await;
    assert_eq!(
        seen.lines(),
        [
            "up",
            "up",
            "down: the peer closed the connection",
            "up",
            "X,1"
        ]
    );
}

#[actix_rt::test]
async fn a_frame_trickled_too_slowly_closes_the_session() {
    let (addr, seen, _) = serve(limits(4, Some(Duration::from_millis(200)))).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    for b in b"A,1" {
        c.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen_len(&seen, 2).await;
    assert_eq!(
        seen.lines(),
        ["up", "down: a partial frame waited more than 200ms"]
    );
}

#[actix_rt::test]
async fn a_cut_connection_is_closed_and_reported() {
    let (addr, seen, writer) = serve(limits(4, None)).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    seen_len(&seen, 1).await;
    writer.lock().unwrap().clone().unwrap().disconnect();
    seen_len(&seen, 2).await;
    assert_eq!(seen.lines()[1], "down: disconnected by this process");
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
}

#[actix_rt::test]
async fn a_cut_connection_lingers_unread_in_its_place_then_closes() {
    let linger = Duration::from_millis(1500);
    let (addr, seen, writer) = serve(SessionLimits {
        cut_linger: linger,
        ..limits(1, None)
    })
    .await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    seen_len(&seen, 1).await;
    let cut_at = tokio::time::Instant::now();
    let w = writer.lock().unwrap().clone().unwrap();
    w.disconnect();
    seen_len(&seen, 2).await;
    assert_eq!(seen.lines()[1], "down: disconnected by this process");
    // Sends fail from the cut on (nothing is kept for the linger).
    let refused = async {
        while w.send(bytes::Bytes::from_static(b"late*")).is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .expect("sends fail once cut");
    // Reported down at once, but the socket stays open: what the peer
    // sends now is not read (no frame is seen) and nothing ends its read.
    c.write_all(b"X,1*").await.unwrap();
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await;
    assert!(early.is_err(), "still open while it lingers: {early:?}");
    // It keeps its place: with a cap of 1 another client is refused.
    let mut other = TcpStream::connect(addr).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), other.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "refused while the place is held"
    );
    // Then it is closed, and the place is free again.
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(cut_at.elapsed() >= linger, "not before the linger");
    let _next = TcpStream::connect(addr).await.unwrap();
    seen_len(&seen, 3).await;
    assert_eq!(
        seen.lines().len(),
        3,
        "X,1 was never read: {:?}",
        seen.lines()
    );
}

#[actix_rt::test]
async fn a_link_that_reads_through_a_shutdown_keeps_its_connection_but_stops_dialling() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (owner, seen, _) = recorder();
    let (shutdown, trigger) = Shutdown::manual();
    let settings = LinkSettings {
        read_through_shutdown: true,
        ..settings(port, false)
    };
    let link = ClientLink::new(settings, owner.recipient(), shutdown, discard()).start();
    let (mut c, _) = listener.accept().await.unwrap();
    seen_len(&seen, 1).await;
    trigger.trigger();
    c.write_all(b"ACK,1*").await.unwrap();
    seen_len(&seen, 2).await;
    drop(c);
    seen_len(&seen, 3).await;
    assert_eq!(
        seen.lines(),
        ["up", "ACK,1", "down: the peer closed the connection"]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.accept())
            .await
            .is_err(),
        "no new connection after the shutdown"
    );
    link_ended(&link, "the link ends by itself").await;
}

#[actix_rt::test]
async fn a_shutdown_ends_an_ordinary_link_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (owner, seen, _) = recorder();
    let (shutdown, trigger) = Shutdown::manual();
    let link = ClientLink::new(
        settings(port, false),
        owner.recipient(),
        shutdown,
        discard(),
    );
    let link = link.start();
    let (_c, _) = listener.accept().await.unwrap();
    seen_len(&seen, 1).await;
    trigger.trigger();
    seen_len(&seen, 2).await;
    assert_eq!(seen.lines()[1], "down: the link was stopped");
    link_ended(&link, "the link ends").await;
}

#[actix_rt::test]
async fn close_after_flush_delivers_the_last_bytes_then_closes() {
    let (addr, seen, writer) = serve(limits(4, None)).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    seen_len(&seen, 1).await;
    let w = writer.lock().unwrap().clone().unwrap();
    w.send(bytes::Bytes::from_static(b"REJ,-,AUTH_FAILED*"))
        .unwrap();
    w.close_after_flush();
    seen_len(&seen, 2).await;
    assert_eq!(seen.lines()[1], "down: disconnected by this process");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"REJ,-,AUTH_FAILED*", "all of it, then end of stream");
}
