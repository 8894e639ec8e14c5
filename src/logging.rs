//! Logging: one file per process under `logs/`, rotated by size, and
//! readable terminal lines.
//!
//! Rotation (the `file-rotate` crate): a file that passes `logs.max_file_mb`
//! becomes `<name>.1`, older ones move up to `<name>.<keep_files>` and the
//! oldest is deleted, so a process's logs are bounded whatever the run's
//! length or speed.
//!
//! Both drains sit behind one `slog_async` thread so that logging never does
//! file I/O on an actor's thread. The channel blocks instead of dropping when
//! full: the ordermanager's `Executed …` lines are a record, not a sample.

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use slog::{o, Drain, Level, Logger};

use crate::config::LogConfig;

/// Capacity of the async logging channel, in records.
///
/// Small on purpose: the channel's slots are allocated up front and every
/// slot that once held a record stays resident, so 64 Ki slots cost each
/// process about 7.5 MiB (64 Ki × ~120 B) after its first 64 Ki lines (plus the queued
/// records' own values while the writer lags). A full channel makes the
/// thread that logs wait briefly; no record is ever dropped.
const CHANNEL_SIZE: usize = 1024;

/// Tag of a record meant for the log file only, never the terminal: e.g.
/// the final error of a role, which `main` prints on the terminal itself,
/// so that it appears there once. Use as `slog::crit!(log, #"file-only", …)`.
pub const FILE_ONLY: &str = "file-only";

/// Maps the `logs.level` setting to a slog level; `None` for unknown names.
pub fn parse_level(name: &str) -> Option<Level> {
    match name {
        "critical" => Some(Level::Critical),
        "error" => Some(Level::Error),
        "warning" | "warn" => Some(Level::Warning),
        "info" => Some(Level::Info),
        "debug" => Some(Level::Debug),
        "trace" => Some(Level::Trace),
        _ => None,
    }
}

/// The flushing handle of a logger: records still queued are written when it drops.
///
/// Keep it alive until the process exits, or the last lines are lost.
pub struct LogGuard {
    _async: slog_async::AsyncGuard,
}

/// The log file `logs.dir/file_name`, appended to and rotated as
/// configured.
fn rotating_file(logs: &LogConfig, file_name: &str) -> std::io::Result<FileRotate<AppendCount>> {
    std::fs::create_dir_all(&logs.dir)?;
    let path = logs.dir.join(file_name);
    // `FileRotate::new` does not report an unwritable file: find out here,
    // so a bad `logs.dir` stops the process with the reason.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let max_bytes = usize::try_from(logs.max_file_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    Ok(FileRotate::new(
        path,
        AppendCount::new(logs.keep_files),
        // Rotate after the write that passes the limit: a record is never split.
        ContentLimit::BytesSurpassed(max_bytes),
        Compression::None,
        None,
    ))
}

/// Opens `logs.dir/file_name` for appending and returns a logger that writes
/// there and to the terminal (stderr), tagged with `role`.
///
/// With `terminal = false` only the file is written (tests, quiet children).
pub fn init(
    logs: &LogConfig,
    file_name: &str,
    role: &'static str,
    terminal: bool,
) -> std::io::Result<(Logger, LogGuard)> {
    let file = rotating_file(logs, file_name)?;
    let level = parse_level(&logs.level).unwrap_or(Level::Info);
    let file_drain = slog_term::FullFormat::new(slog_term::PlainSyncDecorator::new(file))
        .use_original_order()
        .build()
        .fuse();
    let term_drain = slog_term::FullFormat::new(slog_term::TermDecorator::new().stderr().build())
        .use_original_order()
        .build()
        .filter(move |r: &slog::Record| terminal && r.tag() != FILE_ONLY)
        .fuse();
    let both = slog::Duplicate::new(file_drain, term_drain).fuse();
    let (drain, guard) = slog_async::Async::new(both)
        .chan_size(CHANNEL_SIZE)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .thread_name(format!("log-{role}"))
        .build_with_guard();
    // The level is checked before the queue, on the caller's thread: a
    // record below it (a debug line per order at `info`) is dropped at
    // once, never copied into the queue or handed to the logging thread.
    let log = Logger::root(drain.filter_level(level).fuse(), o!("role" => role));
    Ok((log, LogGuard { _async: guard }))
}

/// A logger that drops everything, for tests and benchmarks.
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

/// Rate limit for log lines about bad input: a peer sending garbage must not
/// be able to flood the log (or slow the hot path with formatting).
///
/// The first `burst` events are logged, then at most one per `period`; each
/// allowed line can say how many were suppressed since the previous one.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    /// Events always logged before limiting starts.
    burst: u64,
    /// Minimum time between lines once limiting.
    period: std::time::Duration,
    /// Events seen so far.
    seen: u64,
    /// Events not logged since the last allowed one.
    suppressed: u64,
    /// When the last line was allowed.
    last: Option<std::time::Instant>,
}

