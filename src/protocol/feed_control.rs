//! Control frames of the market data stream: where a feed resumes, where a
//! connection starts, and where a finite feed really ends.
//!
//! Without them a subscriber cannot tell a finished replay from a gateway
//! that died (both close the connection), and a restarted gateway starts its
//! source again from the beginning. Three frames fix that; each is two
//! fields, a keyword starting with `#` (a byte no symbol may hold, so a
//! control frame can never be mistaken for a tick) and a count of market
//! data frames:
//!
//! | frame | direction | meaning |
//! |---|---|---|
//! | `#RESUME,N*` | orderbook → gateway, first frame of every connection | "I have received `N` market data frames of this feed; send me frame `N` next" |
//! | `#AT,M*` | gateway → orderbook, first frame of every connection | "the next market data frame on this connection is frame `M` of the feed" |
//! | `#END,T*` | gateway → orderbook, last frame of a finite feed | "the feed is over; it had `T` frames" |
//!
//! Frames are counted from 0 in the order the gateway's source produces
//! them, malformed or unknown-symbol ones included (a count of positions,
//! not of prices published). The gateway sends `#AT` and `#END` only with
//! `gateway.send_time = true` (our own orderbook): the original Python
//! orderbook accepts nothing but three-field ticks. The original gateway
//! never reads, so `#RESUME` is harmless to it.

use super::fields::split_fields;
use super::ParseError;

/// One control frame of the market data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedControl {
    /// `#RESUME,N`: the subscriber has `N` frames and wants frame `N` next.
    Resume(u64),
    /// `#AT,M`: the next market data frame of this connection is frame `M`.
    At(u64),
    /// `#END,T`: a finite feed ended after `T` frames.
    End(u64),
    /// `#TICK,N` (news stream of a finite replay): the news frames that
    /// follow belong just before market data tick `N` (0-based), so the
    /// strategy applies them at that point of the replay, not when they
    /// happen to arrive.
    Tick(u64),
}

impl FeedControl {
    /// The keyword, `#` included.
    fn keyword(self) -> &'static str {
        match self {
            FeedControl::Resume(_) => "#RESUME",
            FeedControl::At(_) => "#AT",
            FeedControl::End(_) => "#END",
            FeedControl::Tick(_) => "#TICK",
        }
    }

    /// The frame count it carries.
    fn count(self) -> u64 {
        match self {
            FeedControl::Resume(n)
            | FeedControl::At(n)
            | FeedControl::End(n)
            | FeedControl::Tick(n) => n,
        }
    }
}

/// Whether `frame` (without its `*`) is a control frame rather than a tick:
/// it starts with `#`, after optional spaces. Cheap, for the hot path.
pub fn is_feed_control(frame: &[u8]) -> bool {
    frame
        .iter()
        .find(|&&b| b != b' ' && b != b'\t')
        .is_some_and(|&b| b == b'#')
}

/// Parses one control frame (without its `*`).
pub fn parse_feed_control(frame: &[u8]) -> Result<FeedControl, ParseError> {
    let (f, n) = split_fields(frame)?;
    if n != 2 {
        return Err(ParseError::FieldCount {
            kind: "feed control",
            expected: "2",
            got: n,
        });
    }
    let count = if !f[1].is_empty() && f[1].bytes().all(|b| b.is_ascii_digit()) {
        f[1].parse::<u64>().ok()
    } else {
        None
    }
    .ok_or_else(|| ParseError::bad("count", f[1], "is not a non-negative integer"))?;
    match f[0] {
        "#RESUME" => Ok(FeedControl::Resume(count)),
        "#AT" => Ok(FeedControl::At(count)),
        "#END" => Ok(FeedControl::End(count)),
        "#TICK" => Ok(FeedControl::Tick(count)),
        other => Err(ParseError::bad(
            "keyword",
            other,
            "is not #RESUME, #AT, #END or #TICK",
        )),
    }
}

/// Appends `c` as a whole frame, `*` included.
pub fn write_feed_control(out: &mut Vec<u8>, c: FeedControl) {
    out.extend_from_slice(c.keyword().as_bytes());
    out.push(b',');
    out.extend_from_slice(itoa::Buffer::new().format(c.count()).as_bytes());
    out.push(b'*');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_market_data;

    fn written(c: FeedControl) -> String {
        let mut out = Vec::new();
        write_feed_control(&mut out, c);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn exact_bytes_both_ways() {
        let cases = [
            (FeedControl::Resume(0), "#RESUME,0*"),
            (FeedControl::Resume(12_345), "#RESUME,12345*"),
            (FeedControl::At(7), "#AT,7*"),
            (FeedControl::End(u64::MAX), "#END,18446744073709551615*"),
            (FeedControl::Tick(50), "#TICK,50*"),
        ];
        for (c, text) in cases {
            assert_eq!(written(c), text);
            let frame = text.trim_end_matches('*').as_bytes();
            assert!(is_feed_control(frame));
            assert_eq!(parse_feed_control(frame), Ok(c));
        }
        assert_eq!(
            parse_feed_control(b" #END , 3 "),
            Ok(FeedControl::End(3)),
            "spaces around fields are ignored, as everywhere"
        );
    }

    #[test]
    fn a_control_frame_is_never_a_tick_and_a_tick_never_a_control_frame() {
        for text in ["#RESUME,1", "#AT,1", "#END,1", "#TICK,1"] {
            assert!(parse_market_data(text.as_bytes()).is_err(), "{text}");
        }
        for tick in [&b"AAPL,1.5,2024-01-02 09:30:00"[..], b"END,100", b"AT,3"] {
            assert!(!is_feed_control(tick));
        }
    }

    #[test]
    fn bad_control_frames_say_why() {
        let e = |f: &str| parse_feed_control(f.as_bytes()).unwrap_err().to_string();
        assert_eq!(e("#END"), "expected 2 fields for feed control, got 1");
        assert_eq!(e("#END,1,2"), "expected 2 fields for feed control, got 3");
        assert_eq!(e("#END,-1"), "count \"-1\" is not a non-negative integer");
        assert_eq!(e("#END,"), "count \"\" is not a non-negative integer");
        assert_eq!(
            e("#END,99999999999999999999"),
            "count \"99999999999999999999\" is not a non-negative integer"
        );
        assert_eq!(
            e("#STOP,1"),
            "keyword \"#STOP\" is not #RESUME, #AT, #END or #TICK"
        );
        assert_eq!(
            parse_feed_control(b"#END,\xff"),
            Err(ParseError::InvalidUtf8)
        );
    }
}
