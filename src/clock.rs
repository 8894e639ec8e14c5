//! Wall-clock time in integer nanoseconds since the Unix epoch.
//!
//! Every timestamp the stack stores or sends (`SEND_NS`, slot write times,
//! journal receive times) is in this unit, so latencies are plain subtractions.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, from the system's real-time clock.
///
/// Real time (not monotonic) because the value crosses process boundaries and
/// is compared with values taken in other processes on the same host.
pub fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2020_and_moves_forward() {
        let a = unix_now_ns();
        let b = unix_now_ns();
        assert!(a > 1_577_836_800_000_000_000);
        assert!(b >= a);
    }
}
