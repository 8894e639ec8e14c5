//! The few Linux calls the table needs beyond files and mappings: futex
//! sleep/wake on the shared word, and "is this process still the writer".
//!
//! A pid alone cannot answer the second question: a dead writer's pid stays
//! in use while it is a zombie (exited, not yet reaped by its parent), and
//! the kernel hands it to a new process once it is reaped. So a writer is
//! identified by its pid **and** its start time (field 22 of
//! `/proc/<pid>/stat`), and judged alive only while a process with that pid
//! and that start time exists and is not a zombie.
#![allow(unsafe_code)] // futex(2) and kill(2) are called through libc; see each SAFETY comment.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Sleeps until the futex word no longer holds `expected`, a wake-up
/// arrives, or `timeout` passes — whichever is first. Spurious returns are
/// allowed; callers re-check their condition in a loop.
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`) because writer and readers
/// are different processes; the kernel keys it by the file page, which also
/// works when the reader's mapping is read-only (FUTEX_WAIT only reads).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned 4-byte location in a mapping that
    // outlives the call; `ts` is a valid timespec on our stack; the unused
    // uaddr2/val3 arguments are null/0 as FUTEX_WAIT requires. The result is
    // deliberately ignored: EAGAIN (value changed), EINTR and ETIMEDOUT all
    // mean "return and let the caller re-check".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every process sleeping on the futex word.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned 4-byte location in a mapping that
    // outlives the call; FUTEX_WAKE ignores the remaining arguments. A
    // failure can only mean a bad address, which the reference rules out.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Whether `pid` names an existing process (possibly owned by another user).
///
/// 0 and values above `i32::MAX` are "not a process" rather than being passed
/// to `kill`, where they would mean a process group. A zombie counts as
/// existing here; [`process_alive`] is the judgement that excludes it.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks and
    // delivers nothing; `pid` is a positive value, so it names one process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// One process as a table's header records it: its pid and its start time,
/// which together name a process for the whole life of the system (a pid
/// alone is reused once its process has been reaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// Field 22 (`starttime`) of `/proc/<pid>/stat`: clock ticks from boot
    /// to the process's start; 0 when it could not be read (then only the
    /// pid is compared).
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of process `pid` as `/proc` shows it now; `None` if no
    /// such process exists (or `/proc` cannot say).
    pub fn of(pid: u32) -> Option<ProcessIdentity> {
        let stat = read_proc_stat(pid).ok()?;
        Some(ProcessIdentity {
            pid,
            start_time: stat.start_time,
        })
    }

    /// This process's identity; the start time is 0 if `/proc` is unreadable.
    pub fn current() -> ProcessIdentity {
        let pid = std::process::id();
        ProcessIdentity::of(pid).unwrap_or(ProcessIdentity { pid, start_time: 0 })
    }
}

/// `PID:STARTTIME`, the form the supervisor passes on a command line.
impl std::fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.pid, self.start_time)
    }
}

impl std::str::FromStr for ProcessIdentity {
    type Err = String;

    /// Parses `PID:STARTTIME` (what `Display` writes).
    fn from_str(s: &str) -> Result<ProcessIdentity, String> {
        let (pid, start) = s
            .split_once(':')
            .ok_or_else(|| format!("expected PID:STARTTIME, got {s:?}"))?;
        Ok(ProcessIdentity {
            pid: pid.parse().map_err(|e| format!("bad pid {pid:?}: {e}"))?,
            start_time: start
                .parse()
                .map_err(|e| format!("bad start time {start:?}: {e}"))?,
        })
    }
}

/// The two fields of `/proc/<pid>/stat` that liveness needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), …
    pub state: u8,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Parses the text of `/proc/<pid>/stat`.
///
/// Field 2 is the command name in parentheses and may itself contain spaces
/// and parentheses (`(a) b)` is a legal name), so the fields after it are
/// found after the **last** `)`, never by splitting the whole line.
pub(crate) fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state.len() != 1 {
        return None;
    }
    // `fields` now stands at field 4; field 22 is 18 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat {
        state: state.as_bytes()[0],
        start_time,
    })
}

/// Reads and parses `/proc/<pid>/stat`.
pub(crate) fn read_proc_stat(pid: u32) -> std::io::Result<ProcStat> {
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat is not in the expected format"),
        )
    })
}

/// Whether the process `id` (a table's writer or a registered ring reader)
/// still runs: a process with its pid exists, it
/// is not a zombie, and (when `id.start_time` is known) it started at that
/// time, i.e. it is not a newer process that was given the same pid.
///
/// If `/proc/<pid>/stat` exists but cannot be read or parsed, this falls
/// back to "the pid exists": wrongly calling a live writer dead would let a
/// second writer replace its table.
pub(crate) fn process_alive(id: ProcessIdentity) -> bool {
    match read_proc_stat(id.pid) {
        Ok(stat) => judge(stat, id.start_time),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => pid_alive(id.pid),
    }
}

/// The liveness rule on a parsed stat: not a zombie (or dead), and the
/// recorded start time, if any, matches.
fn judge(stat: ProcStat, start_time: u64) -> bool {
    !matches!(stat.state, b'Z' | b'X' | b'x') && (start_time == 0 || stat.start_time == start_time)
}

/// A fresh generation number, nonzero and different from `previous`.
///
/// Mixes wall-clock nanoseconds, the pid and a per-process counter, so two
/// creations (even by one process within one clock tick) never collide.
pub(crate) fn new_generation(previous: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = crate::clock::unix_now_ns() as u64;
    let pid = u64::from(std::process::id());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut g = now ^ pid.rotate_right(20) ^ count.rotate_right(8);
    while g == 0 || g == previous {
        g = g.wrapping_add(1);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_reaped_child_is_not() {
        assert!(pid_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    /// A real stat line with the comm field replaced by `comm` and the
    /// state by `state`; start time 4242.
    fn stat_line(comm: &str, state: char) -> String {
        format!(
            "12345 ({comm}) {state} 1 12345 12345 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
             4242 8675328 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
    }

    #[test]
    fn proc_stat_is_parsed_after_the_last_parenthesis() {
        for comm in [
            "sleep",
            "a b",
            "x) S 1 2 3 (y",
            "((",
            ")",
            "",
            "trading-stack",
        ] {
            assert_eq!(
                parse_proc_stat(&stat_line(comm, 'S')),
                Some(ProcStat {
                    state: b'S',
                    start_time: 4242
                }),
                "{comm:?}"
            );
        }
        assert_eq!(
            parse_proc_stat(&stat_line("z) R (", 'Z')).unwrap().state,
            b'Z'
        );
        for bad in [
            "",
            "12345 sleep S 1",
            "12345 (sleep)",
            "12345 (sleep) S 1 2 3",
            "12345 (sleep) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
            "12345 (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x19",
        ] {
            assert_eq!(parse_proc_stat(bad), None, "{bad:?}");
        }
        let real = read_proc_stat(std::process::id()).unwrap();
        assert!(real.start_time > 0);
    }

    #[test]
    fn liveness_needs_the_same_start_time_and_no_zombie() {
        let running = ProcStat {
            state: b'S',
            start_time: 7,
        };
        assert!(judge(running, 7));
        assert!(
            judge(running, 0),
            "an unknown start time compares the pid only"
        );
        assert!(!judge(running, 8), "a newer process with a reused pid");
        for state in [b'Z', b'X'] {
            assert!(!judge(ProcStat { state, ..running }, 7));
        }
        let me = ProcessIdentity::current();
        assert!(me.start_time > 0);
        assert!(process_alive(me));
        assert_eq!(me.to_string().parse::<ProcessIdentity>(), Ok(me));
        assert!("12".parse::<ProcessIdentity>().is_err());
        assert!(!process_alive(ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        }));
        assert!(!process_alive(ProcessIdentity {
            pid: 0,
            start_time: 0
        }));
    }

    #[test]
    fn a_killed_but_unreaped_child_is_dead() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = ProcessIdentity::of(child.id()).unwrap();
        assert!(process_alive(id));
        child.kill().unwrap();
        // Not reaped: the pid stays taken by a zombie until `wait`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while read_proc_stat(id.pid).unwrap().state != b'Z' {
            assert!(
                std::time::Instant::now() < deadline,
                "never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(pid_alive(id.pid), "the zombie's pid still exists");
        assert!(!process_alive(id), "but it is not a live writer");
        child.wait().unwrap();
        assert!(!process_alive(id));
    }

    #[test]
    fn generations_are_nonzero_and_distinct() {
        let a = new_generation(0);
        let b = new_generation(a);
        assert_ne!(a, 0);
        assert_ne!(a, b);
    }
}
