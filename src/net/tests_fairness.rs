//! Fairness between the sessions of one server: a flooding client's big
//! reads reach the owner in short turns, another client's frames are
//! handled between them, and the flooder is held back by TCP, losing
//! nothing.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::lifecycle::wait_until;
use actix::{Actor, Context, Handler};

/// Stream kind of the tests.
enum Fair {}

/// Frames of one turn these tests allow.
const PER_TURN: usize = 4;

/// What the owner saw, shared with the test.
#[derive(Default)]
struct Tally {
    /// Frames of the flooder (every frame but `good`), in order.
    flood: Mutex<Vec<Vec<u8>>>,
    /// Frames of the largest event.
    largest_turn: AtomicUsize,
    /// Events with frames.
    turns: AtomicUsize,
    /// Flooder frames handled before the `good` frame, once it came.
    flood_before_good: Mutex<Option<usize>>,
    /// Connections that went down.
    downs: AtomicUsize,
    /// While set, each flooder turn costs the owner a millisecond (a disk
    /// flush, say), so the flood cannot finish before the test acts.
    slow: AtomicBool,
}

/// An owner that counts frames and is slow on the flooder's.
struct Owner {
    tally: Arc<Tally>,
    /// Writers kept open, so no session ends on its own; a `cut` frame
    /// disconnects its sender.
    writers: HashMap<ConnId, LinkWriter>,
}

impl Actor for Owner {
    type Context = Context<Self>;
}

impl Handler<NetEvent<Fair>> for Owner {
    type Result = ();

    fn handle(&mut self, m: NetEvent<Fair>, _: &mut Context<Self>) {
        let t = &self.tally;
        match m.event {
            LinkEvent::Up { writer, .. } => {
                self.writers.insert(m.conn, writer);
            }
            LinkEvent::Down(_) => {
                t.downs.fetch_add(1, Ordering::SeqCst);
            }
            LinkEvent::Frames(batch) => {
                t.largest_turn.fetch_max(batch.len(), Ordering::SeqCst);
                t.turns.fetch_add(1, Ordering::SeqCst);
                let mut flood = t.flood.lock().unwrap();
                for f in batch.iter() {
                    if f == b"cut" {
                        self.writers[&m.conn].disconnect();
                    } else if f == b"good" {
                        *t.flood_before_good.lock().unwrap() = Some(flood.len());
                        t.slow.store(false, Ordering::SeqCst);
                    } else {
                        flood.push(f.to_vec());
                    }
                }
                if t.slow.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

/// A server whose sessions hand at most [`PER_TURN`] frames per event to an
/// [`Owner`] that starts slow.
async fn fair_server() -> (std::net::SocketAddr, Arc<Tally>) {
    fair_server_with(None).await
}

/// [`fair_server`] with a partial-frame limit.
async fn fair_server_with(partial: Option<Duration>) -> (std::net::SocketAddr, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    tally.slow.store(true, Ordering::SeqCst);
    let owner = Owner {
        tally: tally.clone(),
        writers: HashMap::new(),
    }
    .start();
    let limits = SessionLimits {
        max_connections: 8,
        read: ReadLimits {
            max_frame: 64,
            idle: None,
            partial,
            frames_per_turn: PER_TURN,
        },
        cut_linger: Duration::ZERO,
    };
    (
        super::tests::serve_to(limits, owner.recipient()).await,
        tally,
    )
}

/// Waits until `cond` holds of the tally.
async fn until(tally: &Arc<Tally>, what: &str, cond: impl Fn(&Tally) -> bool) {
    wait_until(what, Duration::from_secs(20), || {
        let ok = cond(tally);
        async move { ok }
    })
    .await;
}

fn flood_frame(i: usize) -> Vec<u8> {
    format!("f{i}").into_bytes()
}

#[actix_rt::test]
async fn a_second_client_is_served_between_the_turns_of_a_flooder() {
    let (addr, tally) = fair_server().await;
    const FLOOD: usize = 20_000;
    // One write of the whole flood: a handful of socket reads of thousands
    // of frames each, which a whole-read turn would handle in a few events.
    let flooder = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let all: Vec<u8> = (0..FLOOD)
            .flat_map(|i| [flood_frame(i), b"*".to_vec()].concat())
            .collect();
        c.write_all(&all).unwrap();
        c
    });
    until(&tally, "the flood is being handled", |t| {
        !t.flood.lock().unwrap().is_empty()
    })
    .await;
    let good = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"good*").unwrap();
        c
    });
    until(&tally, "the good frame is handled", |t| {
        t.flood_before_good.lock().unwrap().is_some()
    })
    .await;
    let before = tally.flood_before_good.lock().unwrap().unwrap();
    assert!(
        before < FLOOD,
        "the good frame waited for the whole flood ({before} frames)"
    );
    until(&tally, "the whole flood is handled", |t| {
        t.flood.lock().unwrap().len() >= FLOOD
    })
    .await;
    let expected: Vec<Vec<u8>> = (0..FLOOD).map(flood_frame).collect();
    assert_eq!(
        *tally.flood.lock().unwrap(),
        expected,
        "each once, in order"
    );
    assert!(tally.largest_turn.load(Ordering::SeqCst) <= PER_TURN);
    drop((flooder.join().unwrap(), good.join().unwrap()));
    until(&tally, "both sessions end", |t| {
        t.downs.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[actix_rt::test]
async fn a_flooder_is_held_back_by_tcp_and_loses_nothing() {
    let (addr, tally) = fair_server().await;
    // Writes until the kernel refuses more (the server stopped reading),
    // then completes its last frame and closes: what it sent in full.
    let flooder = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_nonblocking(true).unwrap();
        // Long frames (the limit is 64): the kernel's buffers hold
        // megabytes, and the owner handles them a few frames at a time.
        let frame = [[b'a'; 63].as_slice(), b"*"].concat();
        let frame = frame.as_slice();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut written = 0usize;
        let blocked = loop {
            if Instant::now() > deadline {
                break false;
            }
            let at = written % frame.len();
            let mut chunk = frame[at..].to_vec();
            chunk.extend(frame.repeat(512));
            match c.write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(e) => panic!("flood write failed: {e}"),
            }
        };
        c.set_nonblocking(false).unwrap();
        let at = written % frame.len();
        if at > 0 {
            c.write_all(&frame[at..]).unwrap();
            written += frame.len() - at;
        }
        (blocked, written / frame.len(), c)
    });
    let (blocked, sent, c) = tokio::task::spawn_blocking(move || flooder.join().unwrap())
        .await
        .unwrap();
    assert!(
        blocked,
        "the server kept reading a flooder it could not keep up with"
    );
    tally.slow.store(false, Ordering::SeqCst);
    drop(c);
    until(&tally, "the flooder's session ends", |t| {
        t.downs.load(Ordering::SeqCst) == 1
    })
    .await;
    let flood = tally.flood.lock().unwrap();
    assert_eq!(flood.len(), sent, "every frame sent is handled");
    assert!(flood.iter().all(|f| f[..] == [b'a'; 63]));
    assert!(tally.largest_turn.load(Ordering::SeqCst) <= PER_TURN);
}

