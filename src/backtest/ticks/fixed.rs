//! The fast path of the tick reader: a row of exactly
//! `YYYY-MM-DD HH:MM:SS[.fff],SYMBOL,DIGITS[.DIGITS]`, the shape
//! `--generate-csv` writes and most recorded data has.
//!
//! It decides only what it is sure of: a row it returns is a tick the
//! general path ([`general_row`](super::general_row)) reads to the same
//! numbers, and anything else (spaces, an exponent, more than 8 decimals, an
//! unknown symbol, a bad field) is left to the general path, which counts,
//! skips or names it exactly as before. The timestamp goes through the
//! protocol's own [`parse_event_time`] (the one the live feed uses); the
//! rest is one pass over the row's bytes: the symbol is matched as one
//! integer, the price read as a plain decimal, and the row's end found by
//! the price's last digit (no search for the newline, no trimming, no
//! vector of fields, no wide mantissa).

use crate::price::PRICE_SCALE;
use crate::protocol::parse_event_time;
use crate::symbol::SymbolIndex;

use super::TickRow;

/// Longest symbol the fast path matches (the protocol allows 15 bytes):
/// its bytes and its length fit one `u128`.
const MAX_SYMBOL: usize = 15;

/// The configured symbols as packed keys ([`pack`]), in table order.
pub(super) struct SymbolKeys(Vec<u128>);

/// A symbol of at most [`MAX_SYMBOL`] bytes as one integer: the bytes in
/// the low 15 bytes, the length in the top one (so `A` and `A\0` differ).
fn pack(symbol: &[u8]) -> Option<u128> {
    if symbol.len() > MAX_SYMBOL {
        return None;
    }
    let bytes = symbol
        .iter()
        .enumerate()
        .fold(0u128, |k, (i, &c)| k | (c as u128) << (8 * i));
    Some(bytes | (symbol.len() as u128) << 120)
}

/// The keys, when the fast path may read this file: its header is exactly
/// `timestamp,symbol,price`, and every configured symbol packs and reads
/// the same trimmed (the general path trims, this path matches bytes).
pub(super) fn applies(header: &[String], symbols: &[String]) -> Option<SymbolKeys> {
    if header != ["timestamp", "symbol", "price"] || symbols.iter().any(|s| s.trim() != s) {
        return None;
    }
    let keys: Option<Vec<u128>> = symbols.iter().map(|s| pack(s.as_bytes())).collect();
    keys.map(SymbolKeys)
}

/// The row starting at byte `start` of `text` (the whole file) as a tick,
/// and where the next row starts; `None` when it is not of the plain shape,
/// or not of a configured symbol, or not valid: the general path decides
/// those.
#[inline]
pub(super) fn row(text: &str, start: usize, keys: &SymbolKeys) -> Option<(TickRow, usize)> {
    let b = text.as_bytes();
    // `YYYY-MM-DD HH:MM:SS` then at most `.` and 9 digits before the comma.
    let ts_len = 19
        + b.get(start + 19..)?
            .iter()
            .take(11)
            .position(|&c| c == b',')?;
    let event_ns = parse_event_time(text.get(start..start + ts_len)?)?;
    let mut at = start + ts_len + 1;
    let mut key = 0u128;
    let mut len = 0;
    loop {
        let c = *b.get(at)?;
        at += 1;
        if c == b',' {
            break;
        }
        if len == MAX_SYMBOL {
            return None;
        }
        key |= (c as u128) << (8 * len);
        len += 1;
    }
    key |= (len as u128) << 120;
    let idx = keys.0.iter().position(|&k| k == key)?;
    let (price_units, used) = plain_decimal(&b[at..])?;
    at += used;
    let next = match (b.get(at), b.get(at + 1)) {
        (None, _) => at,
        (Some(b'\n'), _) | (Some(b'\r'), None) => at + 1,
        (Some(b'\r'), Some(b'\n')) => at + 2,
        _ => return None,
    };
    let tick = TickRow {
        symbol: SymbolIndex::new(idx),
        price_units,
        event_ns,
    };
    Some((tick, next))
}