impl LogLimiter {
    /// The first `burst` events, then one per `period`.
    pub fn new(burst: u64, period: std::time::Duration) -> LogLimiter {
        LogLimiter {
            burst,
            period,
            seen: 0,
            suppressed: 0,
            last: None,
        }
    }

    /// Counts an event; `Some(suppressed)` when it should be logged, with the
    /// number of events skipped since the last logged one.
    pub fn allow(&mut self) -> Option<u64> {
        self.seen += 1;
        let now = std::time::Instant::now();
        let due = self.seen <= self.burst || self.last.is_none_or(|t| now - t >= self.period);
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs in `dir` at info, rotated at 64 MiB.
    fn logs_in(dir: &std::path::Path) -> LogConfig {
        LogConfig {
            dir: dir.to_path_buf(),
            level: "info".into(),
            max_file_mb: 64,
            keep_files: 3,
        }
    }

    /// `logs.level` decides, in this build whatever its profile: slog
    /// compiles debug lines out of release builds unless told otherwise
    /// (Cargo.toml), and `cargo test --release` runs this too.
    #[test]
    fn the_level_setting_keeps_or_drops_debug_lines_in_any_build() {
        for (level, debug_kept) in [("info", false), ("debug", true)] {
            let dir = tempfile::tempdir().unwrap();
            let logs = LogConfig {
                level: level.into(),
                ..logs_in(dir.path())
            };
            {
                let (log, _guard) = init(&logs, "x.log", "test", false).unwrap();
                slog::debug!(log, "a debug line");
                slog::info!(log, "an info line");
            }
            let text = std::fs::read_to_string(dir.path().join("x.log")).unwrap();
            assert!(text.contains("an info line"), "{level}: {text}");
            assert_eq!(text.contains("a debug line"), debug_kept, "{level}: {text}");
        }
    }

    #[test]
    fn a_log_file_rotates_by_size_and_keeps_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogConfig {
            max_file_mb: 1,
            keep_files: 2,
            ..logs_in(&dir.path().join("logs"))
        };
        // An earlier run's file is appended to, then rotated with the rest.
        std::fs::create_dir_all(&logs.dir).unwrap();
        std::fs::write(logs.dir.join("x.log"), "earlier run\n").unwrap();
        let record = "y".repeat(1000);
        {
            let (log, _guard) = init(&logs, "x.log", "test", false).unwrap();
            for i in 0..5_000 {
                slog::info!(log, "line"; "i" => i, "pad" => &record);
            }
        }
        let mut names: Vec<String> = std::fs::read_dir(&logs.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["x.log", "x.log.1", "x.log.2"],
            "5 MB written, 3 files kept"
        );
        for name in &names {
            let len = std::fs::metadata(logs.dir.join(name)).unwrap().len();
            assert!(len <= (1 << 20) + 2_000, "{name}: {len} bytes");
        }
        let newest = std::fs::read_to_string(logs.dir.join("x.log")).unwrap();
        assert!(newest
            .trim_end()
            .ends_with(&format!("i: 4999, pad: {record}")));
        let lines: usize = names
            .iter()
            .map(|n| {
                std::fs::read_to_string(logs.dir.join(n))
                    .unwrap()
                    .lines()
                    .count()
            })
            .sum();
        assert!(lines < 5_000, "the oldest lines were deleted: {lines}");
    }

    #[test]
    fn limiter_lets_a_burst_through_then_one_per_period() {
        let mut l = LogLimiter::new(2, std::time::Duration::from_secs(3600));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        let mut l = LogLimiter::new(0, std::time::Duration::ZERO);
        assert_eq!(l.allow(), Some(0));
    }

    #[test]
    fn lines_reach_the_file_once_the_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let (log, guard) = init(&logs_in(dir.path()), "x.log", "test", false).unwrap();
        slog::info!(log, "Executed order: {}", 7);
        slog::debug!(log, "hidden");
        slog::crit!(log, #"file-only", "said once, here");
        drop(log);
        drop(guard);
        let text = std::fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert!(text.contains("Executed order: 7"), "{text}");
        assert!(!text.contains("hidden"));
        assert!(text.contains("CRIT said once, here"), "{text}");
    }

    #[test]
    fn levels_parse() {
        assert_eq!(parse_level("warning"), Some(Level::Warning));
        assert_eq!(parse_level("loud"), None);
    }
}
