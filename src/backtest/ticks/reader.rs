//! [`RowReader`]: a file's ticks from blocks of whole lines, each row by
//! the fast path when it can ([`fixed`]) and by the general one
//! ([`general_row`]) otherwise, with the counts and the `file:line` of what
//! was odd.

use super::{field, fixed, general_row, line_at, Columns, Row, TickData, TickFileError, TickRow};

/// What the header said.
struct Layout {
    /// Where each column is.
    cols: Columns,
    /// How many fields a row has.
    width: usize,
    /// The symbols' keys, when the header allows the fast path.
    fast: Option<fixed::SymbolKeys>,
}

/// A file's ticks, read from blocks of whole lines as they come.
pub(super) struct RowReader<'a> {
    /// The file's name, for errors.
    name: &'a str,
    /// The configured symbols.
    symbols: &'a [String],
    /// Whether the fast path may be used (tests turn it off).
    fast: bool,
    /// The header's layout, once the first line was read.
    layout: Option<Layout>,
    /// Lines read so far (the next one is `line + 1`).
    line: usize,
    /// Event time of the latest tick.
    last_ns: i64,
    /// What was read.
    data: TickData,
}

impl<'a> RowReader<'a> {
    /// A reader for a file of about `size` bytes.
    pub(super) fn new(
        name: &'a str,
        symbols: &'a [String],
        size: usize,
        fast: bool,
    ) -> RowReader<'a> {
        RowReader {
            name,
            symbols,
            fast,
            layout: None,
            line: 0,
            last_ns: i64::MIN,
            data: TickData {
                ticks: Vec::with_capacity(size / 32),
                ..TickData::default()
            },
        }
    }

    /// The layout of the header `line`, or which column it lacks.
    fn header(&self, line: &[u8]) -> Result<Layout, TickFileError> {
        let header: Vec<String> = line
            .split(|&b| b == b',')
            .map(|f| {
                field(f)
                    .unwrap_or("")
                    .trim_start_matches('\u{feff}')
                    .to_string()
            })
            .collect();
        let column = |column: &'static str| {
            header
                .iter()
                .position(|h| h == column)
                .ok_or_else(|| TickFileError::Header {
                    name: self.name.to_string(),
                    column,
                })
        };
        let cols = Columns {
            ts: column("timestamp")?,
            symbol: column("symbol")?,
            price: column("price")?,
        };
        let fast = self
            .fast
            .then(|| fixed::applies(&header, self.symbols))
            .flatten();
        Ok(Layout {
            cols,
            width: header.len(),
            fast,
        })
    }

    /// Reads the whole lines of `bytes` (all of it at the end of the file,
    /// `eof`); returns how many bytes it took, the rest being the start of
    /// a line still to come.
    pub(super) fn feed(&mut self, bytes: &[u8], eof: bool) -> Result<usize, TickFileError> {
        let end = match eof {
            true => bytes.len(),
            false => memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1),
        };
        let block = &bytes[..end];
        let mut at = 0;
        if self.layout.is_none() {
            if block.is_empty() {
                return Ok(0);
            }
            let (head, next) = line_at(block, 0);
            self.layout = Some(self.header(head)?);
            self.line = 1;
            at = next;
        }
        let Some(layout) = self.layout.take() else {
            return Ok(0);
        };
        let read = self.rows(block, at, &layout);
        self.layout = Some(layout);
        read.map(|()| end)
    }

    /// Reads the lines of `block` from byte `at` on, laid out as `layout` says.
    fn rows(&mut self, block: &[u8], mut at: usize, layout: &Layout) -> Result<(), TickFileError> {
        // The fast path reads the block as text. A byte that is not UTF-8
        // stops the load in the general path anyway: every byte of a row is
        // in a field that must be text.
        let fast = layout.fast.as_ref().zip(std::str::from_utf8(block).ok());
        let mut fields: Vec<&[u8]> = Vec::with_capacity(layout.width);
        while at < block.len() {
            self.line += 1;
            let fast_row = fast.and_then(|(keys, text)| fixed::row(text, at, keys));
            let row = match fast_row {
                Some((tick, next)) => {
                    at = next;
                    Row::Tick(tick)
                }
                None => {
                    let (text, next) = line_at(block, at);
                    at = next;
                    general_row(text, &layout.cols, layout.width, &mut fields, self.symbols)
                        .map_err(|problem| TickFileError::Row {
                            name: self.name.to_string(),
                            line: self.line,
                            problem,
                        })?
                }
            };
            match row {
                Row::Tick(tick) => self.push(tick),
                Row::Blank => {}
                Row::Unknown(sym) => self.unknown(sym),
            }
        }
        Ok(())
    }

    /// Keeps a tick, noting a step back in time.
    #[inline]
    fn push(&mut self, tick: TickRow) {
        if tick.event_ns < self.last_ns {
            self.data.backwards += 1;
            let (name, line) = (self.name, self.line);
            self.data
                .first_backwards
                .get_or_insert_with(|| format!("{name}:{line}"));
        }
        self.last_ns = tick.event_ns;
        self.data.ticks.push(tick);
    }

    /// Counts a row of a symbol not configured (the first few by name).
    fn unknown(&mut self, sym: &str) {
        let data = &mut self.data;
        data.unknown_rows += 1;
        if data.unknown_symbols.len() < 5 && !data.unknown_symbols.iter().any(|s| s == sym) {
            data.unknown_symbols.push(sym.to_string());
        }
    }

    /// The ticks, or why there are none to trade on.
    pub(super) fn finish(self) -> Result<TickData, TickFileError> {
        if self.layout.is_none() {
            self.header(b"")?;
        }
        if self.data.ticks.is_empty() {
            return Err(TickFileError::Empty {
                name: self.name.to_string(),
                unknown: self.data.unknown_rows,
            });
        }
        Ok(self.data)
    }
}
