//! Recordings of a live strategy's inputs (`strategy.record_path`), for
//! `backtest --replay`.
//!
//! Format (append-only, version [`VERSION`]): one text line
//! `trading-stack recording v1 symbols=AAPL,MSFT\n`, then 32-byte
//! little-endian records in the order the strategy acted on them:
//! byte 0 `T` (tick) or `N` (news), bytes 4..8 the symbol index, then for a
//! tick the price units, event time (ns) and tag (the ring sequence number),
//! for news the sentiment and two zeros. A strategy restarted on the same
//! file appends after the last whole record (a torn one, from a crash, is
//! cut off). A recording of another version or other symbols is refused,
//! naming both.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read as _, Seek as _, Write as _};
use std::path::Path;

use crate::signals::{NewsEvent, TickEvent};
use crate::symbol::SymbolIndex;

/// The format this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes per record.
const RECORD: usize = 32;
/// What every header starts with, before the version number.
const MAGIC: &str = "trading-stack recording v";

/// One recorded input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A tick from the ring.
    Tick(TickEvent),
    /// A news frame.
    News(NewsEvent),
}

/// Why a recording cannot be written or read; names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Opening, reading or writing failed.
    #[error("recording {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a recording, or one of another version or symbol list.
    #[error("recording {path}: {problem}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// The header line for `symbols`.
fn header(symbols: &[String]) -> String {
    format!("{MAGIC}{VERSION} symbols={}\n", symbols.join(","))
}

/// Checks a header line against this build and `symbols`.
fn check_header(line: &str, symbols: &[String]) -> Result<(), String> {
    let rest = line
        .strip_prefix(MAGIC)
        .ok_or("not a trading-stack recording")?;
    let (version, recorded) = rest.split_once(" symbols=").ok_or("a malformed header")?;
    if version != VERSION.to_string() {
        return Err(format!(
            "recording format version {version}; this build reads version {VERSION}"
        ));
    }
    let want = symbols.join(",");
    if recorded != want {
        return Err(format!(
            "recorded with symbols {recorded}, configured {want}"
        ));
    }
    Ok(())
}

/// Appends inputs to a recording.
pub struct Recorder {
    /// Buffered: a record is a memcpy; [`flush`](Self::flush) writes.
    out: BufWriter<File>,
}

impl Recorder {
    /// Opens `path` for appending (creating it with a header if empty).
    pub fn open(path: &Path, symbols: &[String]) -> Result<Recorder, RecordingError> {
        let name = path.display().to_string();
        let io = |source| RecordingError::Io {
            path: name.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io)?;
        if text.is_empty() {
            file.write_all(header(symbols).as_bytes()).map_err(io)?;
        } else {
            let end = memchr::memchr(b'\n', &text).ok_or_else(|| RecordingError::Format {
                path: name.clone(),
                problem: "no header line".into(),
            })?;
            let line = String::from_utf8_lossy(&text[..end]);
            check_header(&line, symbols).map_err(|problem| RecordingError::Format {
                path: name.clone(),
                problem,
            })?;
            let whole = (text.len() - end - 1) / RECORD * RECORD + end + 1;
            if whole < text.len() {
                file.set_len(whole as u64).map_err(io)?;
                file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
            }
        }
        Ok(Recorder {
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// Records one input.
    pub fn record(&mut self, input: &Input) -> std::io::Result<()> {
        let mut r = [0u8; RECORD];
        let (kind, symbol, a, b, c) = match *input {
            Input::Tick(t) => (b'T', t.symbol, t.price_units, t.event_ns, t.tag as i64),
            Input::News(n) => (b'N', n.symbol, n.sentiment as i64, 0, 0),
        };
        r[0] = kind;
        r[4..8].copy_from_slice(&symbol.0.to_le_bytes());
        r[8..16].copy_from_slice(&a.to_le_bytes());
        r[16..24].copy_from_slice(&b.to_le_bytes());
        r[24..32].copy_from_slice(&c.to_le_bytes());
        self.out.write_all(&r)
    }

    /// Writes what is buffered to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Reads a whole recording made with `symbols`.
pub fn read(path: &Path, symbols: &[String]) -> Result<Vec<Input>, RecordingError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| RecordingError::Io {
        path: name.clone(),
        source,
    })?;
    let bad = |problem: String| RecordingError::Format {
        path: name.clone(),
        problem,
    };
    let end =
        memchr::memchr(b'\n', &bytes).ok_or_else(|| bad("not a trading-stack recording".into()))?;
    check_header(&String::from_utf8_lossy(&bytes[..end]), symbols).map_err(bad)?;
    let body = &bytes[end + 1..];
    let mut inputs = Vec::with_capacity(body.len() / RECORD);
    for (i, r) in body.chunks_exact(RECORD).enumerate() {
        let num = |at: usize| i64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"));
        let symbol = SymbolIndex(u32::from_le_bytes(r[4..8].try_into().expect("4 bytes")));
        if symbol.get() >= symbols.len() {
            return Err(bad(format!(
                "record {i}: symbol index {symbol} out of range"
            )));
        }
        inputs.push(match r[0] {
            b'T' => Input::Tick(TickEvent {
                symbol,
                price_units: num(8),
                event_ns: num(16),
                tag: num(24) as u64,
            }),
            b'N' => Input::News(NewsEvent {
                symbol,
                sentiment: num(8).clamp(0, 100) as u8,
            }),
            k => return Err(bad(format!("record {i}: unknown kind byte {k}"))),
        });
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Vec<String> {
        vec!["AAA".into(), "BBB".into()]
    }

    fn tick(tag: u64) -> Input {
        Input::Tick(TickEvent {
            symbol: SymbolIndex(1),
            price_units: 123,
            event_ns: 456,
            tag,
        })
    }

    #[test]
    fn inputs_round_trip_in_order_and_a_reopen_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.bin");
        let news = Input::News(NewsEvent {
            symbol: SymbolIndex(0),
            sentiment: 75,
        });
        let mut r = Recorder::open(&path, &syms()).unwrap();
        r.record(&tick(1)).unwrap();
        r.record(&news).unwrap();
        drop(r);
        // A torn record (a crash mid-write) is cut off before appending.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"T\0\0")
            .unwrap();
        let mut r = Recorder::open(&path, &syms()).unwrap();
        r.record(&tick(2)).unwrap();
        r.flush().unwrap();
        assert_eq!(read(&path, &syms()).unwrap(), [tick(1), news, tick(2)]);
    }

    #[test]
    fn another_version_or_symbol_list_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.bin");
        std::fs::write(&path, "trading-stack recording v7 symbols=AAA,BBB\n").unwrap();
        let err = read(&path, &syms()).unwrap_err().to_string();
        assert!(
            err.ends_with("recording format version 7; this build reads version 1"),
            "{err}"
        );
        assert!(Recorder::open(&path, &syms()).is_err());
        std::fs::write(&path, header(&syms())).unwrap();
        let err = read(&path, &["AAA".to_string()]).unwrap_err().to_string();
        assert!(
            err.ends_with("recorded with symbols AAA,BBB, configured AAA"),
            "{err}"
        );
        std::fs::write(&path, "hello\n").unwrap();
        assert!(read(&path, &syms())
            .unwrap_err()
            .to_string()
            .ends_with("not a trading-stack recording"));
    }
}
