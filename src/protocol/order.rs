//! Orders: strategy → ordermanager, `TIMESTAMP,SIDE,QUANTITY,SYMBOL,PRICE[,CLIENT_ORDER_ID]*`.
//!
//! `TIMESTAMP` is the client's send time as float seconds (the original client
//! writes Python's `str(time.time())`, e.g. `1795571018.5577044`). An id asks
//! for an `ACK`/`REJ` reply; without one the order is still executed and
//! recorded, but nothing is ever written back (the original client never reads).

use super::fields::{digits_u64, positive_price, split_fields, validate_symbol};
use super::{ParseError, RejectReason};
use crate::price::Price;

/// Which way an order trades.
///
/// Serialized as its wire form (`"BUY"`, `"SELL"`), so the journal spells a
/// side exactly as the order frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy: increases the position.
    Buy,
    /// Sell: decreases the position.
    Sell,
}

impl Side {
    /// The wire form, upper case as the original server demands.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// Parses the wire form (exactly `BUY` or `SELL`).
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "BUY" => Some(Side::Buy),
            "SELL" => Some(Side::Sell),
            _ => None,
        }
    }

    /// +1 for a buy, -1 for a sell: the sign an order gives a position.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// One parsed order, borrowing its text fields from the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order<'a> {
    /// Client send time, float seconds since the epoch, from 0 up to (not
    /// including) [`MAX_ORDER_TIMESTAMP_S`].
    pub timestamp: f64,
    /// Buy or sell.
    pub side: Side,
    /// Shares, greater than zero.
    pub quantity: u64,
    /// Instrument (symbol rule checked; table membership is the server's check).
    pub symbol: &'a str,
    /// Limit price, greater than zero.
    pub price: Price,
    /// Present when the client wants a reply; the key of exactly-once.
    pub client_order_id: Option<&'a str>,
}

/// A malformed order: what to reply (if there is an id) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOrder<'a> {
    /// The id, when the frame had six fields and the sixth was a valid id,
    /// so the server can `REJ` it even though another field is bad — also
    /// when another field is not UTF-8 (`REJ,ID,BAD_FRAME`): the client is
    /// waiting for an answer to that id.
    pub client_order_id: Option<&'a str>,
    /// The `REJ` reason code.
    pub reason: RejectReason,
    /// The full explanation, for the log.
    pub error: ParseError,
}

/// Checks the id rule: 1–32 bytes of `A-Z a-z 0-9 _ -`.
pub fn valid_order_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Latest client send time accepted, in seconds since the epoch
/// (2200-01-01 00:00:00, as for market data event times): anything later is
/// not a clock reading, and stays far from where seconds stop fitting an
/// `i64` of nanoseconds (2262).
pub const MAX_ORDER_TIMESTAMP_S: f64 = 7_258_118_400.0;

/// The id of a frame whose bytes are not all UTF-8, if it has six fields and
/// the sixth (trimmed) is a valid id: such a frame still gets its
/// `REJ,ID,BAD_FRAME` instead of leaving the client waiting.
fn id_despite_invalid_utf8(frame: &[u8]) -> Option<&str> {
    if frame.iter().filter(|&&b| b == b',').count() != 5 {
        return None;
    }
    let last = frame.rsplit(|&b| b == b',').next()?;
    let id = std::str::from_utf8(last)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t');
    valid_order_id(id).then_some(id)
}

/// Parses one order frame (without its `*`).
pub fn parse_order(frame: &[u8]) -> Result<Order<'_>, BadOrder<'_>> {
    let bad = |id, reason, error| BadOrder {
        client_order_id: id,
        reason,
        error,
    };
    let (f, n) = split_fields(frame)
        .map_err(|e| bad(id_despite_invalid_utf8(frame), RejectReason::BadFrame, e))?;
    if !(5..=6).contains(&n) {
        let e = ParseError::FieldCount {
            kind: "order",
            expected: "5 or 6",
            got: n,
        };
        return Err(bad(None, RejectReason::BadFrame, e));
    }
    let id = if n == 6 {
        if !valid_order_id(f[5]) {
            let e = ParseError::bad(
                "client_order_id",
                f[5],
                "is not 1-32 bytes of A-Z a-z 0-9 _ -",
            );
            return Err(bad(None, RejectReason::BadOrderId, e));
        }
        Some(f[5])
    } else {
        None
    };
    let timestamp = f[0]
        .parse::<f64>()
        .ok()
        .filter(|t| (0.0..MAX_ORDER_TIMESTAMP_S).contains(t) && !f[0].starts_with(['+', '-']))
        .filter(|_| {
            f[0].bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        })
        .ok_or_else(|| {
            bad(
                id,
                RejectReason::BadTimestamp,
                ParseError::bad("timestamp", f[0], "is not seconds since the epoch"),
            )
        })?;
    let side = Side::parse(f[1]).ok_or_else(|| {
        bad(
            id,
            RejectReason::BadSide,
            ParseError::bad("side", f[1], "is not BUY or SELL"),
        )
    })?;
    let quantity = match digits_u64(f[2]) {
        Some(q) if q > 0 => q,
        Some(_) => {
            let e = ParseError::bad("quantity", f[2], "must be greater than zero");
            return Err(bad(id, RejectReason::BadQuantity, e));
        }
        None => {
            let e = ParseError::bad("quantity", f[2], "is not a whole number");
            return Err(bad(id, RejectReason::BadQuantity, e));
        }
    };
    validate_symbol(f[3]).map_err(|e| bad(id, RejectReason::BadSymbol, e))?;
    let price = positive_price("price", f[4]).map_err(|e| bad(id, RejectReason::BadPrice, e))?;
    Ok(Order {
        timestamp,
        side,
        quantity,
        symbol: f[3],
        price,
        client_order_id: id,
    })
}

