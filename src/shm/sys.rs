//! The few Linux calls the table needs beyond files and mappings: futex
//! sleep/wake on the shared word, and "is this pid a live process".
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
/// to `kill`, where they would mean a process group.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks and
    // delivers nothing; `pid` is a positive value, so it names one process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
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

    #[test]
    fn generations_are_nonzero_and_distinct() {
        let a = new_generation(0);
        let b = new_generation(a);
        assert_ne!(a, 0);
        assert_ne!(a, b);
    }
}
