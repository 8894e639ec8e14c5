//! A CSV file replayed as market data, streamed: memory does not grow with
//! the file.
//!
//! Loading reads the whole file once to validate it (so a bad row is still
//! a start-up error naming the file and line, and the ticks per pass are
//! known for seeking) but keeps nothing of it. Sending then reads the file
//! again row by row, rendering each tick straight into the feed's batch
//! buffer (one bounded chunk of at most a batch of frames); a looping
//! replay opens the file again for every pass.
//!
//! CSV rules (columns `timestamp,symbol,price` by name, any order, as the
//! original's `data/market_data-1.csv`): a UTF-8 BOM is accepted; a missing
//! column, an unparsable timestamp or price, or a file with no ticks is a
//! start-up error naming the file and line; a row whose symbol is not in
//! `symbols` is skipped and counted (a data file may hold more instruments
//! than a run trades).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use super::FrameSource;
use crate::clock::unix_now_ns;
use crate::price::Price;
use crate::protocol::{finish_market_data, parse_event_time, write_market_data_prefix};

/// Opens the CSV from its start: once to validate, then once per pass.
type Opener = Arc<dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// A CSV file streamed into frames, replayed once or forever.
pub struct Replay {
    /// The reader of the current pass.
    rows: Rows,
    /// Opens the file again for a new pass or a backwards seek.
    open: Opener,
    /// The file's name, for errors.
    name: Arc<str>,
    /// The configured symbols: rows of other symbols are skipped.
    symbols: Arc<[String]>,
    /// Ticks per pass, counted when loading.
    len: u64,
    /// Position of the next tick within the current pass.
    next: u64,
    /// Start again after the last row.
    looping: bool,
    /// Append SEND_NS.
    send_time: bool,
    /// Why the stream ended early: the file changed or became unreadable
    /// after loading (see [`FrameSource::failure`]).
    failure: Option<String>,
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("next", &self.next)
            .field("looping", &self.looping)
            .finish_non_exhaustive()
    }
}

/// What loading a CSV found, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Rows that became frames.
    pub ticks: usize,
    /// Rows skipped because their symbol is not configured.
    pub unknown_symbol_rows: usize,
    /// The first few unknown symbols, for the log.
    pub unknown_symbols: Vec<String>,
}

/// One tick of the file, borrowed from the reader's current row.
struct Tick<'a> {
    /// Its symbol, one of the configured ones.
    symbol: &'a str,
    /// Its price, greater than zero.
    price: Price,
    /// Its event time, as written in the file (validated).
    timestamp: &'a str,
}

/// The CSV reader of one pass, with the columns its header named.
struct Rows {
    /// The parser, which buffers a bounded amount of the file.
    csv: csv::Reader<Box<dyn Read + Send>>,
    /// Reused for every row: no allocation per tick (the csv crate's own
    /// trimming would build a new record per row, so fields are trimmed
    /// here).
    record: csv::ByteRecord,
    /// Column of the timestamp, the symbol and the price.
    columns: (usize, usize, usize),
    /// Rows skipped so far for an unconfigured symbol.
    unknown_rows: usize,
    /// The first few unknown symbols, for the log.
    unknown_symbols: Vec<String>,
}

/// Unknown symbols named in the start-up log at most.
const UNKNOWN_SYMBOLS_LOGGED: usize = 5;

impl Rows {
    /// A reader of `input` positioned after its header.
    fn new(input: Box<dyn Read + Send>, name: &str) -> anyhow::Result<Rows> {
        let mut csv = csv::ReaderBuilder::new().from_reader(input);
        let headers = csv
            .byte_headers()
            .with_context(|| format!("{name}: reading the header"))?;
        let column = |want: &str| {
            headers
                .iter()
                .position(|h| {
                    let h = h.trim_ascii();
                    h.strip_prefix("\u{feff}".as_bytes()).unwrap_or(h) == want.as_bytes()
                })
                .with_context(|| format!("{name}: no `{want}` column (the header must name timestamp, symbol and price)"))
        };
        let columns = (column("timestamp")?, column("symbol")?, column("price")?);
        Ok(Rows {
            csv,
            record: csv::ByteRecord::new(),
            columns,
            unknown_rows: 0,
            unknown_symbols: Vec::new(),
        })
    }

    /// The next row of a configured symbol, validated; `None` at the end.
    ///
    /// Only the timestamp and the price are decoded as text; the symbol is
    /// matched as bytes and named by the configured string.
    fn next_tick<'a>(
        &'a mut self,
        name: &str,
        symbols: &'a [String],
    ) -> anyhow::Result<Option<Tick<'a>>> {
        let (ts_col, sym_col, price_col) = self.columns;
        let (symbol, price) = loop {
            let more = self
                .csv
                .read_byte_record(&mut self.record)
                .with_context(|| format!("{name}: unreadable row"))?;
            if !more {
                return Ok(None);
            }
            let row = &self.record;
            let line = row.position().map_or(0, |p| p.line());
            let field = |i: usize, what: &str| {
                row.get(i)
                    .map(<[u8]>::trim_ascii)
                    .with_context(|| format!("{name}:{line}: the row has no {what}"))
            };
            let (ts, sym, price) = (
                field(ts_col, "timestamp")?,
                field(sym_col, "symbol")?,
                field(price_col, "price")?,
            );
            let not_text = |what: &str| anyhow::anyhow!("{name}:{line}: the {what} is not UTF-8");
            let ts = std::str::from_utf8(ts).map_err(|_| not_text("timestamp"))?;
            if parse_event_time(ts).is_none() {
                bail!(
                    "{name}:{line}: timestamp {ts:?} is not YYYY-MM-DD HH:MM:SS[.fff] \
                     from 1970-01-01 up to 2200-01-01"
                );
            }
            let price_text = std::str::from_utf8(price).map_err(|_| not_text("price"))?;
            let price = match Price::parse(price_text) {
                Ok(p) if p.units() > 0 => p,
                _ => {
                    bail!("{name}:{line}: price {price_text:?} is not a decimal greater than zero")
                }
            };
            if let Some(s) = symbols.iter().find(|s| s.as_bytes() == sym) {
                break (s.as_str(), price);
            }
            self.unknown_rows += 1;
            let sym = String::from_utf8_lossy(sym);
            if self.unknown_symbols.len() < UNKNOWN_SYMBOLS_LOGGED
                && !self.unknown_symbols.iter().any(|s| *s == sym)
            {
                self.unknown_symbols.push(sym.into_owned());
            }
        };
        // Decoded again outside the loop, for the caller: it was checked above.
        let timestamp = std::str::from_utf8(self.record[ts_col].trim_ascii()).unwrap_or_default();
        Ok(Some(Tick {
            symbol,
            price,
            timestamp,
        }))
    }
}