/// Powers of ten by the number of decimals given (1 to 8): what makes them 8.
const SCALE_UP: [i64; 9] = [0, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// Most integer digits taken here: 10 digits times [`PRICE_SCALE`] stays
/// far inside `i64`; longer ones go to the general path.
const MAX_INT_DIGITS: usize = 10;

/// The decimal `DIGITS[.DIGITS]` at the start of `b` (1 to 10 integer
/// digits, and 1 to 8 decimals after a point), above zero, in price units,
/// and how many bytes it took: exact, so equal to what `Price::parse` gives.
#[inline]
fn plain_decimal(b: &[u8]) -> Option<(i64, usize)> {
    let (int, int_len) = digits(b, MAX_INT_DIGITS)?;
    let mut units = int * PRICE_SCALE;
    let mut used = int_len;
    if b.get(used) == Some(&b'.') {
        let (frac, frac_len) = digits(&b[used + 1..], 8)?;
        units += frac * SCALE_UP[frac_len];
        used += 1 + frac_len;
    }
    (units > 0).then_some((units, used))
}

/// The value of the 1 to `most` ASCII digits at the start of `b`, and how
/// many there are; `None` for none, or for more than `most`.
#[inline]
fn digits(b: &[u8], most: usize) -> Option<(i64, usize)> {
    let mut n = 0i64;
    let mut len = 0;
    while let Some(d) = b.get(len).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        if len == most {
            return None;
        }
        n = n * 10 + d as i64;
        len += 1;
    }
    (len > 0).then_some((n, len))
}

#[cfg(test)]
mod tests {
    use super::super::{general_row, parse_rows, Columns, Row};
    use super::*;
    use crate::price::Price;
    use proptest::prelude::*;

    fn syms() -> Vec<String> {
        vec!["AAA".into(), "BB.B".into()]
    }

    fn header() -> Vec<String> {
        ["timestamp", "symbol", "price"].map(String::from).to_vec()
    }

