//! Scenarios through real `--role orderbook` and `--role strategy` children
//! (and a real `--role ordermanager` for tick → ACK), fed and answered by
//! the [`Probe`]. Every scenario gets a fresh table, so tick `n` of the feed
//! is ring sequence `n`, and its own log directory, read at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use super::children::{ChildProc, ShmGuard};
use super::feed::{wait_published, Feed, SYMBOLS, WINDOWS};
use super::probe::{mono_ns, OrderMode, Probe};
use crate::shm::PriceTableReader;

/// How long the strategy may take to finish after the feed ends.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Peak RSS of one child, KiB, with its role.
#[derive(Debug, Clone)]
pub struct Rss {
    /// Role name.
    pub role: &'static str,
    /// VmHWM, KiB.
    pub peak_kib: u64,
}

/// What one scenario measured.
pub struct Outcome {
    /// Scenario name, for the report.
    pub name: String,
    /// Ticks the probe sent.
    pub ticks: u64,
    /// Tick → order (or → ACK) samples, ns.
    pub latency: Histogram<u64>,
    /// Orders the probe's engine predicted and the orders (or ACKs) seen.
    pub expected_orders: u64,
    /// Orders (or ACKs) the probe saw.
    pub orders: u64,
    /// REJs seen (tick → ACK runs only).
    pub rejected: u64,
    /// Ticks the strategy consumed from the ring (its `final counts` line).
    pub strategy_ticks: Option<u64>,
    /// Ticks sent but never consumed by the strategy: sent minus its
    /// `ticks` counter, so a tick missing for any reason counts, not only
    /// those the ring reported overwritten. `None` without the counter.
    pub lost: Option<u64>,
    /// The orderbook's waits for the strategy to make room in the ring
    /// (`ring_waits`, `ring_wait_ms` of its `final stats` line).
    pub ring_waits: Option<(u64, u64)>,
    /// Throughput: `(orderbook ticks/s, strategy ticks/s, probe send ticks/s)`.
    pub rates: Option<(f64, f64, f64)>,
    /// Peak RSS of every child of the scenario.
    pub rss: Vec<Rss>,
    /// Size of the shm segment, bytes.
    pub shm_bytes: u64,
}

/// The children and probe of one scenario.
struct Stack {
    probe: Probe,
    feed: Feed,
    table: PriceTableReader,
    shm: ShmGuard,
    orderbook: ChildProc,
    strategy: ChildProc,
    om: Option<ChildProc>,
    logs: PathBuf,
}