impl Replay {
    /// Validates `path` for `symbols` and opens it for streaming.
    pub fn load(
        path: &Path,
        symbols: &[String],
        looping: bool,
        send_time: bool,
    ) -> anyhow::Result<(Replay, ReplayStats)> {
        let path: PathBuf = path.to_path_buf();
        let name = path.display().to_string();
        let open: Opener = Arc::new(move || {
            let file = std::fs::File::open(&path)?;
            Ok(Box::new(std::io::BufReader::new(file)) as Box<dyn Read + Send>)
        });
        Replay::from_opener(open, &name, symbols, looping, send_time)
    }

    /// Like [`Replay::load`] from a copy of `text` in memory (tests, and
    /// data that is not a file); `name` is used in errors.
    pub fn from_memory(
        text: &[u8],
        name: &str,
        symbols: &[String],
        looping: bool,
        send_time: bool,
    ) -> anyhow::Result<(Replay, ReplayStats)> {
        let text: Arc<[u8]> = text.into();
        let open: Opener = Arc::new(move || {
            Ok(Box::new(std::io::Cursor::new(text.clone())) as Box<dyn Read + Send>)
        });
        Replay::from_opener(open, name, symbols, looping, send_time)
    }

    /// Reads the whole input once to validate and count it, then opens it
    /// again for the first pass.
    fn from_opener(
        open: Opener,
        name: &str,
        symbols: &[String],
        looping: bool,
        send_time: bool,
    ) -> anyhow::Result<(Replay, ReplayStats)> {
        let opened = |open: &Opener| {
            let input = open().with_context(|| format!("opening market data {name}"))?;
            Rows::new(input, name)
        };
        let mut check = opened(&open)?;
        let mut ticks = 0usize;
        while check.next_tick(name, symbols)?.is_some() {
            ticks += 1;
        }
        if ticks == 0 {
            bail!(
                "{name}: no ticks to replay ({} rows skipped for symbols not in `symbols`)",
                check.unknown_rows
            );
        }
        let stats = ReplayStats {
            ticks,
            unknown_symbol_rows: check.unknown_rows,
            unknown_symbols: check.unknown_symbols,
        };
        let replay = Replay {
            rows: opened(&open)?,
            open,
            name: name.into(),
            symbols: symbols.into(),
            len: ticks as u64,
            next: 0,
            looping,
            send_time,
            failure: None,
        };
        Ok((replay, stats))
    }

    /// Ticks per pass.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Never true for a loaded replay (loading rejects files without ticks).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts a new pass from the file's first row.
    fn rewind(&mut self) -> anyhow::Result<()> {
        let input =
            (self.open)().with_context(|| format!("reopening market data {}", self.name))?;
        self.rows = Rows::new(input, &self.name)?;
        self.next = 0;
        Ok(())
    }

    /// The next tick of this pass; the file must still hold it.
    fn tick(&mut self) -> anyhow::Result<Tick<'_>> {
        let (name, symbols) = (&self.name, &self.symbols);
        match self.rows.next_tick(name, symbols)? {
            Some(t) => Ok(t),
            None => bail!(
                "{name}: ended after {} of the {} ticks it held when loaded (changed while replaying?)",
                self.next,
                self.len
            ),
        }
    }

    /// Stops the stream for good: `e` is reported as its failure.
    fn fail(&mut self, e: anyhow::Error) -> bool {
        self.failure = Some(format!("{e:#}"));
        self.next = self.len;
        self.looping = false;
        false
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        if self.failure.is_some() {
            return false;
        }
        if self.next == self.len {
            if !self.looping {
                return false;
            }
            if let Err(e) = self.rewind() {
                return self.fail(e);
            }
        }
        let send_time = self.send_time;
        match self.tick() {
            Ok(t) => {
                write_market_data_prefix(out, t.symbol, t.price, t.timestamp);
                finish_market_data(out, send_time.then(unix_now_ns));
            }
            Err(e) => return self.fail(e),
        }
        self.next += 1;
        true
    }

    /// Frame `p` is tick `p mod len`: reached by reading on from here, or
    /// from the file's start when it lies behind.
    fn seek(&mut self, position: u64) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let row = match self.looping {
            true => position % self.len,
            false if position <= self.len => position,
            false => return false,
        };
        if row < self.next {
            if let Err(e) = self.rewind() {
                return self.fail(e);
            }
        }
        while self.next < row {
            if let Err(e) = self.tick() {
                return self.fail(e);
            }
            self.next += 1;
        }
        true
    }

    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}
