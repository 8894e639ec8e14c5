//! The live view of a real `--all` run: the page in headless Chromium and
//! the Prometheus exposition at `/metrics`.
//!
//! Without a Chromium on PATH the browser test says SKIPPED and passes,
//! unless `REQUIRE_BROWSER=1` (CI sets it and installs Chromium).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A looping run (random walk, no news, so orders come at once) with the
/// dashboard on an ephemeral port; returns it and the dashboard's address.
fn start_run(dir: &TestDir, shm: &ShmName) -> (Proc, SocketAddr) {
    let config = dir.config(shm, "");
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", "2000".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "3".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "8".into()),
        ("TRADING__STRATEGY__ORDER_TIMEOUT_MS", "20000".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "30000".into()),
    ]);
    let mut run = spawn(dir, &["--all", "--config", config.to_str().unwrap()], &env);
    // The supervisor's own stdout has one READY line: the dashboard's.
    let addr = Proc::endpoint(&run.ready(), "http");
    wait_until("orders in the journal", || !dir.journal().is_empty());
    (run, addr)
}

/// Stops the run as Ctrl+C would and checks it ended clean.
fn stop_run(mut run: Proc, shm: &ShmName) {
    run.signal(Signal::SIGINT);
    let status = run.wait();
    assert!(status.success(), "exit status {status}");
    assert!(!shm.exists(), "the segment is removed");
}

/// The Chromium to drive: `$CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` for about `ms` of page time with `what`
/// (`--dump-dom` or `--screenshot=…`); its stdout. Killed past [`TIMEOUT`].
fn browse(browser: &Path, profile: &Path, url: &str, ms: u64, what: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1200,760",
            &format!("--user-data-dir={}", profile.display()),
            // A real-time limit: a virtual time budget never ends while an
            // event stream is open.
            &format!("--timeout={ms}"),
            what,
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The page's DOM once it has drawn at least one live snapshot: a cold
/// browser (new profile, loaded machine) may need more than one try.
fn live_dom(browser: &Path, profile: &Path, url: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let dom = browse(browser, profile, url, 3000, "--dump-dom");
        if text_of(&dom, "events").is_some_and(|n| n != "0") {
            return dom;
        }
        assert!(
            Instant::now() < deadline,
            "the page never drew an event:\n{dom}"
        );
    }
}

/// The text of the element `id="ID"` in a dumped DOM (a leaf element).
fn text_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let text = &rest[rest.find('>')? + 1..];
    Some(&text[..text.find('<')?])
}

/// What the page shows: accepted orders, events received, prices by symbol.
fn page_figures(dom: &str) -> (u64, u64, BTreeMap<String, String>) {
    let number = |id| {
        text_of(dom, id)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no number in #{id}:\n{dom}"))
    };
    let prices = ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN"]
        .iter()
        .filter_map(|s| {
            Some((
                s.to_string(),
                text_of(dom, &format!("price-{s}"))?.to_string(),
            ))
        })
        .collect();
    (number("orders"), number("events"), prices)
}

#[test]
fn the_page_shows_prices_and_orders_moving() {
    let Some(browser) = chromium() else {
        let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "REQUIRE_BROWSER=1 but no chromium on PATH");
        eprintln!("SKIPPED: no chromium on PATH (apt-get install chromium; REQUIRE_BROWSER=1 makes this fail)");
        return;
    };
    let dir = TestDir::new();
    let shm = ShmName::new("dash");
    let (run, addr) = start_run(&dir, &shm);
    let url = format!("http://{addr}/");
    let profile = dir.path().join("chromium");

    let first = live_dom(&browser, &profile, &url);
    std::thread::sleep(Duration::from_secs(2));
    let second = live_dom(&browser, &profile, &url);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &browser,
        &profile,
        &url,
        6000,
        &format!("--screenshot={}", shot.display()),
    );
    stop_run(run, &shm);

    let (orders1, events1, prices1) = page_figures(&first);
    let (orders2, events2, prices2) = page_figures(&second);
    assert!(events1 >= 1 && events2 >= 1, "drawn from the event stream");
    assert_eq!(text_of(&second, "state"), Some("trading"), "{second}");
    assert_eq!(prices1.len(), 5, "every symbol has a price: {prices1:?}");
    assert!(orders1 >= 1, "orders shown: {orders1}");
    assert!(
        orders2 > orders1,
        "order count moved: {orders1} then {orders2}"
    );
    assert!(
        prices1.iter().any(|(s, p)| prices2.get(s) != Some(p)),
        "prices moved: {prices1:?} then {prices2:?}"
    );
    assert!(shot.is_file(), "a screenshot at {}", shot.display());
    eprintln!("screenshot: {}", shot.display());
}