/// A number that differs between scenarios of one run, for their tokens.
fn mono_token() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Writes a scenario's configuration: every address, name and path of this
/// run, a finite feed, news off and short windows so crossovers are frequent.
fn write_config(dir: &Path, shm: &str, probe: &Probe, token: &str) -> anyhow::Result<PathBuf> {
    let d = dir.display();
    let syms: Vec<String> = SYMBOLS.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        "symbols = [{syms}]\n\
         [logs]\ndir = \"{d}/logs\"\nlevel = \"info\"\n\
         [gateway]\nloop = false\n\
         [orderbook]\nmd_port = {md}\nshared_memory_name = \"{shm}\"\n\
         [strategy]\nshared_memory_name = \"{shm}\"\norder_manager_port = {orders}\n\
         news_port = {news}\nuse_news = false\nshort_window = {sw}\nlong_window = {lw}\n\
         auth_token = \"{token}\"\n\
         [ordermanager]\nport = 0\njournal_path = \"{d}/orders.journal\"\n\
         shared_memory_name = \"{shm}\"\nauth_token = \"{token}\"\n",
        syms = syms.join(", "),
        md = probe.md_addr.port(),
        orders = probe.order_addr.port(),
        news = probe.news_addr.port(),
        sw = WINDOWS.0,
        lw = WINDOWS.1,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn spawn_role(dir: &Path, role: &'static str, config: &Path) -> anyhow::Result<ChildProc> {
    let cfg = config.to_str().context("config path is not UTF-8")?;
    let args = ["--role", role, "--config", cfg, "--exit-with-parent"];
    ChildProc::spawn(role, dir, &args, &[])
}

/// Starts (ordermanager,) orderbook and strategy around a probe and waits
/// until the orderbook subscribed and the strategy's order link is up.
fn start(work: &Path, tag: &str, capacity: usize, with_om: bool) -> anyhow::Result<Stack> {
    let dir = work.join(tag);
    std::fs::create_dir_all(dir.join("logs"))?;
    let shm = ShmGuard::new(tag);
    // The scenario's own token: its strategy authenticates to its
    // ordermanager (or to the probe, which ignores the AUTH frame as it does
    // any frame that is not an order). One per scenario, written into every
    // config file of it.
    let token = format!("bench-{}-{}", std::process::id(), mono_token());
    let mut om = None;
    let mode = if with_om {
        // The ordermanager first: the probe must know where to pass orders.
        let placeholder = Probe::start(0, OrderMode::Ack)?;
        let cfg = write_config(&dir, &shm.name, &placeholder, &token)?;
        let mut child = spawn_role(&dir, "ordermanager", &cfg)?;
        let eps = child.ready()?;
        let addr = eps
            .iter()
            .find(|(n, _)| n == "orders")
            .map(|e| e.1)
            .context("the ordermanager announced no orders endpoint")?;
        om = Some(child);
        OrderMode::Proxy(addr)
    } else {
        OrderMode::Ack
    };
    let probe = Probe::start(capacity, mode)?;
    let cfg = write_config(&dir, &shm.name, &probe, &token)?;
    let mut orderbook = spawn_role(&dir, "orderbook", &cfg)?;
    orderbook.ready()?;
    // A finite replay's orderbook dials the feed once the strategy has
    // registered as a ring reader, which its READY says.
    let mut strategy = spawn_role(&dir, "strategy", &cfg)?;
    strategy.ready()?;
    let md = probe.accept_orderbook(Duration::from_secs(30))?;
    let table = PriceTableReader::attach(&shm.name).context("attaching to the bench table")?;
    let feed = Feed::new(md, probe.shared.clone())?;
    // The strategy dials its order link right after READY; wait for it so
    // the first orders do not meet a reconnect backoff.
    std::thread::sleep(Duration::from_millis(300));
    Ok(Stack {
        probe,
        feed,
        table,
        shm,
        orderbook,
        strategy,
        om,
        logs: dir.join("logs"),
    })
}

impl Stack {
    /// Ends the feed, lets orderbook and strategy finish by themselves (the
    /// finite-run path), stops the ordermanager and gathers the outcome.
    fn finish(mut self, name: &str) -> anyhow::Result<Outcome> {
        self.feed.finish()?;
        let shm_bytes = self.shm.size().unwrap_or(0);
        self.orderbook.wait_exit(FINISH_TIMEOUT)?;
        self.strategy.wait_exit(FINISH_TIMEOUT)?;
        if let Some(om) = self.om.as_mut() {
            om.stop(Duration::from_secs(10))?;
        }
        let read_log =
            |name: &str| std::fs::read_to_string(self.logs.join(name)).unwrap_or_default();
        let [strategy_ticks, ring_lost] =
            last_counts(&read_log("strategy.log"), "final counts", ["ticks", "lost"]);
        let lost = strategy_ticks.map(|read| self.feed.seq.saturating_sub(read));
        if let (Some(missing), Some(reported)) = (lost, ring_lost) {
            if reported > missing {
                bail!("{name}: the strategy reports {reported} ticks lost but only {missing} are missing");
            }
        }
        let [waits, wait_ms] = last_counts(
            &read_log("orderbook.log"),
            "final stats",
            ["ring_waits", "ring_wait_ms"],
        );
        let sh = &self.probe.shared;
        let latency = sh
            .hist
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| super::new_hist());
        let mut rss = vec![
            Rss {
                role: "orderbook",
                peak_kib: self.orderbook.peak_rss_kib(),
            },
            Rss {
                role: "strategy",
                peak_kib: self.strategy.peak_rss_kib(),
            },
        ];
        if let Some(om) = &self.om {
            rss.push(Rss {
                role: "ordermanager",
                peak_kib: om.peak_rss_kib(),
            });
        }
        let unmatched = sh.unmatched.load(std::sync::atomic::Ordering::Relaxed);
        if unmatched > 0 {
            bail!("{name}: {unmatched} orders named no tick the probe sent");
        }
        Ok(Outcome {
            name: name.to_string(),
            ticks: self.feed.seq,
            latency,
            expected_orders: self.feed.crossovers.len() as u64,
            orders: sh.orders.load(std::sync::atomic::Ordering::Relaxed),
            rejected: sh.rejected.load(std::sync::atomic::Ordering::Relaxed),
            strategy_ticks,
            lost,
            ring_waits: waits.zip(wait_ms),
            rates: None,
            rss,
            shm_bytes,
        })
    }
}

