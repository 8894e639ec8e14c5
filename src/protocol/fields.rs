//! Field splitting and the field rules shared by several frame kinds.

use super::ParseError;
use crate::price::{Price, PriceError};

/// Most fields any frame has (orders: six).
pub const MAX_FIELDS: usize = 6;

/// Splits a frame into at most [`MAX_FIELDS`] trimmed fields without allocating.
///
/// Returns the fields and the real count (which may exceed the array when the
/// frame has too many fields; only the first [`MAX_FIELDS`] are kept). Works on
/// bytes: `,`, space and tab are ASCII, so every cut is a char boundary.
pub fn split_fields(frame: &[u8]) -> Result<([&str; MAX_FIELDS], usize), ParseError> {
    let text = std::str::from_utf8(frame).map_err(|_| ParseError::InvalidUtf8)?;
    let mut fields = [""; MAX_FIELDS];
    let mut n = 0;
    let mut start = 0;
    loop {
        let end = frame[start..]
            .iter()
            .position(|&b| b == b',')
            .map_or(frame.len(), |i| start + i);
        if n < MAX_FIELDS {
            let (mut a, mut b) = (start, end);
            while a < b && matches!(frame[a], b' ' | b'\t') {
                a += 1;
            }
            while b > a && matches!(frame[b - 1], b' ' | b'\t') {
                b -= 1;
            }
            fields[n] = &text[a..b];
        }
        n += 1;
        if end == frame.len() {
            return Ok((fields, n));
        }
        start = end + 1;
    }
}

/// Checks the symbol rule: 1–15 bytes of `A-Z a-z 0-9 . _ -`.
pub fn validate_symbol(symbol: &str) -> Result<(), ParseError> {
    if symbol.is_empty() {
        return Err(ParseError::bad("symbol", symbol, "is empty"));
    }
    if symbol.len() > 15 {
        return Err(ParseError::bad("symbol", symbol, "is longer than 15 bytes"));
    }
    if !symbol
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(ParseError::bad(
            "symbol",
            symbol,
            "may only hold A-Z a-z 0-9 . _ -",
        ));
    }
    Ok(())
}

/// Parses a price field that must be a finite decimal greater than zero.
pub fn positive_price(field: &'static str, text: &str) -> Result<Price, ParseError> {
    match Price::parse(text) {
        Ok(p) if p.units() > 0 => Ok(p),
        Ok(_) => Err(ParseError::bad(field, text, "must be greater than zero")),
        Err(PriceError::NotANumber) => Err(ParseError::bad(field, text, "is not a number")),
        Err(PriceError::OutOfRange) => Err(ParseError::bad(field, text, "is out of range")),
    }
}

/// Parses a field of ASCII digits only (no sign, no point) as a u64.
pub fn digits_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_and_counted() {
        let (f, n) = split_fields(b" AAPL , 75 ").unwrap();
        assert_eq!((f[0], f[1], n), ("AAPL", "75", 2));
        let (_, n) = split_fields(b"a,b,c,d,e,f,g,h").unwrap();
        assert_eq!(n, 8);
        assert_eq!(split_fields(b"\xff"), Err(ParseError::InvalidUtf8));
    }

    #[test]
    fn symbol_rule() {
        assert!(validate_symbol("BRK.B").is_ok());
        assert!(validate_symbol("A_1-x").is_ok());
        assert_eq!(
            validate_symbol("TOO-LONG-SYMBOL-XX")
                .unwrap_err()
                .to_string(),
            "symbol \"TOO-LONG-SYMBOL-XX\" is longer than 15 bytes"
        );
        assert!(validate_symbol("").is_err());
        assert!(validate_symbol("A B").is_err());
        assert!(validate_symbol("AAPL*").is_err());
    }
}
