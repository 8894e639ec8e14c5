//! Helpers for integration tests that run the real binary as separate processes.
//!
//! Every test gets its own temporary directory (config, logs, journal, data),
//! a unique shm name, and ephemeral ports (port 0, read back from the READY
//! line each listening role prints). Processes are killed and segments
//! removed when the guards drop, also when a test fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod history;
pub use nix::sys::signal::Signal;
use trading::price::Price;
use trading::protocol::Side;
use trading::signals::{SignalEngine, SignalParams};
use trading::symbol::SymbolIndex;

/// Upper bound for anything a test waits for; tests fail instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test, built by cargo for integration tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_trading-stack")
}

/// A shm name no other test or run uses, removed from /dev/shm on drop.
pub struct ShmName(pub String);

impl ShmName {
    /// A fresh name made of the test's tag, the pid and a counter.
    pub fn new(tag: &str) -> ShmName {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ShmName(format!("it_{tag}_{}_{n}", std::process::id()))
    }

    /// Whether the segment exists under /dev/shm.
    pub fn exists(&self) -> bool {
        Path::new("/dev/shm").join(&self.0).exists()
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(&self.0));
    }
}

/// A temporary working directory holding a config file and the run's files.
pub struct TestDir {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestDir {
    /// An empty directory with a `logs/` and `data/` inside.
    pub fn new() -> TestDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        TestDir { dir }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes `config.toml`: `extra` appended to settings that keep the test
    /// self-contained (ephemeral ports, logs and journal inside this dir, the
    /// given shm name). Sections named in `extra` must not repeat these keys,
    /// so put overrides of them in `env` of [`spawn`] instead.
    pub fn config(&self, shm: &ShmName, extra: &str) -> PathBuf {
        let d = self.path().display();
        let text = format!(
            "[logs]\ndir = \"{d}/logs\"\nlevel = \"debug\"\n\
             [orderbook]\nshared_memory_name = \"{shm}\"\n\
             [strategy]\nshared_memory_name = \"{shm}\"\n\
             [ordermanager]\njournal_path = \"{d}/data/orders.journal\"\nshared_memory_name = \"{shm}\"\n\
             {extra}\n",
            shm = shm.0
        );
        self.write("config.toml", &text)
    }

    /// Environment for a self-contained run: every listener on port 0.
    pub fn ports_env() -> Vec<(&'static str, String)> {
        vec![
            ("TRADING__GATEWAY__MD_PORT", "0".into()),
            ("TRADING__GATEWAY__NEWS_PORT", "0".into()),
            ("TRADING__ORDERMANAGER__PORT", "0".into()),
            ("TRADING__DASHBOARD__PORT", "0".into()),
        ]
    }

    /// The journal's records.
    pub fn journal(&self) -> Vec<trading::ordermanager::JournalRecord> {
        trading::ordermanager::read_journal(&self.path().join("data/orders.journal"), 0)
            .expect("journal")
            .records
    }

    /// Reads a file of the run (a log or the journal), empty if absent.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }
}

/// A running process of the binary, killed on drop unless it already exited.
pub struct Proc {
    /// The child process.
    pub child: Child,
    /// Its stdin: closing it asks a `--exit-with-parent` child to stop.
    pub stdin: Option<ChildStdin>,
    /// Lines the process printed on stdout, read by a background thread.
    pub stdout: mpsc::Receiver<String>,
    /// Lines it printed on stderr (its terminal messages), read likewise.
    pub stderr: mpsc::Receiver<String>,
}

impl Proc {
    /// Waits for the READY line and returns its endpoints by name.
    pub fn ready(&mut self) -> Vec<(String, SocketAddr)> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some((_, eps)) = trading::lifecycle::parse_ready_line(&line) {
                        return eps;
                    }
                }
                Err(_) => panic!("no READY line within {TIMEOUT:?}"),
            }
        }
    }

    /// The address of endpoint `name` from a READY line.
    pub fn endpoint(eps: &[(String, SocketAddr)], name: &str) -> SocketAddr {
        eps.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no endpoint {name} in {eps:?}"))
            .1
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        signal(self.child.id(), Signal::SIGTERM);
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: Signal) {
        signal(self.child.id(), sig);
    }

    /// Waits for the exit, at most [`TIMEOUT`]; panics past it.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, sig: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// Whether process `pid` still exists (and is not a zombie we could reap).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Starts the binary with `args` in `dir`, with extra environment variables.
pub fn spawn(dir: &TestDir, args: &[&str], env: &[(&str, String)]) -> Proc {
    spawn_program(dir, binary(), args, env)
}

/// Starts `program` (e.g. a wrapper that execs the binary) in `dir`, with
/// stdout and stderr read line by line in the background.
pub fn spawn_program(dir: &TestDir, program: &str, args: &[&str], env: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the binary");
    let stdin = child.stdin.take();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    Proc {
        child,
        stdin,
        stdout,
        stderr,
    }
}

/// The lines of `stream`, read to its end by a background thread.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Every line the exited process printed on stderr (its reader thread may
/// lag behind the exit, so read until it hangs up).
pub fn all_stderr(run: &Proc) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = run.stderr.recv_timeout(TIMEOUT) {
        lines.push(line);
    }
    lines
}