/// The numbers `key: N` of the last log line containing `marker` (e.g.
/// the strategy's `final counts`), one per key; `None` where missing.
pub fn last_counts<const K: usize>(log: &str, marker: &str, keys: [&str; K]) -> [Option<u64>; K] {
    let Some(line) = log.lines().rev().find(|l| l.contains(marker)) else {
        return [None; K];
    };
    keys.map(|key| {
        let at = line.find(&format!(" {key}: "))? + key.len() + 3;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

/// Feed throughput at `rate = 0`: `n` ticks as fast as TCP takes them; the
/// orderbook's figure ends when the table holds the last tick, the
/// strategy's when the order for the last crossover arrives.
pub fn throughput(work: &Path, n: u64, progress: &dyn Fn(&str)) -> anyhow::Result<Outcome> {
    let mut st = start(work, "rate0", n as usize, false)?;
    let chunks = st.feed.render_burst(n);
    let t0 = mono_ns();
    let p = |sent: u64| progress(&format!("  sent {sent} of {n} ticks"));
    st.feed.burst(chunks, &p)?;
    let t_sent = mono_ns();
    wait_published(&st.table, n)?;
    let t_book = mono_ns();
    let last_cross = st.feed.crossovers.last().copied();
    let deadline = Instant::now() + FINISH_TIMEOUT;
    let answered =
        |s: u64| st.probe.shared.answered[s as usize].load(std::sync::atomic::Ordering::Acquire);
    // The last crossover's order, if the strategy saw that tick at all.
    let mut t_strategy = None;
    while let Some(s) = last_cross {
        if answered(s) > 0 {
            t_strategy = Some((s + 1, answered(s)));
            break;
        }
        if Instant::now() >= deadline || st.strategy.wait_exit(Duration::ZERO).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = |t: i64| ((t - t0) as f64 / 1e9).max(1e-9);
    let book_rate = n as f64 / secs(t_book);
    let send_rate = n as f64 / secs(t_sent);
    let mut out = st.finish("pipeline, rate = 0")?;
    // Without its order (ticks lost on the way), the strategy's figure is
    // what it read over the time it took to get the orderbook's last tick.
    // Ticks the strategy lost were skipped, not processed: count only what it read.
    let strategy_rate = match t_strategy {
        Some((ticks, at)) => ticks.min(out.strategy_ticks.unwrap_or(ticks)) as f64 / secs(at),
        None => out.strategy_ticks.unwrap_or(0) as f64 / secs(mono_ns()),
    };
    out.rates = Some((book_rate, strategy_rate, send_rate));
    Ok(out)
}

/// Tick → order latency at a steady `rate` for `secs` seconds.
pub fn steady(
    work: &Path,
    rate: u64,
    secs: u64,
    with_om: bool,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Outcome> {
    let n = rate * secs;
    let tag = if with_om { "ack" } else { "steady" };
    let mut st = start(work, &format!("{tag}{rate}"), n as usize, with_om)?;
    st.probe
        .shared
        .warmup
        .store((n / 20).min(1000), std::sync::atomic::Ordering::Relaxed);
    let p = |sent: u64| progress(&format!("  sent {sent} of {n} ticks"));
    st.feed.steady(n, rate, &p)?;
    wait_published(&st.table, n)?;
    let what = if with_om {
        "tick → ACK (fsync)"
    } else {
        "tick → order"
    };
    st.finish(&format!("{what}, {rate} ticks/s"))
}

/// Tick → order latency with one tick in flight: `samples` crossovers, each
/// sent into an idle pipeline.
pub fn one_in_flight(work: &Path, samples: u64) -> anyhow::Result<Outcome> {
    let capacity = samples as usize * 200 + 10_000;
    let mut st = start(work, "single", capacity, false)?;
    let got = st.feed.one_in_flight(samples, &st.table)?;
    if st.feed.seq as usize > capacity {
        bail!("one-in-flight needed more than {capacity} ticks");
    }
    let mut out = st.finish("tick → order, one tick in flight")?;
    out.expected_orders = out.expected_orders.max(got);
    Ok(out)
}
