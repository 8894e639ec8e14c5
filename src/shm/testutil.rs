//! Helpers for the shm unit tests: unique segment names that are removed
//! even when a test fails, and ways to fake leftovers of other processes.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{segment_path, unlink_segment};

/// A unique segment name (pid + counter) that is unlinked on drop.
pub(crate) struct Seg(pub String);

impl Seg {
    pub fn new() -> Seg {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Seg(format!("trading-unit-{}-{n}", std::process::id()))
    }
}

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = unlink_segment(&self.0);
    }
}

/// Owned symbol list from literals.
pub(crate) fn syms(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Overwrites bytes of segment `name` at `offset`, as another process (or
/// corruption) would.
pub(crate) fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(name))
        .unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Records `writer` in segment `name`'s header as its writer (pid at 32,
/// start time at 80), as if that process had created it.
pub(crate) fn poke_writer(name: &str, writer: super::ProcessIdentity) {
    poke(name, 32, &writer.pid.to_le_bytes());
    poke(name, 80, &writer.start_time.to_le_bytes());
}

/// A pid that belonged to a process which has exited and been reaped.
pub(super) fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A live child process, killed and reaped on drop.
pub(super) struct LiveChild(pub Child);

impl LiveChild {
    pub fn spawn() -> LiveChild {
        LiveChild(Command::new("sleep").arg("60").spawn().unwrap())
    }

    /// Its pid and start time, as a writer's header would record them.
    pub fn identity(&self) -> super::ProcessIdentity {
        super::ProcessIdentity::of(self.0.id()).unwrap()
    }
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
