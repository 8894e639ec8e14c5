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
mod fast;

#[cfg(test)]
mod tests;
