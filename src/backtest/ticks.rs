//! Reading a market data CSV (`timestamp,symbol,price`, the gateway's
//! replay format) into ticks, fast and with every problem named.
//!
//! The gateway's loader renders rows into frames for a socket; a backtest
//! needs the numbers, so this reader goes straight from bytes to ticks with
//! the protocol's own parsers ([`parse_event_time`], [`Price::parse`]),
//! which accept exactly what the live feed accepts. A file with exactly the
//! header `timestamp,symbol,price` (what `--generate-csv` and the sample
//! data have) takes a fast path (`fixed`) for every row of the plain
//! shape; any other row, and any other header, goes through the general
//! path, which is the reference the fast path is tested equal to. Rows are plain CSV
//! fields separated by commas (what `--generate-csv` writes); a bad row stops
//! the load naming `file:line`. Rows of unconfigured symbols are skipped and
//! counted, as the gateway skips them, so tick positions equal the live
//! ring's sequence numbers. Event times that go backwards are kept in file
//! order (as the live feed plays them) and reported.

use std::io::Read as _;
use std::path::Path;

mod fixed;
mod reader;

use reader::RowReader;

use crate::price::Price;
use crate::protocol::parse_event_time;
use crate::signals::TickEvent;
use crate::symbol::SymbolIndex;

/// One tick of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickRow {
    /// The symbol's index in the configured list.
    pub symbol: SymbolIndex,
    /// The price in 1e-8 units.
    pub price_units: i64,
    /// Event time, ns since the epoch.
    pub event_ns: i64,
}

impl TickRow {
    /// The tick as a strategy sees it, tagged `tag` (its position in the file).
    #[inline]
    pub fn event(&self, tag: u64) -> TickEvent {
        TickEvent {
            symbol: self.symbol,
            price_units: self.price_units,
            event_ns: self.event_ns,
            tag,
        }
    }
}

/// A file's ticks and what was odd about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickData {
    /// Every tick of a configured symbol, in file order.
    pub ticks: Vec<TickRow>,
    /// Rows skipped because their symbol is not configured.
    pub unknown_rows: u64,
    /// The first few unknown symbols, for the report.
    pub unknown_symbols: Vec<String>,
    /// Ticks whose event time is earlier than the tick before them.
    pub backwards: u64,
    /// `file:line` of the first such tick.
    pub first_backwards: Option<String>,
}

/// Why a file cannot be backtested; the message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum TickFileError {
    /// Opening or reading failed.
    #[error("{name}: {source}")]
    Io {
        /// The file.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// The header lacks a column.
    #[error("{name}:1: no `{column}` column (the header must name timestamp, symbol and price)")]
    Header {
        /// The file.
        name: String,
        /// The missing column.
        column: &'static str,
    },
    /// A row does not parse.
    #[error("{name}:{line}: {problem}")]
    Row {
        /// The file.
        name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Nothing to trade on.
    #[error("{name}: no ticks ({unknown} rows skipped for symbols not in `symbols`)")]
    Empty {
        /// The file.
        name: String,
        /// Rows of unknown symbols.
        unknown: u64,
    },
}

/// Bytes read from a file at a time: few read calls, and a buffer that
/// stays in cache (reading a whole file into one fresh allocation cost a
/// page fault per 4 KiB and a copy to cold memory, more than parsing).
const CHUNK: usize = 1 << 20;

/// Loads `path` for `symbols`, streaming it through a 1 MiB buffer
/// (a longer line grows it).
pub fn load(path: &Path, symbols: &[String]) -> Result<TickData, TickFileError> {
    let name = path.display().to_string();
    let io = |source| TickFileError::Io {
        name: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_or(0, |m| m.len() as usize);
    let mut reader = RowReader::new(&name, symbols, size, true);
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        filled += n;
        let used = reader.feed(&buf[..filled], n == 0)?;
        if n == 0 {
            return reader.finish();
        }
        buf.copy_within(used..filled, 0);
        filled -= used;
    }
}

/// The three columns' positions.
struct Columns {
    /// `timestamp`.
    ts: usize,
    /// `symbol`.
    symbol: usize,
    /// `price`.
    price: usize,
}

/// The line of `bytes` starting at `start`, without `\r\n` or `\n`, and
/// where the next one starts.
fn line_at(bytes: &[u8], start: usize) -> (&[u8], usize) {
    let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
    let mut line = &bytes[start..end];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    (line, end + 1)
}

/// A field without surrounding spaces, as text.
fn field(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw).ok().map(str::trim)
}

