//! The probe: the benchmark's stand-in for the gateway and the ordermanager
//! around real orderbook and strategy processes.
//!
//! It serves the market data stream itself, so it knows the send time of
//! every tick (tick `n` of a fresh table has ring sequence `n`), and it takes
//! the strategy's orders itself, so it knows when each arrived. An order id
//! names its crossover tick (`{client}-{generation}-{seq hex}`), which links
//! each order to its tick's send time: both ends are read on this process's
//! monotonic clock. Orders are either answered at once (`ACK,id*`) or passed
//! to a real ordermanager, in which case the latency recorded is tick → ACK,
//! the journal's `fdatasync` included.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::new_hist;
use crate::protocol::{parse_order, parse_reply, write_ack, FrameSplitter, Reply};

/// Nanoseconds on this process's monotonic clock: the one clock both ends
/// of every latency sample are read on.
pub fn mono_ns() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as i64
}

/// What the probe does with an order.
#[derive(Debug, Clone, Copy)]
pub enum OrderMode {
    /// Answer `ACK,id*` at once; record tick → order receipt.
    Ack,
    /// Pass orders to the ordermanager at this address and its replies
    /// back; record tick → ACK as the reply passes.
    Proxy(SocketAddr),
}

/// State shared by the probe's threads and the scenario driving them.
pub struct ProbeShared {
    /// Send time (`mono_ns`) of each tick by sequence; 0 = not sent.
    pub sent: Vec<AtomicI64>,
    /// Receive time (`mono_ns`) of the order (or ACK) for each crossover tick.
    pub answered: Vec<AtomicI64>,
    /// Latency samples, ns, of ticks at or after `warmup`.
    pub hist: Mutex<Histogram<u64>>,
    /// Ticks before this sequence are not sampled (windows filling, caches cold).
    pub warmup: AtomicU64,
    /// Orders (or ACKs) seen.
    pub orders: AtomicU64,
    /// Orders whose id named no tick this probe sent.
    pub unmatched: AtomicU64,
    /// REJ replies seen through the proxy.
    pub rejected: AtomicU64,
    /// Sequence of each order as it arrives, for a driver waiting on one.
    pub arrivals: Mutex<Option<mpsc::Sender<u64>>>,
    /// Set when the scenario is over: accept loops end.
    pub stop: AtomicBool,
}

impl ProbeShared {
    fn new(capacity: usize) -> ProbeShared {
        let zeros = |n| (0..n).map(|_| AtomicI64::new(0)).collect::<Vec<_>>();
        ProbeShared {
            sent: zeros(capacity),
            answered: zeros(capacity),
            hist: Mutex::new(new_hist()),
            warmup: AtomicU64::new(0),
            orders: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            arrivals: Mutex::new(None),
            stop: AtomicBool::new(false),
        }
    }

    /// Records that the order or ACK for client order id `id` arrived at `at`.
    fn record(&self, id: &str, at: i64) {
        self.orders.fetch_add(1, Ordering::Relaxed);
        let sent = seq_of_order_id(id)
            .and_then(|seq| Some((seq, self.sent.get(seq as usize)?.load(Ordering::Acquire))));
        let Some((seq, sent)) = sent.filter(|&(_, t)| t > 0) else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.answered[seq as usize].store(at, Ordering::Release);
        if seq >= self.warmup.load(Ordering::Relaxed) {
            if let Ok(mut h) = self.hist.lock() {
                let _ = h.record((at - sent).max(1) as u64);
            }
        }
        if let Ok(tx) = self.arrivals.lock() {
            if let Some(tx) = tx.as_ref() {
                let _ = tx.send(seq);
            }
        }
    }
}

/// The crossover tick's ring sequence from a client order id
/// `{client}-{generation hex}-{seq hex}`.
pub fn seq_of_order_id(id: &str) -> Option<u64> {
    let (_, seq) = id.rsplit_once('-')?;
    u64::from_str_radix(seq, 16).ok()
}

/// The probe's listeners; threads serve them until the probe drops.
pub struct Probe {
    /// Shared with the serving threads.
    pub shared: Arc<ProbeShared>,
    md: TcpListener,
    /// Where the orderbook subscribes.
    pub md_addr: SocketAddr,
    /// Where the strategy sends orders.
    pub order_addr: SocketAddr,
    /// Where a news subscriber would connect (nothing is ever sent there).
    pub news_addr: SocketAddr,
}

