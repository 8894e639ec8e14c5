//! Child processes of the benchmark and everything that must not outlive it:
//! the children themselves, their shm segment and their working directory.
//!
//! Every guard here cleans up on drop, so a benchmark that fails half-way
//! (a child that never gets ready, a timeout) still leaves no process, no
//! `/dev/shm` segment and no temporary directory behind.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long a child may take to print its READY line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a child's peak RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(10);

/// A scratch directory (config, logs, journal) removed on drop.
///
/// Made next to the system's temp dir rather than on tmpfs when possible, so
/// the journal's `fdatasync` costs what it costs on a real disk.
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// A fresh directory under `parent` named after this process.
    pub fn new(parent: &Path) -> anyhow::Result<WorkDir> {
        let nanos = crate::clock::unix_now_ns();
        let path = parent.join(format!("trading-bench-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(path.join("logs"))
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A shm segment name of this run, unlinked on drop whoever made it: the
/// orderbook leaves its table behind after a finite feed (by design, for
/// readers still finishing), so the benchmark is the one to remove it.
pub struct ShmGuard {
    /// The name under `/dev/shm`.
    pub name: String,
}

impl ShmGuard {
    /// A name no other run uses: tag, pid and a counter.
    pub fn new(tag: &str) -> ShmGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ShmGuard {
            name: format!("bench_{tag}_{}_{n}", std::process::id()),
        }
    }

    /// The segment's size in bytes, if it exists.
    pub fn size(&self) -> Option<u64> {
        std::fs::metadata(Path::new("/dev/shm").join(&self.name))
            .ok()
            .map(|m| m.len())
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = crate::shm::unlink_segment(&self.name);
    }
}

/// A running child of this binary: killed and reaped on drop unless it
/// already exited; its peak RSS sampled by a thread while it lives.
pub struct ChildProc {
    /// What it is, for messages ("orderbook", "echo helper").
    pub what: String,
    child: Child,
    /// Held open: closing it asks a `--exit-with-parent` role to stop.
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    peak_kib: Arc<AtomicU64>,
    stop_watch: Arc<AtomicBool>,
}

impl ChildProc {
    /// Starts `current_exe() args…` in `dir` with extra environment.
    pub fn spawn(
        what: &str,
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<ChildProc> {
        let exe = std::env::current_exe().context("finding this binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the {what}"))?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().context("child stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop_watch = Arc::new(AtomicBool::new(false));
        watch_rss(child.id(), peak_kib.clone(), stop_watch.clone());
        Ok(ChildProc {
            what: what.to_string(),
            child,
            stdin,
            stdout: rx,
            peak_kib,
            stop_watch,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child's `READY` line and returns its endpoints.
    pub fn ready(&mut self) -> anyhow::Result<Vec<(String, SocketAddr)>> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some((_, eps)) = crate::lifecycle::parse_ready_line(&line) {
                        return Ok(eps);
                    }
                }
                Err(_) => bail!(
                    "the {} printed no READY line within {READY_TIMEOUT:?}",
                    self.what
                ),
            }
        }
    }

    /// Waits for the child to exit by itself, at most `timeout`; true if it did
    /// with status 0.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() >= deadline {
                bail!("the {} did not exit within {timeout:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks a `--exit-with-parent` child to stop (its stdin closes) and waits.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        self.stdin = None;
        self.wait_exit(timeout)
    }

    /// The highest VmHWM seen, in KiB (sampled every 10 ms while it ran).
    pub fn peak_rss_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed)
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.stop_watch.store(true, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Samples `/proc/<pid>/status` VmHWM (the kernel's own peak RSS) until the
/// process is gone: the last sample is at most one period before its exit.
fn watch_rss(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match vm_hwm_kib(pid) {
                Some(kib) => {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                None => return, // gone, or a zombie without memory
            }
            std::thread::sleep(RSS_EVERY);
        }
    });
}

/// VmHWM of `pid` in KiB, `None` when the process has no memory any more.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU `pid` last ran on (field 39 of `/proc/<pid>/stat`).
pub fn last_cpu(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Fields after the command start at field 3 (state).
    rest.split_whitespace().nth(36)?.parse().ok()
}