/// What one row is.
enum Row<'a> {
    /// Only whitespace: skipped.
    Blank,
    /// A tick of a configured symbol.
    Tick(TickRow),
    /// A valid row of a symbol not configured (its name, trimmed).
    Unknown(&'a str),
}

/// Parses a whole file's bytes; `name` is used in errors.
pub fn parse(bytes: &[u8], name: &str, symbols: &[String]) -> Result<TickData, TickFileError> {
    parse_rows(bytes, name, symbols, true)
}

/// [`parse`], with `fast` choosing whether rows of the plain shape take
/// [`fixed::row`] (false: every row goes through [`general_row`], the
/// reference the tests hold the fast path to).
fn parse_rows(
    bytes: &[u8],
    name: &str,
    symbols: &[String],
    fast: bool,
) -> Result<TickData, TickFileError> {
    let mut reader = RowReader::new(name, symbols, bytes.len(), fast);
    reader.feed(bytes, true)?;
    reader.finish()
}

/// One row of any shape the format allows (columns in the header's order,
/// spaces around fields); `Err` says what is wrong with it. `fields` is
/// scratch space, reused from row to row.
fn general_row<'a>(
    text: &'a [u8],
    cols: &Columns,
    width: usize,
    fields: &mut Vec<&'a [u8]>,
    symbols: &[String],
) -> Result<Row<'a>, String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Row::Blank);
    }
    fields.clear();
    fields.extend(text.split(|&b| b == b','));
    if fields.len() != width {
        return Err(format!(
            "{} fields where the header has {width}",
            fields.len()
        ));
    }
    let text_of =
        |i: usize, what: &str| field(fields[i]).ok_or_else(|| format!("the {what} is not UTF-8"));
    let ts = text_of(cols.ts, "timestamp")?;
    let event_ns = parse_event_time(ts).ok_or_else(|| {
        format!(
            "timestamp {ts:?} is not YYYY-MM-DD HH:MM:SS[.fff] from 1970-01-01 up to 2200-01-01"
        )
    })?;
    let price = text_of(cols.price, "price")?;
    let price_units = match Price::parse(price) {
        Ok(p) if p.units() > 0 => p.units(),
        _ => {
            return Err(format!(
                "price {price:?} is not a decimal greater than zero"
            ))
        }
    };
    let sym = text_of(cols.symbol, "symbol")?;
    let Some(idx) = symbols.iter().position(|s| s == sym) else {
        return Ok(Row::Unknown(sym));
    };
    Ok(Row::Tick(TickRow {
        symbol: SymbolIndex::new(idx),
        price_units,
        event_ns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Vec<String> {
        vec!["AAA".into(), "BBB".into()]
    }

    fn parse_text(text: &str) -> Result<TickData, String> {
        parse(text.as_bytes(), "t.csv", &syms()).map_err(|e| e.to_string())
    }

    #[test]
    fn rows_become_ticks_in_file_order() {
        let d = parse_text(
            "symbol, price ,timestamp\r\nBBB,1.5,2024-01-02 09:30:00\r\n\nAAA, 2 ,2024-01-02 09:30:00.5\n",
        )
        .unwrap();
        assert_eq!(d.ticks.len(), 2);
        assert_eq!(d.ticks[0].symbol, SymbolIndex(1));
        assert_eq!(d.ticks[0].price_units, 150_000_000);
        assert_eq!(d.ticks[1].event_ns - d.ticks[0].event_ns, 500_000_000);
        assert_eq!((d.backwards, d.unknown_rows), (0, 0));
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let head = "timestamp,symbol,price\n";
        let err = parse_text(&format!(
            "{head}2024-01-02 09:30:00,AAA,1\n2024-01-02 09:30:01,AAA,abc\n"
        ));
        assert_eq!(
            err.unwrap_err(),
            "t.csv:3: price \"abc\" is not a decimal greater than zero"
        );
        let err = parse_text(&format!("{head}2024-13-02 09:30:00,AAA,1\n"));
        assert!(err
            .unwrap_err()
            .starts_with("t.csv:2: timestamp \"2024-13-02 09:30:00\""));
        let err = parse_text(&format!("{head}2024-01-02 09:30:00,AAA\n"));
        assert_eq!(err.unwrap_err(), "t.csv:2: 2 fields where the header has 3");
        let err = parse_text(&format!("{head}2024-01-02 09:30:00,AAA,-1\n"));
        assert!(err.unwrap_err().starts_with("t.csv:2: price \"-1\""));
        assert_eq!(
            parse_text("time,symbol,price\n").unwrap_err(),
            "t.csv:1: no `timestamp` column (the header must name timestamp, symbol and price)"
        );
    }

    #[test]
    fn empty_files_unknown_symbols_and_backwards_times_are_reported() {
        assert_eq!(
            parse_text("").unwrap_err(),
            "t.csv:1: no `timestamp` column (the header must name timestamp, symbol and price)"
        );
        assert_eq!(
            parse_text("timestamp,symbol,price\n2024-01-02 09:30:00,ZZZ,1\n").unwrap_err(),
            "t.csv: no ticks (1 rows skipped for symbols not in `symbols`)"
        );
        let d = parse_text(
            "timestamp,symbol,price\n2024-01-02 09:30:05,AAA,1\n2024-01-02 09:30:00,ZZZ,1\n\
             2024-01-02 09:30:01,BBB,1\n2024-01-02 09:30:00,AAA,1\n2024-01-02 09:30:09,YYY,1\n",
        )
        .unwrap();
        assert_eq!(d.ticks.len(), 3);
        assert_eq!(d.unknown_rows, 2);
        assert_eq!(d.unknown_symbols, ["ZZZ", "YYY"]);
        assert_eq!(d.backwards, 2);
        assert_eq!(d.first_backwards.as_deref(), Some("t.csv:4"));
        assert_eq!(
            d.ticks[1].event_ns,
            parse_event_time("2024-01-02 09:30:01").unwrap()
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/x.csv"), &syms())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/x.csv: "), "{err}");
    }

    #[test]
    fn a_file_streamed_in_chunks_reads_as_the_whole_of_it() {
        // Over two chunks, lines across each boundary, both paths, one
        // line longer than a chunk, times that go back, unknown symbols.
        let mut text = String::from("timestamp,symbol,price\r\n");
        let mut i = 0u64;
        while text.len() < CHUNK * 5 / 2 {
            let row = match i % 7 {
                0 => format!(
                    "2024-01-02 09:30:{:02}.{},AAA,{}.5\n",
                    i % 60,
                    i % 10,
                    i % 997 + 1
                ),
                1 => format!(
                    "2024-01-02 09:31:{:02}, BBB , {}e-1\r\n",
                    i % 60,
                    i % 50 + 1
                ),
                2 => format!("2024-01-02 09:29:00,ZZ{},1\n", i % 9),
                3 => "\n".to_string(),
                _ => format!("2024-01-03 10:00:00.{:03},BBB,{}\n", i % 1000, i % 300 + 1),
            };
            text.push_str(&row);
            if i == 20_000 {
                text.push_str(&format!(
                    "2024-01-02 09:30:00,{},1\n",
                    "Q".repeat(CHUNK + 10)
                ));
            }
            i += 1;
        }
        text.push_str("2024-01-02 09:30:00,AAA,7");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, &text).unwrap();
        let name = path.display().to_string();
        let whole = parse(text.as_bytes(), &name, &syms()).unwrap();
        assert_eq!(load(&path, &syms()).unwrap(), whole);
        let seen = (whole.backwards, whole.unknown_rows, whole.ticks.len());
        assert!(seen.0 > 0 && seen.1 > 0 && seen.2 > 30_000, "{seen:?}");
        // A bad row far past the first chunk is named by its line.
        let lines = text.lines().count();
        std::fs::write(&path, format!("{text}\n2024-01-02 09:30:00,AAA,x\n")).unwrap();
        let err = load(&path, &syms()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{name}:{}: price \"x\" is not a decimal greater than zero",
                lines + 1
            )
        );
    }
}