/// One sample line of the exposition: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses a whole text exposition, failing on any line that does not fit:
/// `# HELP`/`# TYPE` lines, samples `name{l="v",…} value`, and `# EOF` last.
/// Returns the samples and each metric family's type.
fn parse_exposition(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let is_name = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    let (mut samples, mut types) = (Vec::new(), BTreeMap::new());
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, Vec::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                    let labels = inner
                        .split(',')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
                            assert!(is_name(k), "{line}");
                            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                            (
                                k.to_string(),
                                v.unwrap_or_else(|| panic!("{line}")).to_string(),
                            )
                        })
                        .collect();
                    (name, labels)
                }
            };
            assert!(is_name(name), "{line}");
            samples.push((name.to_string(), labels, value));
        }
    }
    (samples, types)
}

/// Samples that may only grow: counters' `_total`, histograms' buckets and counts.
fn monotonic(samples: &[Sample], types: &BTreeMap<String, String>) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|(name, _, _)| {
            types.iter().any(|(family, kind)| match kind.as_str() {
                "counter" => *name == format!("{family}_total"),
                "histogram" => {
                    [format!("{family}_count"), format!("{family}_bucket")].contains(name)
                }
                _ => false,
            })
        })
        .map(|(name, labels, v)| (format!("{name}{labels:?}"), *v))
        .collect()
}

#[test]
fn metrics_parse_and_counters_only_grow() {
    let dir = TestDir::new();
    let shm = ShmName::new("metrics");
    let (run, addr) = start_run(&dir, &shm);
    // The first scrape once the run trades (a loaded machine may take a
    // while to start four processes), so that growth can be compared.
    let mut first = String::new();
    wait_until("a scrape with accepted orders", || {
        first = http_get(addr, "/metrics");
        first.contains("trading_orders_total{outcome=\"accepted\"}")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let second = http_get(addr, "/metrics");
    // Without a terminal the status line goes to main.log every 5 s.
    let status = || {
        let log = dir.read("logs/main.log");
        log.lines()
            .find(|l| l.contains("status"))
            .map(str::to_string)
    };
    wait_until("a status line in main.log", || status().is_some());
    stop_run(run, &shm);
    let status = status().unwrap();
    assert!(
        status.contains(" | P&L +") || status.contains(" | P&L -"),
        "{status}"
    );

    let (s1, t1) = parse_exposition(&first);
    let (s2, t2) = parse_exposition(&second);
    for family in ["trading_ticks", "trading_orders", "trading_restarts"] {
        assert_eq!(
            t1.get(family).map(String::as_str),
            Some("counter"),
            "{first}"
        );
    }
    assert_eq!(
        t2.get("trading_tick_to_order_latency_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    let (m1, m2) = (monotonic(&s1, &t1), monotonic(&s2, &t2));
    for (series, v1) in &m1 {
        let v2 = m2
            .get(series)
            .unwrap_or_else(|| panic!("{series} gone:\n{second}"));
        assert!(v2 >= v1, "{series} went from {v1} to {v2}");
    }
    let grew = |series: &str| m2[series] > m1[series];
    assert!(
        grew("trading_ticks_total[]"),
        "ticks grew:\n{first}\n{second}"
    );
    let accepted = "trading_orders_total[(\"outcome\", \"accepted\")]";
    assert!(grew(accepted), "orders grew:\n{first}\n{second}");
    let prices = s2
        .iter()
        .filter(|(n, _, _)| n == "trading_last_price")
        .count();
    assert_eq!(prices, 5, "a price per symbol:\n{second}");
}