    /// Timestamps: valid ones with and without fractions, and near misses.
    fn timestamp() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just("2024-01-02 09:30:00".to_string()),
            3 => Just("2024-01-02 09:30:00.1".to_string()),
            3 => Just("2024-02-29T23:59:59.123456789".to_string()),
            1 => Just("2023-02-29 09:30:00".to_string()),
            1 => Just(" 2024-01-02 09:30:00".to_string()),
            1 => Just("2024-01-02 09:30:00 ".to_string()),
            1 => Just("2024-01-02 09:30:00.".to_string()),
            1 => Just("2024-01-02 24:00:00".to_string()),
            1 => Just("2201-01-01 00:00:00".to_string()),
            1 => Just(String::new()),
            1 => "[0-9: .-]{0,24}",
        ]
    }

    /// Symbols: configured, unknown, spaced, empty, with a comma, not ASCII.
    fn symbol() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just("AAA".to_string()),
            3 => Just("BB.B".to_string()),
            1 => Just(" AAA".to_string()),
            1 => Just("AAA\t".to_string()),
            1 => Just("ZZZ".to_string()),
            1 => Just("AA".to_string()),
            1 => Just(String::new()),
            1 => Just("A,A".to_string()),
            1 => Just("\u{a0}AAA".to_string()),
        ]
    }

    /// Prices: plain decimals of every length, and what the fast path must refuse.
    fn price() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-9]{1,12}",
            4 => "[0-9]{0,12}\\.[0-9]{0,10}",
            1 => Just("1e2".to_string()),
            1 => Just("+1.5".to_string()),
            1 => Just("-1.5".to_string()),
            1 => Just(" 1.5".to_string()),
            1 => Just("1.5 ".to_string()),
            1 => Just("1.5,2".to_string()),
            1 => Just("١".to_string()),
            1 => Just("9999999999.99999999".to_string()),
            1 => Just("99999999999".to_string()),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (timestamp(), symbol(), price()).prop_map(|(t, s, p)| format!("{t},{s},{p}")),
            1 => Just(String::new()),
            1 => Just("  ".to_string()),
            1 => "[0-9A-Z,. :-]{0,30}",
        ]
    }

    /// A row the fast path must take when the general path reads a tick
    /// from it: no spaces, and a price of 1-10 digits with 1-8 decimals.
    fn is_plain(line: &str) -> bool {
        let price = line.rsplit(',').next().unwrap_or("");
        let (int, frac) = price.split_once('.').unwrap_or((price, "1"));
        !line.contains(|c: char| c.is_whitespace() && c != ' ')
            && !line.starts_with(' ')
            && !line.contains(", ")
            && !line.contains(" ,")
            && (1..=10).contains(&int.len())
            && (1..=8).contains(&frac.len())
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    }

    #[test]
    fn plain_decimals_by_hand() {
        assert_eq!(plain_decimal(b"186.73"), Some((18_673_000_000, 6)));
        assert_eq!(plain_decimal(b"0.00000001\n"), Some((1, 10)));
        assert_eq!(plain_decimal(b"007,"), Some((700_000_000, 3)));
        assert_eq!(
            plain_decimal(b"9999999999.99999999"),
            Some((999_999_999_999_999_999, 19))
        );
        assert_eq!(
            plain_decimal(b"1e5"),
            Some((100_000_000, 1)),
            "the row refuses the rest"
        );
        for refused in [
            &b"0"[..],
            b"0.0",
            b".5",
            b"5.",
            b"1.123456789",
            b"12345678901",
            b"-1",
            b"",
        ] {
            assert_eq!(plain_decimal(refused), None, "{:?}", refused);
        }
    }

    #[test]
    fn packed_symbols_differ_by_length_and_bytes() {
        assert_ne!(pack(b"A"), pack(b"A\0"));
        assert_ne!(pack(b"AB"), pack(b"BA"));
        assert_eq!(pack(b"GOOG"), pack("GOOG".as_bytes()));
        assert!(pack(b"ABCDEFGHIJKLMNO").is_some());
        assert_eq!(pack(b"ABCDEFGHIJKLMNOP"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn a_fast_row_is_the_general_rows_tick(line in line()) {
            let cols = Columns { ts: 0, symbol: 1, price: 2 };
            let mut fields = Vec::new();
            let general = general_row(line.as_bytes(), &cols, 3, &mut fields, &syms());
            let keys = applies(&header(), &syms()).unwrap();
            match row(&line, 0, &keys) {
                Some((fast, next)) => prop_assert!(
                    matches!(general, Ok(Row::Tick(t)) if t == fast) && next == line.len(),
                    "{line:?}"
                ),
                // Refused rows are the general path's; a plain row must not be refused.
                None => prop_assert!(
                    !is_plain(&line) || !matches!(general, Ok(Row::Tick(_))),
                    "{line:?} is plain but took the general path"
                ),
            }
        }

        #[test]
        fn plain_decimals_equal_the_general_parser(text in "[0-9]{1,10}(\\.[0-9]{1,8})?") {
            let general = Price::parse(&text).unwrap().units();
            let fast = plain_decimal(text.as_bytes());
            prop_assert_eq!(fast, (general > 0).then_some((general, text.len())));
        }

        #[test]
        fn whole_files_read_the_same_either_way(
            lines in proptest::collection::vec(line(), 0..40),
            crlf in any::<bool>(),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let text = format!("timestamp,symbol,price{end}{}", lines.join(end));
            let read = |fast| {
                parse_rows(text.as_bytes(), "t.csv", &syms(), fast).map_err(|e| e.to_string())
            };
            prop_assert_eq!(read(true), read(false));
        }
    }
}
