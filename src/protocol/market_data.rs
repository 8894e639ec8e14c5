//! Market data: gateway → orderbook, `SYMBOL,PRICE[,TIMESTAMP[,SEND_NS]]*`.
//!
//! - 2 fields (`AAPL,172.53`): the form the original README documents; the
//!   receiver uses its receive time as event time.
//! - 3 fields (`AAPL,172.53,2024-01-02 09:30:00`): what the original gateway
//!   sends, the timestamp copied verbatim from its CSV.
//! - 4 fields: plus `SEND_NS`, the gateway's send time in ns since the epoch,
//!   for latency measurement (off for three-field peers).
//!
//! This is the hot path: parsing borrows the symbol and parses the price and
//! time in place, with no allocation on success.
//!
//! Event times must lie in [`EVENT_TIME_RANGE`] (1970-01-01 00:00:00 up to,
//! not including, 2200-01-01 00:00:00): nanoseconds since the epoch of any
//! date past 2262-04-11 do not fit an `i64`, so a frame dated 2263 used to be
//! stored with a wrapped, negative event time. A timestamp outside the range
//! is a malformed frame whose error names the `timestamp` field.

use super::fields::{positive_price, split_fields, validate_symbol};
use super::ParseError;
use crate::price::Price;

/// One parsed market data frame, borrowing the symbol from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketData<'a> {
    /// Instrument, checked against the symbol rule (not against a table).
    pub symbol: &'a str,
    /// Last trade price, greater than zero.
    pub price: Price,
    /// Event time in ns since the epoch (naive UTC); `None` for the 2-field form.
    pub event_time_ns: Option<i64>,
    /// Gateway send time in ns since the epoch, when the gateway sent it.
    pub send_ns: Option<i64>,
}

/// The event times a frame may carry, in ns since the epoch: from
/// 1970-01-01 00:00:00 up to, not including, 2200-01-01 00:00:00. Far
/// enough from `i64::MAX` (2262-04-11) that every conversion stays exact.
pub const EVENT_TIME_RANGE: std::ops::Range<i64> = 0..EVENT_TIME_END_DAYS * NS_PER_DAY;

/// Days from 1970-01-01 to 2200-01-01, the first day out of range.
const EVENT_TIME_END_DAYS: i64 = 84_006;
/// First year out of range.
const EVENT_TIME_END_YEAR: i64 = 2200;
/// First year in range.
const EVENT_TIME_FIRST_YEAR: i64 = 1970;
/// Nanoseconds per day.
const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Why a timestamp field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeError {
    /// Not `YYYY-MM-DD HH:MM:SS[.fraction]`, or not a calendar date/time.
    Malformed,
    /// A valid date outside [`EVENT_TIME_RANGE`].
    OutOfRange,
}

impl TimeError {
    /// The `problem` text of the [`ParseError`] naming the field.
    fn problem(self) -> &'static str {
        match self {
            TimeError::Malformed => "is not YYYY-MM-DD HH:MM:SS[.fff]",
            TimeError::OutOfRange => "is not between 1970-01-01 and 2200-01-01 (exclusive)",
        }
    }
}

/// Parses one market data frame (without its `*`).
///
/// The common shape (no spaces, a plain decimal price, a second-resolution
/// or fractional timestamp) is parsed in one forward pass over the bytes;
/// anything else, including every malformed frame, takes the general path,
/// which accepts the same language and explains errors. The two agree on
/// every input (a property test checks it).
pub fn parse_market_data(frame: &[u8]) -> Result<MarketData<'_>, ParseError> {
    match fast::parse(frame) {
        Some(md) => Ok(md),
        None => parse_market_data_general(frame),
    }
}

