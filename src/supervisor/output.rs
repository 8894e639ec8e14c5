//! What a child process prints: its READY line on stdout, its last error
//! line on stderr.
//!
//! A `--exit-with-parent` child logs to its file only, so its stderr holds
//! just what `main` prints when the role fails (`error: …`, once) and a
//! panic's message: exactly the line to show on the terminal when the child
//! cannot run. Both streams are drained to their end, so a child never
//! blocks on a full pipe.

use std::net::SocketAddr;

use slog::Logger;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::lifecycle::parse_ready_line;

/// Longest stderr line kept or logged, in bytes: a child must not be able
/// to make the supervisor hold or log without bound.
const MAX_LINE: usize = 1000;

/// stderr lines of one start copied into main.log; the rest only counted.
const MAX_LOGGED_LINES: usize = 20;

/// Reads `out` to its end and calls `on_ready` with the endpoints of the
/// first READY line.
pub(super) async fn watch_stdout(
    out: impl AsyncRead + Unpin,
    on_ready: impl FnOnce(Vec<(String, SocketAddr)>),
) {
    let mut on_ready = Some(on_ready);
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((_, endpoints)) = parse_ready_line(&line) {
            if let Some(f) = on_ready.take() {
                f(endpoints);
            }
        }
    }
}

/// Reads `err` to its end, copies its first lines into main.log, and
/// returns its last non-empty line without the `error: ` prefix `main`
/// puts there.
pub(super) async fn last_error_line(
    err: impl AsyncRead + Unpin,
    role: &'static str,
    log: Logger,
) -> Option<String> {
    let mut lines = BufReader::new(err).lines();
    let (mut last, mut logged) = (None, 0);
    while let Ok(Some(line)) = lines.next_line().await {
        let line = clip(line.trim());
        if line.is_empty() {
            continue;
        }
        if logged < MAX_LOGGED_LINES {
            logged += 1;
            slog::warn!(log, "child stderr"; "child" => role, "line" => &line);
        }
        last = Some(line);
    }
    last.map(|l| l.strip_prefix("error: ").map(str::to_string).unwrap_or(l))
}

/// `line` cut to at most [`MAX_LINE`] bytes, on a character boundary.
fn clip(line: &str) -> String {
    let mut end = line.len().min(MAX_LINE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_line_is_kept_without_its_prefix() {
        let text = b"warming up\nerror: data.csv:3: price \"x\" is bad\n\n" as &[u8];
        let got = last_error_line(text, "gateway", crate::logging::discard()).await;
        assert_eq!(got.as_deref(), Some("data.csv:3: price \"x\" is bad"));
        let none = last_error_line(b"\n \n" as &[u8], "gateway", crate::logging::discard()).await;
        assert_eq!(none, None);
    }

    #[test]
    fn long_lines_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_LINE);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_LINE && clipped.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn only_the_first_ready_line_counts() {
        let text =
            b"hello\nREADY gateway md=127.0.0.1:1\nREADY gateway md=127.0.0.1:2\n" as &[u8];
        let mut seen = Vec::new();
        watch_stdout(text, |eps| seen = eps).await;
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1.port(), 1);
    }
}
