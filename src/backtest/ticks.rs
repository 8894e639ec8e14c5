//! Reading a market data CSV (`timestamp,symbol,price`, the gateway's
//! replay format) into ticks, fast and with every problem named.
//!
//! The gateway's loader renders rows into frames for a socket; a backtest
//! needs the numbers, so this reader goes straight from bytes to ticks with
//! the protocol's own parsers ([`parse_event_time`], [`Price::parse`]),
//! which accept exactly what the live feed accepts. Rows are plain CSV
//! fields separated by commas (what `--generate-csv` writes); a bad row stops
//! the load naming `file:line`. Rows of unconfigured symbols are skipped and
//! counted, as the gateway skips them, so tick positions equal the live
//! ring's sequence numbers. Event times that go backwards are kept in file
//! order (as the live feed plays them) and reported.

use std::path::Path;

use crate::price::Price;
use crate::protocol::parse_event_time;
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

/// Loads `path` for `symbols`.
pub fn load(path: &Path, symbols: &[String]) -> Result<TickData, TickFileError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TickFileError::Io {
        name: name.clone(),
        source,
    })?;
    parse(&bytes, &name, symbols)
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

/// Lines of `bytes` with their 1-based numbers, without `\r\n` or `\n`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    let mut number = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut line = &bytes[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        start = end + 1;
        number += 1;
        Some((number, line))
    })
}

/// A field without surrounding spaces, as text.
fn field(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw).ok().map(str::trim)
}

/// Parses a whole file's bytes; `name` is used in errors.
pub fn parse(bytes: &[u8], name: &str, symbols: &[String]) -> Result<TickData, TickFileError> {
    let mut rows = lines(bytes);
    let header = rows
        .next()
        .map(|(_, h)| {
            h.split(|&b| b == b',')
                .map(|f| {
                    field(f)
                        .unwrap_or("")
                        .trim_start_matches('\u{feff}')
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let column = |column: &'static str| {
        header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| TickFileError::Header {
                name: name.to_string(),
                column,
            })
    };
    let cols = Columns {
        ts: column("timestamp")?,
        symbol: column("symbol")?,
        price: column("price")?,
    };
    let width = header.len();
    let mut data = TickData {
        ticks: Vec::with_capacity(bytes.len() / 32),
        ..TickData::default()
    };
    let mut fields: Vec<&[u8]> = Vec::with_capacity(width);
    let mut last_ns = i64::MIN;
    for (line, text) in rows {
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |problem: String| TickFileError::Row {
            name: name.to_string(),
            line,
            problem,
        };
        fields.clear();
        fields.extend(text.split(|&b| b == b','));
        if fields.len() != width {
            return Err(bad(format!(
                "{} fields where the header has {width}",
                fields.len()
            )));
        }
        let text_of = |i: usize, what: &str| {
            field(fields[i]).ok_or_else(|| bad(format!("the {what} is not UTF-8")))
        };
        let ts = text_of(cols.ts, "timestamp")?;
        let event_ns = parse_event_time(ts).ok_or_else(|| {
            bad(format!(
                "timestamp {ts:?} is not YYYY-MM-DD HH:MM:SS[.fff] from 1970-01-01 up to 2200-01-01"
            ))
        })?;
        let price = text_of(cols.price, "price")?;
        let price_units = match Price::parse(price) {
            Ok(p) if p.units() > 0 => p.units(),
            _ => {
                return Err(bad(format!(
                    "price {price:?} is not a decimal greater than zero"
                )))
            }
        };
        let sym = text_of(cols.symbol, "symbol")?;
        let Some(idx) = symbols.iter().position(|s| s == sym) else {
            data.unknown_rows += 1;
            if data.unknown_symbols.len() < 5 && !data.unknown_symbols.iter().any(|s| s == sym) {
                data.unknown_symbols.push(sym.to_string());
            }
            continue;
        };
        if event_ns < last_ns {
            data.backwards += 1;
            data.first_backwards
                .get_or_insert_with(|| format!("{name}:{line}"));
        }
        last_ns = event_ns;
        data.ticks.push(TickRow {
            symbol: SymbolIndex::new(idx),
            price_units,
            event_ns,
        });
    }
    if data.ticks.is_empty() {
        return Err(TickFileError::Empty {
            name: name.to_string(),
            unknown: data.unknown_rows,
        });
    }
    Ok(data)
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
}