#[actix_rt::test]
async fn the_rest_of_a_read_is_not_delivered_once_its_sender_is_cut() {
    let (addr, tally) = fair_server().await;
    tally.slow.store(false, Ordering::SeqCst);
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let junk = [&b"cut*"[..], &b"x*".repeat(10_000)].concat();
    c.write_all(&junk).unwrap();
    until(&tally, "the cut session ends", |t| {
        t.downs.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        tally.turns.load(Ordering::SeqCst),
        1,
        "thousands of frames after the cut cost no turn"
    );
}

#[actix_rt::test]
async fn a_long_flood_whose_reads_end_mid_frame_is_not_a_slow_loris() {
    // A limit 50 times the gap between writes, so only a stall of a whole
    // second on a loaded machine could cut the flood for a real reason.
    let (addr, tally) = fair_server_with(Some(Duration::from_millis(1000))).await;
    tally.slow.store(false, Ordering::SeqCst);
    // Each write completes a frame and starts the next one, so every read
    // ends mid-frame, for about three times the partial-frame limit.
    const WRITES: usize = 150;
    let flooder = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"a").unwrap();
        for _ in 0..WRITES {
            std::thread::sleep(Duration::from_millis(20));
            c.write_all(b"b*a").unwrap();
        }
        c
    });
    let c = tokio::task::spawn_blocking(move || flooder.join().unwrap())
        .await
        .unwrap();
    assert_eq!(tally.downs.load(Ordering::SeqCst), 0, "cut as a slow-loris");
    drop(c);
    until(&tally, "the session ends", |t| {
        t.downs.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(tally.flood.lock().unwrap().len(), WRITES);
}