/// Appends a whole order frame (timestamp in Rust's shortest round-trip form).
pub fn write_order(out: &mut Vec<u8>, order: &Order<'_>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{:?}", order.timestamp);
    out.push(b',');
    out.extend_from_slice(order.side.as_str().as_bytes());
    out.push(b',');
    out.extend_from_slice(itoa::Buffer::new().format(order.quantity).as_bytes());
    out.push(b',');
    out.extend_from_slice(order.symbol.as_bytes());
    out.push(b',');
    order.price.write_to(out);
    if let Some(id) = order.client_order_id {
        out.push(b',');
        out.extend_from_slice(id.as_bytes());
    }
    out.push(b'*');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(s: &str) -> Result<Order<'_>, (Option<&str>, RejectReason, String)> {
        parse_order(s.as_bytes()).map_err(|b| (b.client_order_id, b.reason, b.error.to_string()))
    }

    #[test]
    fn what_the_original_client_sends() {
        let o = order("1795571018.5577044,BUY,100,AAPL,186.73").unwrap();
        assert_eq!(o.timestamp, 1795571018.5577044);
        assert_eq!((o.side, o.quantity, o.symbol), (Side::Buy, 100, "AAPL"));
        assert_eq!(o.price, Price::from_units(18_673_000_000));
        assert_eq!(o.client_order_id, None);
    }

    #[test]
    fn an_id_asks_for_a_reply() {
        let o = order(" 1732512345.123456 , SELL , 5 , MSFT , 1e-05 , s1-0a-7 ").unwrap();
        assert_eq!(
            (o.side, o.quantity, o.client_order_id),
            (Side::Sell, 5, Some("s1-0a-7"))
        );
        assert_eq!(o.price, Price::from_units(1_000));
    }

    #[test]
    fn bad_orders_name_field_reason_and_keep_the_id() {
        use RejectReason::*;
        let table: &[(&str, Option<&str>, RejectReason, &str)] = &[
            (
                "1,BUY,100,AAPL",
                None,
                BadFrame,
                "expected 5 or 6 fields for order, got 4",
            ),
            (
                "1,BUY,100,AAPL,1,a,b",
                None,
                BadFrame,
                "expected 5 or 6 fields for order, got 7",
            ),
            (
                "1,BUY,100,AAPL,1,bad id",
                None,
                BadOrderId,
                "client_order_id \"bad id\" is not 1-32 bytes of A-Z a-z 0-9 _ -",
            ),
            (
                "x,BUY,100,AAPL,1,a1",
                Some("a1"),
                BadTimestamp,
                "timestamp \"x\" is not seconds since the epoch",
            ),
            (
                "-1,BUY,100,AAPL,1,a1",
                Some("a1"),
                BadTimestamp,
                "timestamp \"-1\" is not seconds since the epoch",
            ),
            (
                "inf,BUY,100,AAPL,1,a1",
                Some("a1"),
                BadTimestamp,
                "timestamp \"inf\" is not seconds since the epoch",
            ),
            (
                "1,buy,100,AAPL,1,a1",
                Some("a1"),
                BadSide,
                "side \"buy\" is not BUY or SELL",
            ),
            (
                "1,BUY,0,AAPL,1,a1",
                Some("a1"),
                BadQuantity,
                "quantity \"0\" must be greater than zero",
            ),
            (
                "1,BUY,100.0,AAPL,1,a1",
                Some("a1"),
                BadQuantity,
                "quantity \"100.0\" is not a whole number",
            ),
            (
                "1,BUY,-5,AAPL,1",
                None,
                BadQuantity,
                "quantity \"-5\" is not a whole number",
            ),
            (
                "1,BUY,99999999999999999999999,AAPL,1",
                None,
                BadQuantity,
                "quantity \"99999999999999999999999\" is not a whole number",
            ),
            (
                "1,BUY,100,,1,a1",
                Some("a1"),
                BadSymbol,
                "symbol \"\" is empty",
            ),
            (
                "1,BUY,100,AAPL,abc,a1",
                Some("a1"),
                BadPrice,
                "price \"abc\" is not a number",
            ),
            (
                "1,BUY,100,AAPL,0,a1",
                Some("a1"),
                BadPrice,
                "price \"0\" must be greater than zero",
            ),
        ];
        for (frame, id, reason, msg) in table {
            assert_eq!(
                order(frame).unwrap_err(),
                (*id, *reason, msg.to_string()),
                "{frame}"
            );
        }
        assert_eq!(order("1,BUY,1,A,1,\u{e9}").unwrap_err().1, BadOrderId);
        assert_eq!(parse_order(b"1,BUY,1,A,\xff").unwrap_err().reason, BadFrame);
    }

    #[test]
    fn a_frame_that_is_not_utf8_keeps_a_valid_id() {
        let rej = |frame: &'static [u8]| {
            let b = parse_order(frame).unwrap_err();
            assert_eq!(b.error, ParseError::InvalidUtf8, "{frame:?}");
            (b.client_order_id, b.reason)
        };
        use RejectReason::BadFrame;
        assert_eq!(rej(b"1,BUY,1,AA\xffPL,1.0,c-1"), (Some("c-1"), BadFrame));
        assert_eq!(rej(b"\xfe,BUY,1,AAPL,1.0, c_2 "), (Some("c_2"), BadFrame));
        assert_eq!(rej(b"1,BUY,1,AAPL,\xc3,c3"), (Some("c3"), BadFrame));
        // No id to answer: five fields, seven, a bad id, or the id itself bad.
        assert_eq!(rej(b"1,BUY,1,AA\xffPL,1.0"), (None, BadFrame));
        assert_eq!(rej(b"1,BUY,1,AA\xffPL,1.0,c1,x"), (None, BadFrame));
        assert_eq!(rej(b"1,BUY,1,AA\xffPL,1.0,c 1"), (None, BadFrame));
        assert_eq!(rej(b"1,BUY,1,AAPL,1.0,c\xff1"), (None, BadFrame));
        assert_eq!(rej(b"1,BUY,1,AAPL,1.0,\xe9t\xe9"), (None, BadFrame));
    }

    #[test]
    fn timestamps_past_2200_are_refused() {
        let o = order("7258118399.999,BUY,1,A,1,t1").unwrap();
        assert_eq!(o.timestamp, 7258118399.999);
        for ts in ["7258118400", "1e300", "9.3e9", "1.8e308"] {
            let frame = format!("{ts},BUY,1,A,1,t1");
            assert_eq!(
                order(&frame).unwrap_err(),
                (
                    Some("t1"),
                    RejectReason::BadTimestamp,
                    format!("timestamp \"{ts}\" is not seconds since the epoch")
                ),
            );
        }
    }

    #[test]
    fn writes_exact_bytes() {
        let mut out = Vec::new();
        let o = Order {
            timestamp: 1795571018.5577044,
            side: Side::Buy,
            quantity: 100,
            symbol: "AAPL",
            price: Price::from_units(18_673_000_000),
            client_order_id: None,
        };
        write_order(&mut out, &o);
        write_order(
            &mut out,
            &Order {
                client_order_id: Some("x-1"),
                side: Side::Sell,
                ..o
            },
        );
        assert_eq!(
            out,
            b"1795571018.5577044,BUY,100,AAPL,186.73*1795571018.5577044,SELL,100,AAPL,186.73,x-1*"
        );
    }

    #[test]
    fn serde_uses_the_wire_form() {
        for side in [Side::Buy, Side::Sell] {
            let json = serde_json::to_string(&side).unwrap();
            assert_eq!(json, format!("\"{}\"", side.as_str()));
            assert_eq!(serde_json::from_str::<Side>(&json).unwrap(), side);
        }
        assert!(serde_json::from_str::<Side>("\"buy\"").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(
            ts in 0.0f64..4e9, buy in any::<bool>(), quantity in 1u64..u64::MAX,
            symbol in "[A-Za-z0-9._-]{1,15}", units in 1i64..i64::MAX,
            id in proptest::option::of("[A-Za-z0-9_-]{1,32}"),
        ) {
            let o = Order { timestamp: ts, side: if buy { Side::Buy } else { Side::Sell }, quantity, symbol: &symbol, price: Price::from_units(units), client_order_id: id.as_deref() };
            let mut out = Vec::new();
            write_order(&mut out, &o);
            prop_assert_eq!(parse_order(&out[..out.len() - 1]), Ok(o));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_order(&bytes);
        }
    }
}