impl Probe {
    /// Binds the three listeners on loopback for up to `capacity` ticks and
    /// starts serving orders and news subscribers.
    pub fn start(capacity: usize, mode: OrderMode) -> anyhow::Result<Probe> {
        let shared = Arc::new(ProbeShared::new(capacity));
        let md = TcpListener::bind("127.0.0.1:0")?;
        let orders = TcpListener::bind("127.0.0.1:0")?;
        let news = TcpListener::bind("127.0.0.1:0")?;
        let (md_addr, order_addr, news_addr) =
            (md.local_addr()?, orders.local_addr()?, news.local_addr()?);
        let sh = shared.clone();
        accept_loop(orders, shared.clone(), move |s| {
            serve_orders(s, sh.clone(), mode)
        })?;
        // News subscribers get nothing: the strategy runs with use_news = false.
        accept_loop(news, shared.clone(), drain)?;
        Ok(Probe {
            shared,
            md,
            md_addr,
            order_addr,
            news_addr,
        })
    }

    /// Waits for the orderbook's market data connection; anything it sends
    /// on it is read and ignored.
    pub fn accept_orderbook(&self, timeout: Duration) -> anyhow::Result<TcpStream> {
        let s = super::floors::accept_within(&self.md, timeout)?;
        let r = s.try_clone()?;
        std::thread::spawn(move || drain(r));
        Ok(s)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Accepts connections until the probe stops, handing each to `serve` on its
/// own thread.
fn accept_loop(
    listener: TcpListener,
    shared: Arc<ProbeShared>,
    serve: impl Fn(TcpStream) + Send + Clone + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        while !shared.stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    if s.set_nonblocking(false).is_err() || s.set_nodelay(true).is_err() {
                        continue;
                    }
                    let serve = serve.clone();
                    std::thread::spawn(move || serve(s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    Ok(())
}

/// Reads and drops everything until the peer closes.
fn drain(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

fn serve_orders(s: TcpStream, shared: Arc<ProbeShared>, mode: OrderMode) {
    match mode {
        OrderMode::Ack => answer_orders(s, &shared),
        OrderMode::Proxy(om) => proxy_orders(s, om, shared),
    }
}

/// Stands in for the ordermanager: stamps each read, ACKs every order in it
/// with one write.
fn answer_orders(mut s: TcpStream, shared: &ProbeShared) {
    let mut splitter = FrameSplitter::new(crate::protocol::DEFAULT_MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let at = mono_ns();
        splitter.push(&buf[..n]);
        out.clear();
        while let Ok(Some(frame)) = splitter.next_frame() {
            if let Ok(order) = parse_order(frame) {
                if let Some(id) = order.client_order_id {
                    shared.record(id, at);
                    write_ack(&mut out, id);
                }
            }
        }
        if !out.is_empty() && s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Sits between the strategy and a real ordermanager: orders pass as they
/// are, and each reply is stamped as it passes back.
fn proxy_orders(strategy: TcpStream, om: SocketAddr, shared: Arc<ProbeShared>) {
    let Ok(upstream) = TcpStream::connect(om) else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (Ok(mut up_w), Ok(mut st_r)) = (upstream.try_clone(), strategy.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = st_r.read(&mut buf) {
            if n == 0 || up_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = up_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut up_r, mut st_w) = (upstream, strategy);
    let mut splitter = FrameSplitter::new(crate::protocol::DEFAULT_MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = up_r.read(&mut buf) {
        if n == 0 {
            break;
        }
        let at = mono_ns();
        splitter.push(&buf[..n]);
        while let Ok(Some(frame)) = splitter.next_frame() {
            match parse_reply(frame) {
                Ok(Reply::Ack { client_order_id }) => shared.record(client_order_id, at),
                Ok(Reply::Rej { .. } | Reply::Refused { .. }) => {
                    shared.rejected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Reply::AuthOk) | Err(_) => {}
            }
        }
        if st_w.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = st_w.shutdown(std::net::Shutdown::Write);
}