/// Both parsers' answers on one frame: the fast path's (`None` = "ask the
/// general parser") and the general parser's. Only for the fuzz target that
/// holds them equal on every input; built only by `cargo fuzz`, which sets
/// `--cfg fuzzing`, so it is no part of the API.
#[cfg(fuzzing)]
#[allow(clippy::type_complexity)]
pub fn parse_both(frame: &[u8]) -> (Option<MarketData<'_>>, Result<MarketData<'_>, ParseError>) {
    (fast::parse(frame), parse_market_data_general(frame))
}

/// The general parser: field splitting, trimming, every diagnostic.
fn parse_market_data_general(frame: &[u8]) -> Result<MarketData<'_>, ParseError> {
    let (f, n) = split_fields(frame)?;
    if !(2..=4).contains(&n) {
        return Err(ParseError::FieldCount {
            kind: "market data",
            expected: "2, 3 or 4",
            got: n,
        });
    }
    validate_symbol(f[0])?;
    let price = positive_price("price", f[1])?;
    let event_time_ns = if n >= 3 {
        Some(
            event_time_bytes(f[2].as_bytes())
                .map_err(|e| ParseError::bad("timestamp", f[2], e.problem()))?,
        )
    } else {
        None
    };
    let send_ns = if n == 4 {
        match f[3].parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return Err(ParseError::bad(
                    "send_ns",
                    f[3],
                    "is not a non-negative integer",
                ))
            }
        }
    } else {
        None
    };
    Ok(MarketData {
        symbol: f[0],
        price,
        event_time_ns,
        send_ns,
    })
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T`) as naive UTC → ns since the epoch.
///
/// Up to 9 fraction digits; every calendar field is range-checked, leap years
/// included. `None` when the text is anything else or the time is outside
/// [`EVENT_TIME_RANGE`].
pub fn parse_event_time(s: &str) -> Option<i64> {
    event_time_bytes(s.as_bytes()).ok()
}

/// [`parse_event_time`] on bytes, so the fast path needs no UTF-8 check.
fn event_time_bytes(b: &[u8]) -> Result<i64, TimeError> {
    use TimeError::Malformed;
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return Err(Malformed);
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(Malformed);
    }
    const TIME_DIGITS: [usize; 6] = [11, 12, 14, 15, 17, 18];
    if !TIME_DIGITS.iter().all(|&i| b[i].is_ascii_digit()) {
        return Err(Malformed);
    }
    let two = |i: usize| (b[i] - b'0') as i64 * 10 + (b[i + 1] - b'0') as i64;
    let (hour, minute, second) = (two(11), two(14), two(17));
    if hour > 23 || minute > 59 || second > 59 {
        return Err(Malformed);
    }
    let days = date_days(&b[..10])?;
    let mut nanos = 0i64;
    if b.len() > 19 {
        let frac = &b[20..];
        if b[19] != b'.' || frac.is_empty() || frac.len() > 9 {
            return Err(Malformed);
        }
        let mut n = 0i64;
        for &c in frac {
            if !c.is_ascii_digit() {
                return Err(Malformed);
            }
            n = n * 10 + (c - b'0') as i64;
        }
        nanos = n * 10i64.pow(9 - frac.len() as u32);
    }
    // `date_days` keeps `days` inside the range, so this cannot overflow;
    // checked anyway, so that widening the range can never wrap silently.
    let second_of_day = (hour * 60 + minute) * 60 + second;
    days.checked_mul(NS_PER_DAY)
        .and_then(|ns| ns.checked_add(second_of_day * 1_000_000_000 + nanos))
        .filter(|ns| EVENT_TIME_RANGE.contains(ns))
        .ok_or(TimeError::OutOfRange)
}

/// Days since the epoch of a validated `YYYY-MM-DD` (the first 10 bytes of a
/// timestamp whose separators were already checked), for years inside
/// [`EVENT_TIME_RANGE`] only.
///
/// The last date seen is remembered per thread: a stream's timestamps share
/// their date, so the calendar arithmetic runs once a day instead of once a
/// frame. A pure function's memo, so it cannot change any result.
fn date_days(b: &[u8]) -> Result<i64, TimeError> {
    use std::cell::Cell;
    use TimeError::Malformed;
    thread_local! {
        static LAST: Cell<(u64, u16, i64)> = const { Cell::new((0, 0, 0)) };
    }
    let head = u64::from_le_bytes(
        b.get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or(Malformed)?,
    );
    let tail = u16::from_le_bytes(
        b.get(8..10)
            .and_then(|t| t.try_into().ok())
            .ok_or(Malformed)?,
    );
    let (last_head, last_tail, last_days) = LAST.get();
    if (head, tail) == (last_head, last_tail) {
        return Ok(last_days);
    }
    const DATE_DIGITS: [usize; 8] = [0, 1, 2, 3, 5, 6, 8, 9];
    if !DATE_DIGITS.iter().all(|&i| b[i].is_ascii_digit()) {
        return Err(Malformed);
    }
    let two = |i: usize| (b[i] - b'0') as i64 * 10 + (b[i + 1] - b'0') as i64;
    let (year, month, day) = (two(0) * 100 + two(2), two(5), two(8));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return Err(Malformed);
    }
    // Only dates in range are remembered, so a remembered date needs no check.
    if !(EVENT_TIME_FIRST_YEAR..EVENT_TIME_END_YEAR).contains(&year) {
        return Err(TimeError::OutOfRange);
    }
    let days = days_from_civil(year, month, day);
    LAST.set((head, tail, days));
    Ok(days)
}

/// Appends `ns` (since the epoch, naive UTC) as `YYYY-MM-DD HH:MM:SS[.fraction]`,
/// the fraction with trailing zeros trimmed, so [`parse_event_time`] gives `ns`
/// back when it is inside [`EVENT_TIME_RANGE`].
pub fn write_event_time(out: &mut Vec<u8>, ns: i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8])
    };
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, m);
    out.push(b'-');
    two(out, d);
    out.push(b' ');
    two(out, sod / 3600);
    out.push(b':');
    two(out, sod / 60 % 60);
    out.push(b':');
    two(out, sod % 60);
    if nanos != 0 {
        let mut digits = *b"000000000";
        let mut n = nanos;
        for i in (0..9).rev() {
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let len = 9 - digits.iter().rev().take_while(|&&c| c == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (years 0–9999).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Appends `SYMBOL,PRICE,TIMESTAMP` without a terminator: the gateway renders
/// this part of every replay frame once, then [`finish_market_data`] per send.
pub fn write_market_data_prefix(out: &mut Vec<u8>, symbol: &str, price: Price, timestamp: &str) {
    out.extend_from_slice(symbol.as_bytes());
    out.push(b',');
    price.write_to(out);
    out.push(b',');
    out.extend_from_slice(timestamp.as_bytes());
}

/// Ends a frame begun by [`write_market_data_prefix`]: `,SEND_NS*` or `*`.
pub fn finish_market_data(out: &mut Vec<u8>, send_ns: Option<i64>) {
    if let Some(ns) = send_ns {
        out.push(b',');
        out.extend_from_slice(itoa::Buffer::new().format(ns).as_bytes());
    }
    out.push(b'*');
}

/// Appends a whole frame; `timestamp: None` gives the 2-field form (and then
/// `send_ns` must be `None` too, or the frame would read as a timestamp).
pub fn write_market_data(
    out: &mut Vec<u8>,
    symbol: &str,
    price: Price,
    timestamp: Option<&str>,
    send_ns: Option<i64>,
) {
    match timestamp {
        Some(ts) => {
            write_market_data_prefix(out, symbol, price, ts);
            finish_market_data(out, send_ns);
        }
        None => {
            debug_assert!(send_ns.is_none(), "SEND_NS needs a TIMESTAMP before it");
            out.extend_from_slice(symbol.as_bytes());
            out.push(b',');
            price.write_to(out);
            out.push(b'*');
        }
    }
}

/// The single-pass parser of the common frame shape; `None` means "ask the general parser".
mod fast {
    use super::{event_time_bytes, MarketData};
    use crate::price::{Price, PRICE_DECIMALS};

    /// Powers of ten up to the price scale, for short fractions.
    const POW10: [i64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];

    pub(super) fn parse(frame: &[u8]) -> Option<MarketData<'_>> {
        // One pass finds the comma and checks the symbol's characters.
        let mut c1 = 0;
        while c1 < frame.len() && c1 <= 15 && SYMBOL_BYTE[frame[c1] as usize] {
            c1 += 1;
        }
        if c1 == 0 || c1 > 15 || frame.get(c1) != Some(&b',') {
            return None;
        }
        // The symbol is ASCII (checked above), so this never fails.
        let symbol = std::str::from_utf8(&frame[..c1]).ok()?;
        let rest = &frame[c1 + 1..];
        let (price, used) = price(rest)?;
        if used == rest.len() {
            return Some(MarketData {
                symbol,
                price,
                event_time_ns: None,
                send_ns: None,
            });
        }
        if rest[used] != b',' {
            return None;
        }
        let rest = &rest[used + 1..];
        // A whole-second timestamp is exactly 19 bytes: look there first.
        let c3 = match rest.get(19) {
            Some(b',') => Some(19),
            None if rest.len() == 19 => None,
            _ => rest.iter().position(|&b| b == b','),
        };
        let ts = &rest[..c3.unwrap_or(rest.len())];
        // Any refusal (out of range included) goes to the general parser,
        // which explains it.
        let event_time_ns = Some(event_time_bytes(ts).ok()?);
        let send_ns = match c3 {
            None => None,
            Some(i) => Some(digits(&rest[i + 1..])?),
        };
        Some(MarketData {
            symbol,
            price,
            event_time_ns,
            send_ns,
        })
    }

    /// `123.45` (1–10 integer digits, 0–8 decimals, > 0) and the bytes it used.
    fn price(b: &[u8]) -> Option<(Price, usize)> {
        let mut i = 0;
        let mut int: i64 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i < 10 {
            int = int * 10 + (b[i] - b'0') as i64;
            i += 1;
        }
        if i == 0 {
            return None;
        }
        let mut units = int * POW10[PRICE_DECIMALS as usize];
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            let mut frac: i64 = 0;
            while i < b.len() && b[i].is_ascii_digit() && i - start < PRICE_DECIMALS as usize {
                frac = frac * 10 + (b[i] - b'0') as i64;
                i += 1;
            }
            if i == start {
                return None;
            }
            units += frac * POW10[PRICE_DECIMALS as usize - (i - start)];
        }
        if units == 0 || (i < b.len() && b[i] != b',') {
            return None;
        }
        Some((Price::from_units(units), i))
    }

    #[cfg(test)]
    pub(super) fn digits_for_test(b: &[u8]) -> Option<i64> {
        digits(b)
    }

    /// Bytes allowed in a symbol: `A-Z a-z 0-9 . _ -`.
    static SYMBOL_BYTE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            t[i] = b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-';
            i += 1;
        }
        t
    };

    /// 1–19 ASCII digits fitting an i64, else `None`.
    ///
    /// SEND_NS is 19 digits today: eight at a time with SWAR arithmetic
    /// (digit check and conversion on a u64 each), the rest one by one.
    fn digits(b: &[u8]) -> Option<i64> {
        if b.is_empty() || b.len() > 19 {
            return None;
        }
        // 19 digits stay below u64::MAX, so the sum cannot overflow.
        let mut v = 0u64;
        let mut chunks = b.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            v = v * 100_000_000 + eight_digits(word)?;
        }
        for &c in chunks.remainder() {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                return None;
            }
            v = v * 10 + d as u64;
        }
        i64::try_from(v).ok()
    }

    /// Eight ASCII digits loaded little-endian (first digit in the low byte).
    fn eight_digits(word: u64) -> Option<u64> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        // Every byte must be 0x30..=0x39: high nibble 3, and adding 6 must not carry out.
        if word & (0xF0 * ONES) != 0x30 * ONES
            || (word.wrapping_add(6 * ONES) & (0xF0 * ONES)) != 0x30 * ONES
        {
            return None;
        }
        let mut v = word - 0x30 * ONES;
        v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF; // pairs
        v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF; // quads
        v = (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF; // all eight
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_704_187_800_000_000_000; // 2024-01-02 09:30:00 UTC

    fn md(s: &str) -> Result<MarketData<'_>, String> {
        parse_market_data(s.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn good_frames() {
        let p = |u| Price::from_units(u);
        let table: &[(&str, MarketData)] = &[
            (
                "AAPL,172.53,2024-01-02 09:30:00",
                MarketData {
                    symbol: "AAPL",
                    price: p(17_253_000_000),
                    event_time_ns: Some(T0),
                    send_ns: None,
                },
            ),
            (
                "AAPL,186.73,2024-01-02 09:30:00,1732512345123456789",
                MarketData {
                    symbol: "AAPL",
                    price: p(18_673_000_000),
                    event_time_ns: Some(T0),
                    send_ns: Some(1_732_512_345_123_456_789),
                },
            ),
            (
                "AAPL,172.53",
                MarketData {
                    symbol: "AAPL",
                    price: p(17_253_000_000),
                    event_time_ns: None,
                    send_ns: None,
                },
            ),
            (
                " MSFT , 186.7 , 2024-01-02T09:30:00.25 ",
                MarketData {
                    symbol: "MSFT",
                    price: p(18_670_000_000),
                    event_time_ns: Some(T0 + 250_000_000),
                    send_ns: None,
                },
            ),
            (
                "X,1e-05",
                MarketData {
                    symbol: "X",
                    price: p(1_000),
                    event_time_ns: None,
                    send_ns: None,
                },
            ),
            (
                "X,100.0",
                MarketData {
                    symbol: "X",
                    price: p(10_000_000_000),
                    event_time_ns: None,
                    send_ns: None,
                },
            ),
            (
                "X,1e2",
                MarketData {
                    symbol: "X",
                    price: p(10_000_000_000),
                    event_time_ns: None,
                    send_ns: None,
                },
            ),
        ];
        for (frame, want) in table {
            assert_eq!(md(frame).as_ref(), Ok(want), "{frame}");
        }
    }

    #[test]
    fn bad_frames_say_which_field_and_why() {
        let table: &[(&str, &str)] = &[
            ("AAPL", "expected 2, 3 or 4 fields for market data, got 1"),
            (
                "A,1,2024-01-02 09:30:00,1,2",
                "expected 2, 3 or 4 fields for market data, got 5",
            ),
            ("AAPL,abc", "price \"abc\" is not a number"),
            ("AAPL,0", "price \"0\" must be greater than zero"),
            ("AAPL,-1.5", "price \"-1.5\" must be greater than zero"),
            ("AAPL,nan", "price \"nan\" is not a number"),
            ("AAPL,inf", "price \"inf\" is not a number"),
            ("AAPL,1e300", "price \"1e300\" is out of range"),
            (",1", "symbol \"\" is empty"),
            (
                "AA PL,1",
                "symbol \"AA PL\" may only hold A-Z a-z 0-9 . _ -",
            ),
            (
                "AAPL,1,yesterday",
                "timestamp \"yesterday\" is not YYYY-MM-DD HH:MM:SS[.fff]",
            ),
            (
                "AAPL,1,2024-02-30 00:00:00",
                "timestamp \"2024-02-30 00:00:00\" is not YYYY-MM-DD HH:MM:SS[.fff]",
            ),
            (
                "AAPL,1,2024-01-02 09:30:00,-5",
                "send_ns \"-5\" is not a non-negative integer",
            ),
            (
                "AAPL,123.45,2263-01-01 00:00:00",
                "timestamp \"2263-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
            ),
            (
                "AAPL,1,2200-01-01 00:00:00,5",
                "timestamp \"2200-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
            ),
            (
                "AAPL,1,1969-12-31 23:59:59.999999999",
                "timestamp \"1969-12-31 23:59:59.999999999\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
            ),
            (
                "AAPL,1,9999-12-31 23:59:59",
                "timestamp \"9999-12-31 23:59:59\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
            ),
            (
                "AAPL,1,0000-01-01 00:00:00",
                "timestamp \"0000-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
            ),
        ];
        for (frame, want) in table {
            assert_eq!(md(frame).unwrap_err(), *want, "{frame}");
        }
        assert_eq!(
            parse_market_data(b"AAPL,\xff1"),
            Err(ParseError::InvalidUtf8)
        );
    }

    #[test]
    fn event_times() {
        assert_eq!(parse_event_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
        assert_eq!(
            parse_event_time("2024-02-29 00:00:00.000000001"),
            Some(1_709_164_800_000_000_001)
        );
        assert_eq!(parse_event_time("2023-02-29 00:00:00"), None);
        assert_eq!(
            parse_event_time("2000-02-29 23:59:59"),
            Some(951_868_799_000_000_000)
        );
        assert_eq!(parse_event_time("1900-02-29 00:00:00"), None);
        for bad in [
            "2024-01-02 24:00:00",
            "2024-13-01 00:00:00",
            "2024-01-02 09:30:00.",
            "2024-01-02 09:30:00.1234567890",
            "2024-01-02 09:30",
            "2024/01/02 09:30:00",
            "2024-01-02 09:30:0x",
        ] {
            assert_eq!(parse_event_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_times_outside_the_range_are_refused_not_wrapped() {
        // What the tester saw: 2263 overflowed i64 nanoseconds.
        let frame = b"AAPL,123.45,2263-01-01 00:00:00";
        assert_eq!(
            fast::parse(frame),
            None,
            "the fast path defers to the general one"
        );
        assert!(matches!(
            parse_market_data(frame),
            Err(ParseError::BadField {
                field: "timestamp",
                ..
            })
        ));
        let last = EVENT_TIME_RANGE.end - 1;
        assert_eq!(
            parse_event_time("2199-12-31 23:59:59.999999999"),
            Some(last)
        );
        assert_eq!(
            parse_market_data(b"A,1,2199-12-31 23:59:59.999999999,7")
                .unwrap()
                .event_time_ns,
            Some(last)
        );
        for out in [
            "2200-01-01 00:00:00",
            "2262-04-11 23:47:16",
            "2263-01-01 00:00:00",
            "9999-12-31 23:59:59.999999999",
            "1969-12-31 23:59:59",
            "1677-09-21 00:12:43",
            "0000-01-01 00:00:00",
        ] {
            assert_eq!(parse_event_time(out), None, "{out}");
            assert_eq!(
                event_time_bytes(out.as_bytes()),
                Err(TimeError::OutOfRange),
                "{out}"
            );
        }
        // A remembered in-range date does not let an out-of-range one through.
        assert_eq!(
            parse_event_time("2199-12-31 00:00:00"),
            Some(last - 86_399_999_999_999)
        );
        assert_eq!(parse_event_time("2200-01-01 00:00:00"), None);
    }

    #[test]
    fn writers_produce_exact_bytes() {
        let mut out = Vec::new();
        let p = Price::parse("186.73").unwrap();
        write_market_data(&mut out, "AAPL", p, Some("2024-01-02 09:30:00"), Some(42));
        write_market_data(&mut out, "AAPL", p, Some("2024-01-02 09:30:00"), None);
        write_market_data(&mut out, "AAPL", p, None, None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "AAPL,186.73,2024-01-02 09:30:00,42*AAPL,186.73,2024-01-02 09:30:00*AAPL,186.73*"
        );
    }

    proptest! {
        #[test]
        fn event_time_round_trips(ns in EVENT_TIME_RANGE) {
            let mut out = Vec::new();
            write_event_time(&mut out, ns);
            prop_assert_eq!(parse_event_time(std::str::from_utf8(&out).unwrap()), Some(ns));
        }

        #[test]
        fn event_times_past_the_range_are_refused_by_both_parsers(
            ns in EVENT_TIME_RANGE.end..i64::MAX,
        ) {
            let mut frame = b"AAPL,1.5,".to_vec();
            write_event_time(&mut frame, ns);
            prop_assert_eq!(fast::parse(&frame), None);
            let is_timestamp_error = matches!(
                parse_market_data_general(&frame),
                Err(ParseError::BadField { field: "timestamp", .. })
            );
            prop_assert!(is_timestamp_error);
        }

        #[test]
        fn format_then_parse_round_trips(
            symbol in "[A-Za-z0-9._-]{1,15}",
            units in 1i64..i64::MAX,
            secs in 0i64..4_102_444_800,
            send in proptest::option::of(0i64..i64::MAX),
        ) {
            let mut ts = Vec::new();
            write_event_time(&mut ts, secs * 1_000_000_000);
            let ts = String::from_utf8(ts).unwrap();
            let mut out = Vec::new();
            write_market_data(&mut out, &symbol, Price::from_units(units), Some(&ts), send);
            let frame = &out[..out.len() - 1];
            let got = parse_market_data(frame).unwrap();
            prop_assert_eq!(got, MarketData { symbol: &symbol, price: Price::from_units(units), event_time_ns: Some(secs * 1_000_000_000), send_ns: send });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_market_data(&bytes);
        }

        #[test]
        fn swar_digits_agree_with_std(n in 0u64..=i64::MAX as u64, pad in 0usize..3) {
            let text = format!("{}{n}", "0".repeat(pad));
            let want = if text.len() <= 19 { Some(n as i64) } else { None };
            prop_assert_eq!(fast::digits_for_test(text.as_bytes()), want);
        }

        #[test]
        fn the_fast_path_agrees_with_the_general_parser(
            frame in "[A-Z.]{0,3}(,[0-9. e-]{0,12}(,(2024|19[0-9]{2}|2[0-9]{3}|[0-9]{4})-0[1-2]-[0-3][0-9][ T][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,10})?(,[0-9 -]{0,20})?)?)?,?"
        ) {
            // Both accept the same frames: the fast path either agrees or
            // defers, and every year outside the range is an error of both.
            match fast::parse(frame.as_bytes()) {
                Some(fast) => prop_assert_eq!(Ok(fast), parse_market_data_general(frame.as_bytes())),
                None => {
                    if let Ok(md) = parse_market_data_general(frame.as_bytes()) {
                        prop_assert!(md.event_time_ns.is_none_or(|t| EVENT_TIME_RANGE.contains(&t)));
                    }
                }
            }
        }
    }

    #[test]
    fn the_date_memo_never_changes_an_answer() {
        assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
        assert_eq!(
            parse_event_time("2024-01-02 09:30:01"),
            Some(T0 + 1_000_000_000)
        );
        assert_eq!(parse_event_time("2024-02-30 09:30:00"), None);
        assert_eq!(
            parse_event_time("2024-01-02 24:00:00"),
            None,
            "a remembered date, a bad time"
        );
        assert_eq!(
            parse_event_time("2024-01-03 09:30:00"),
            Some(T0 + 86_400_000_000_000)
        );
        assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
    }

    #[test]
    fn event_times_format_exactly() {
        let f = |ns| {
            let mut out = Vec::new();
            write_event_time(&mut out, ns);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(T0), "2024-01-02 09:30:00");
        assert_eq!(f(T0 + 250_000_000), "2024-01-02 09:30:00.25");
        assert_eq!(
            f(1_709_164_800_000_000_001),
            "2024-02-29 00:00:00.000000001"
        );
        assert_eq!(f(0), "1970-01-01 00:00:00");
    }
}