/// Starts one role with `config` (and `--exit-with-parent`, so it dies with the test).
pub fn spawn_role(dir: &TestDir, role: &str, config: &Path, env: &[(&str, String)]) -> Proc {
    let cfg = config.to_str().unwrap();
    spawn(
        dir,
        &["--role", role, "--config", cfg, "--exit-with-parent"],
        env,
    )
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `sig` to any process by pid (children of the supervisor, say).
pub fn signal_pid(pid: u32, sig: Signal) {
    signal(pid, sig);
}

/// Pids of the children the supervisor logged as started, by role, in order.
pub fn child_pids(main_log: &str, role: &str) -> Vec<u32> {
    main_log
        .lines()
        .filter(|l| l.contains("child started") && l.contains(&format!(" child: {role},")))
        .filter_map(|l| {
            l.split("pid: ")
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Writes all of `bytes` to a new loopback connection to `addr` and returns it.
pub fn connect_and_send(addr: SocketAddr, bytes: &[u8]) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// The symbols of the wavy replays.
pub const SYMBOLS: [&str; 2] = ["AAA", "BBB"];

/// `n` rows, two symbols, slow waves with a little noise: plenty of crossovers.
pub fn wavy_csv(n: usize) -> (String, Vec<(usize, Price)>) {
    let mut text = String::from("timestamp,symbol,price\n");
    let mut rows = Vec::new();
    for i in 0..n {
        let s = i % 2;
        let t = (i / 2) as f64;
        let cents = (10_000.0 + 400.0 * (t / (6.0 + s as f64)).sin() + ((i * 37) % 11) as f64 * 7.0)
            .round() as i64;
        let price = Price::from_units(cents * 1_000_000);
        text.push_str(&format!(
            "2024-01-02 {:02}:{:02}:{:02}.{:03},{},{}\n",
            10 + i / 36_000,
            i / 600 % 60,
            (i / 10) % 60,
            (i % 10) * 100,
            SYMBOLS[s],
            price
        ));
        rows.push((s, price));
    }
    (text, rows)
}

/// What a crossover computation over the rows says the orders must be.
pub fn predicted(rows: &[(usize, Price)], short: usize, long: usize) -> Vec<(String, Side, Price)> {
    let params = SignalParams {
        short_window: short,
        long_window: long,
        bullish_threshold: 70,
        bearish_threshold: 30,
        use_news: false,
    };
    let mut engine = SignalEngine::new(SYMBOLS.len(), &params).unwrap();
    rows.iter()
        .enumerate()
        .filter_map(|(seq, &(s, p))| {
            engine
                .on_tick(SymbolIndex::new(s), p.units(), seq as u64)
                .map(|i| (SYMBOLS[i.symbol.get()].to_string(), i.side, p))
        })
        .collect()
}

/// Environment for a finite `--all` replay of `csv` over [`SYMBOLS`] at
/// `rate` ticks/s (0 = full speed), crossover windows 3/8, no news.
pub fn finite_env(csv: &Path, rate: u64) -> Vec<(&'static str, String)> {
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__SYMBOLS", SYMBOLS.join(",")),
        ("TRADING__GATEWAY__DATA_PATH", csv.display().to_string()),
        ("TRADING__GATEWAY__LOOP", "false".into()),
        ("TRADING__GATEWAY__RATE", rate.to_string()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "3".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "8".into()),
    ]);
    env
}

/// The orders of the run's journal: (symbol, side, price), in order.
pub fn journal_orders(dir: &TestDir) -> Vec<(String, Side, Price)> {
    dir.journal()
        .iter()
        .map(|r| (r.symbol.clone().unwrap(), r.side.unwrap(), r.price.unwrap()))
        .collect()
}

/// The AUTH token of single-role tests (an `--all` run makes its own).
pub const TOKEN: &str = "integration-test-token-7f3a";

/// Environment that gives a lone ordermanager [`TOKEN`].
pub fn auth_env() -> Vec<(&'static str, String)> {
    vec![("TRADING__ORDERMANAGER__AUTH_TOKEN", TOKEN.into())]
}

/// A loopback connection to `addr` authenticated as `name` (its `AUTH_OK*`
/// read), then `bytes` written: what every order client now does first.
pub fn connect_as(addr: SocketAddr, name: &str, bytes: &[u8]) -> std::net::TcpStream {
    use std::io::Read;
    let mut s = connect_and_send(addr, format!("AUTH,{name},{TOKEN}*").as_bytes());
    let mut ok = [0u8; 8];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"AUTH_OK*");
    s.write_all(bytes).unwrap();
    s
}

/// Reads until the peer closes (or [`TIMEOUT`]); what arrived before.
pub fn read_to_close(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// `GET path` over plain HTTP/1.0: the body of a 200 answer.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("headers end");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

/// The first connection to `listener` (a stand-in gateway, nonblocking),
/// made blocking; panics after [`TIMEOUT`] without one.
pub fn accept_within(listener: &std::net::TcpListener) -> std::net::TcpStream {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nobody connected");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// `key: value` from a slog-term log line (e.g. a `final counts` line).
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}: "))? + key.len() + 3;
    let rest = &line[start..];
    Some(rest.split(", ").next().unwrap_or(rest).trim())
}

/// Environment for a looping `--all` run on a random walk (no data file)
/// at `rate` ticks/s (0: full speed), without news so orders depend on
/// ticks alone.
pub fn random_walk_env(rate: u64) -> Vec<(&'static str, String)> {
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", rate.to_string()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
    ]);
    env
}
