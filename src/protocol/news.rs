//! News sentiment: gateway → strategy, `SYMBOL,SENTIMENT[,TIMESTAMP]*`.
//!
//! The original README shows `SYMBOL, SENTIMENT*` with a space and the symbol
//! `APPL`, which no table knows: spaces are accepted here, and unknown symbols
//! are the receiver's business (it counts and ignores them).

use super::fields::{split_fields, validate_symbol};
use super::ParseError;

/// One parsed news frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct News<'a> {
    /// Instrument the sentiment is about.
    pub symbol: &'a str,
    /// 0 (bearish) to 100 (bullish).
    pub sentiment: u8,
    /// Optional event time, passed through as text.
    pub timestamp: Option<&'a str>,
}

/// Parses one news frame (without its `*`).
pub fn parse_news(frame: &[u8]) -> Result<News<'_>, ParseError> {
    let (f, n) = split_fields(frame)?;
    if !(2..=3).contains(&n) {
        return Err(ParseError::FieldCount {
            kind: "news",
            expected: "2 or 3",
            got: n,
        });
    }
    validate_symbol(f[0])?;
    let sentiment = super::fields::digits_u64(f[1])
        .filter(|v| *v <= 100)
        .ok_or_else(|| ParseError::bad("sentiment", f[1], "is not an integer from 0 to 100"))?;
    let timestamp = if n == 3 {
        if f[2].is_empty() {
            return Err(ParseError::bad("timestamp", f[2], "is empty"));
        }
        Some(f[2])
    } else {
        None
    };
    Ok(News {
        symbol: f[0],
        sentiment: sentiment as u8,
        timestamp,
    })
}

/// Appends a whole news frame.
pub fn write_news(out: &mut Vec<u8>, symbol: &str, sentiment: u8, timestamp: Option<&str>) {
    out.extend_from_slice(symbol.as_bytes());
    out.push(b',');
    out.extend_from_slice(itoa::Buffer::new().format(sentiment).as_bytes());
    if let Some(ts) = timestamp {
        out.push(b',');
        out.extend_from_slice(ts.as_bytes());
    }
    out.push(b'*');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_and_bad_frames() {
        fn n(s: &str) -> Result<News<'_>, String> {
            parse_news(s.as_bytes()).map_err(|e| e.to_string())
        }
        assert_eq!(
            n("AAPL,75"),
            Ok(News {
                symbol: "AAPL",
                sentiment: 75,
                timestamp: None
            })
        );
        assert_eq!(
            n("APPL, 75"),
            Ok(News {
                symbol: "APPL",
                sentiment: 75,
                timestamp: None
            })
        );
        assert_eq!(
            n("MSFT,0,2024-01-02 09:30:00"),
            Ok(News {
                symbol: "MSFT",
                sentiment: 0,
                timestamp: Some("2024-01-02 09:30:00")
            })
        );
        assert_eq!(
            n("MSFT,100"),
            Ok(News {
                symbol: "MSFT",
                sentiment: 100,
                timestamp: None
            })
        );
        assert_eq!(
            n("MSFT,101").unwrap_err(),
            "sentiment \"101\" is not an integer from 0 to 100"
        );
        assert_eq!(
            n("MSFT,-1").unwrap_err(),
            "sentiment \"-1\" is not an integer from 0 to 100"
        );
        assert_eq!(
            n("MSFT,7.5").unwrap_err(),
            "sentiment \"7.5\" is not an integer from 0 to 100"
        );
        assert_eq!(
            n("MSFT").unwrap_err(),
            "expected 2 or 3 fields for news, got 1"
        );
        assert_eq!(
            n("MSFT,1,2,3").unwrap_err(),
            "expected 2 or 3 fields for news, got 4"
        );
        assert_eq!(n("MSFT,1,").unwrap_err(), "timestamp \"\" is empty");
    }

    #[test]
    fn writes_exact_bytes() {
        let mut out = Vec::new();
        write_news(&mut out, "AAPL", 75, None);
        write_news(&mut out, "AAPL", 5, Some("t"));
        assert_eq!(out, b"AAPL,75*AAPL,5,t*");
    }

    proptest! {
        #[test]
        fn round_trips(symbol in "[A-Za-z0-9._-]{1,15}", sentiment in 0u8..=100, ts in proptest::option::of("[0-9: -]{0,19}[0-9]")) {
            let mut out = Vec::new();
            write_news(&mut out, &symbol, sentiment, ts.as_deref());
            let got = parse_news(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(got, News { symbol: &symbol, sentiment, timestamp: ts.as_deref().map(str::trim) });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_news(&bytes);
        }
    }
}
