//! End-to-end order throughput and ACK latency from one pipelined local
//! client against an in-process ordermanager, for each durability setting.
//!
//! Prints orders/s and ACK latency percentiles (hdrhistogram); run with
//! `cargo bench --bench order_latency`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use actix::Actor;
use hdrhistogram::Histogram;
use trading::config::Durability;
use trading::net::{serve_sessions, ReadLimits, SessionLimits};
use trading::ordermanager::{
    risk::RiskLimits, OrderJournal, OrderSinkActor, Recovered, SinkSettings,
};

fn start_server(
    dir: &std::path::Path,
    durability: Durability,
    group_ms: u64,
) -> std::net::SocketAddr {
    let (tx, rx) = mpsc::channel();
    let journal_path = dir.join("orders.journal");
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut r = Recovered::new();
            let (journal, _) = OrderJournal::open(&journal_path, |rec| r.take(rec)).unwrap();
            // As the ordermanager runs it (config/default.toml).
            let journal = journal.reserving(1 << 20);
            let settings = SinkSettings {
                symbols: vec!["AAPL".into()],
                limits: RiskLimits {
                    max_order_quantity: 1_000_000,
                    max_position: u64::MAX / 4,
                    max_position_global: 0,
                    price_band_pct: 0.0,
                    max_order_notional: 0.0,
                    min_price: 0.0,
                    max_price: 1e9,
                },
                max_orders_per_sec: u64::MAX / 4,
                durability,
                group_commit: Duration::from_millis(group_ms),
                commit_lanes: 2,
                band_table: "bench-no-table".into(),
                positions_every: Duration::ZERO,
                max_reply_backlog: trading::ordermanager::MAX_REPLY_BACKLOG,
                // The bench's client speaks the id-carrying protocol without AUTH.
                auth: trading::ordermanager::AuthPolicy {
                    token: None,
                    required: false,
                },
                max_malformed_in_a_row: 100,
            };
            let log = slog::Logger::root(slog::Discard, slog::o!());
            let sink = OrderSinkActor::new(settings, journal, r.book, r.seen, log.clone()).start();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let limits = SessionLimits {
                max_connections: 64,
                read: ReadLimits::frames_only(1024),
                cut_linger: std::time::Duration::ZERO,
            };
            serve_sessions(listener, limits, sink.recipient(), "orders", log).await;
        })
    });
    rx.recv().unwrap()
}

/// Sends `orders` orders keeping at most `window` unanswered.
fn run(name: &str, durability: Durability, group_ms: u64, orders: u64, window: u64) {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_server(dir.path(), durability, group_ms);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..orders).map(|_| AtomicU64::new(0)).collect());
    let t0 = Instant::now();
    let (acked_r, sent_r) = (acked.clone(), sent_at.clone());
    let read = std::thread::spawn(move || {
        let mut hist = Histogram::<u64>::new(3).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut carry = Vec::new();
        let mut n = 0;
        while n < orders {
            let k = reader.read(&mut buf).unwrap();
            assert!(k > 0, "server closed");
            carry.extend_from_slice(&buf[..k]);
            let mut start = 0;
            while let Some(i) = carry[start..].iter().position(|&b| b == b'*') {
                let frame = std::str::from_utf8(&carry[start..start + i]).unwrap();
                let id: u64 = frame
                    .strip_prefix("ACK,o")
                    .expect("an ACK")
                    .parse()
                    .unwrap();
                let now = t0.elapsed().as_nanos() as u64;
                hist.record(now - sent_r[id as usize].load(Ordering::Relaxed))
                    .unwrap();
                n += 1;
                acked_r.store(n, Ordering::Release);
                start += i + 1;
            }
            carry.drain(..start);
        }
        hist
    });
    let mut frame = Vec::with_capacity(64);
    for i in 0..orders {
        while i - acked.load(Ordering::Acquire) >= window {
            std::hint::spin_loop();
        }
        frame.clear();
        write!(
            frame,
            "1732512345.5,{},1,AAPL,100.25,o{i}*",
            if i % 2 == 0 { "BUY" } else { "SELL" }
        )
        .unwrap();
        sent_at[i as usize].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        stream.write_all(&frame).unwrap();
    }
    let hist = read.join().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{name:<26} window {window:>3}  {orders:>7} orders  {:>9.0} orders/s  ACK latency p50 {:>7.1} µs  p99 {:>8.1} µs  p99.9 {:>8.1} µs",
        orders as f64 / secs,
        hist.value_at_quantile(0.50) as f64 / 1e3,
        hist.value_at_quantile(0.99) as f64 / 1e3,
        hist.value_at_quantile(0.999) as f64 / 1e3,
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 500 } else { 100_000 };
    println!(
        "one local client; window = orders in flight; journal under {}",
        std::env::temp_dir().display()
    );
    run("durability=every", Durability::Every, 0, n / 20, 1);
    run("durability=every", Durability::Every, 0, n / 10, 256);
    run("durability=group (0 ms)", Durability::Group, 0, n / 20, 1);
    run("durability=group (0 ms)", Durability::Group, 0, n, 256);
    run("durability=group (1 ms)", Durability::Group, 1, n, 256);
}
