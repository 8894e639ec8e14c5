//! Replies: ordermanager → strategy, `ACK,ID*` and `REJ,ID,REASON*`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fields::split_fields;
use super::order::valid_order_id;
use super::ParseError;

/// Why an order was rejected: the short upper-case code on the wire.
///
/// Serialized (in the journal) as the same code as on the wire, so a journal
/// reads like the replies it caused. A stored code this build does not know
/// (a journal written by a newer build) reads back as `BadFrame`: the order
/// was still rejected, and recovery must not fail on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// TIMESTAMP is not float seconds since the epoch.
    BadTimestamp,
    /// SIDE is not `BUY` or `SELL`.
    BadSide,
    /// QUANTITY is not a whole number greater than zero.
    BadQuantity,
    /// SYMBOL breaks the symbol rule.
    BadSymbol,
    /// PRICE is not a finite decimal greater than zero.
    BadPrice,
    /// CLIENT_ORDER_ID breaks the id rule.
    BadOrderId,
    /// The symbol is not in the configured table.
    UnknownSymbol,
    /// Over `ordermanager.max_order_quantity`.
    MaxQuantity,
    /// The fill would take the position past `ordermanager.max_position`.
    MaxPosition,
    /// The client sent more than `ordermanager.max_orders_per_sec`.
    RateLimit,
    /// The price is too far from the table's last price.
    PriceBand,
    /// Trading is halted (SIGUSR1); SIGUSR2 resumes.
    Halted,
    /// The price is outside `ordermanager.min_price`..`max_price`: a sanity
    /// range that holds with or without the shm table.
    PriceRange,
    /// Price × quantity is over `ordermanager.max_order_notional`.
    MaxNotional,
    /// The fill would take the symbol's position summed over every client
    /// past `ordermanager.max_position_global`.
    GlobalPosition,
    /// The id was already recorded for this client with another side,
    /// quantity, symbol or price: a resend must repeat the order exactly.
    IdMismatch,
    /// The id is older than the ids this client's scope still answers
    /// exactly (see `ordermanager::seen`): it was recorded and is never
    /// executed again, but its first answer is no longer kept.
    IdExpired,
    /// The connection did not authenticate (`REJ,-,AUTH_FAILED*`): a bad or
    /// missing AUTH frame. Never journaled.
    AuthFailed,
    /// Wrong field count or not UTF-8; also any stored code not known here
    /// (last only because serde's `other` fallback must be the last variant).
    #[serde(other)]
    BadFrame,
}

const ALL: [RejectReason; 19] = [
    RejectReason::BadFrame,
    RejectReason::BadTimestamp,
    RejectReason::BadSide,
    RejectReason::BadQuantity,
    RejectReason::BadSymbol,
    RejectReason::BadPrice,
    RejectReason::BadOrderId,
    RejectReason::UnknownSymbol,
    RejectReason::MaxQuantity,
    RejectReason::MaxPosition,
    RejectReason::RateLimit,
    RejectReason::PriceBand,
    RejectReason::Halted,
    RejectReason::PriceRange,
    RejectReason::MaxNotional,
    RejectReason::GlobalPosition,
    RejectReason::IdMismatch,
    RejectReason::IdExpired,
    RejectReason::AuthFailed,
];

impl RejectReason {
    /// The wire code, e.g. `BAD_QUANTITY`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::BadFrame => "BAD_FRAME",
            RejectReason::BadTimestamp => "BAD_TIMESTAMP",
            RejectReason::BadSide => "BAD_SIDE",
            RejectReason::BadQuantity => "BAD_QUANTITY",
            RejectReason::BadSymbol => "BAD_SYMBOL",
            RejectReason::BadPrice => "BAD_PRICE",
            RejectReason::BadOrderId => "BAD_ORDER_ID",
            RejectReason::UnknownSymbol => "UNKNOWN_SYMBOL",
            RejectReason::MaxQuantity => "MAX_QUANTITY",
            RejectReason::MaxPosition => "MAX_POSITION",
            RejectReason::RateLimit => "RATE_LIMIT",
            RejectReason::PriceBand => "PRICE_BAND",
            RejectReason::Halted => "HALTED",
            RejectReason::PriceRange => "PRICE_RANGE",
            RejectReason::MaxNotional => "MAX_NOTIONAL",
            RejectReason::GlobalPosition => "GLOBAL_POSITION",
            RejectReason::IdMismatch => "ID_MISMATCH",
            RejectReason::IdExpired => "ID_EXPIRED",
            RejectReason::AuthFailed => "AUTH_FAILED",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RejectReason {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        ALL.into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseError::bad("reason", s, "is not a known reject code"))
    }
}

/// One parsed reply. The reason stays text: a newer server may send codes
/// this client does not know, and the client must still see the rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The order is durably recorded (or was already).
    Ack {
        /// Which order.
        client_order_id: &'a str,
    },
    /// The order was refused and will not be executed.
    Rej {
        /// Which order.
        client_order_id: &'a str,
        /// Upper-case reason code.
        reason: &'a str,
    },
    /// `AUTH_OK`: the connection's AUTH frame was accepted.
    AuthOk,
    /// `REJ,-,AUTH_FAILED`: a refusal of the connection, not of an order
    /// (no order is ever answered AUTH_FAILED); the server then closes.
    Refused {
        /// Upper-case reason code.
        reason: &'a str,
    },
}

/// Parses one reply frame (without its `*`).
pub fn parse_reply(frame: &[u8]) -> Result<Reply<'_>, ParseError> {
    let (f, n) = split_fields(frame)?;
    let id_ok = |id: &str| {
        if valid_order_id(id) {
            Ok(())
        } else {
            Err(ParseError::bad(
                "client_order_id",
                id,
                "is not 1-32 bytes of A-Z a-z 0-9 _ -",
            ))
        }
    };
    let code_ok = |code: &str| {
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            Err(ParseError::bad("reason", code, "is not an upper-case code"))
        } else {
            Ok(())
        }
    };
    match (f[0], n) {
        ("AUTH_OK", 1) => Ok(Reply::AuthOk),
        // `-` alone is a valid order id, but no order is ever answered
        // AUTH_FAILED: the pair can only be the connection's refusal.
        ("REJ", 3) if f[1] == "-" && f[2] == "AUTH_FAILED" => Ok(Reply::Refused { reason: f[2] }),
        ("ACK", 2) => {
            id_ok(f[1])?;
            Ok(Reply::Ack {
                client_order_id: f[1],
            })
        }
        ("REJ", 3) => {
            id_ok(f[1])?;
            code_ok(f[2])?;
            Ok(Reply::Rej {
                client_order_id: f[1],
                reason: f[2],
            })
        }
        ("ACK", _) => Err(ParseError::FieldCount {
            kind: "ACK",
            expected: "2",
            got: n,
        }),
        ("AUTH_OK", _) => Err(ParseError::FieldCount {
            kind: "AUTH_OK",
            expected: "1",
            got: n,
        }),
        ("REJ", _) => Err(ParseError::FieldCount {
            kind: "REJ",
            expected: "3",
            got: n,
        }),
        (kind, _) => Err(ParseError::bad(
            "reply kind",
            kind,
            "is not ACK, REJ or AUTH_OK",
        )),
    }
}

/// Appends `ACK,ID*`.
pub fn write_ack(out: &mut Vec<u8>, client_order_id: &str) {
    out.extend_from_slice(b"ACK,");
    out.extend_from_slice(client_order_id.as_bytes());
    out.push(b'*');
}

/// Appends `REJ,ID,REASON*`.
pub fn write_rej(out: &mut Vec<u8>, client_order_id: &str, reason: RejectReason) {
    out.extend_from_slice(b"REJ,");
    out.extend_from_slice(client_order_id.as_bytes());
    out.push(b',');
    out.extend_from_slice(reason.as_str().as_bytes());
    out.push(b'*');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_bytes_and_parse() {
        let mut out = Vec::new();
        write_ack(&mut out, "a1");
        write_rej(&mut out, "a2", RejectReason::BadQuantity);
        assert_eq!(out, b"ACK,a1*REJ,a2,BAD_QUANTITY*");
        assert_eq!(
            parse_reply(b"ACK,a1"),
            Ok(Reply::Ack {
                client_order_id: "a1"
            })
        );
        assert_eq!(
            parse_reply(b"REJ,a2,BAD_QUANTITY"),
            Ok(Reply::Rej {
                client_order_id: "a2",
                reason: "BAD_QUANTITY"
            })
        );
        let e = |s: &str| parse_reply(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(e("ACK"), "expected 2 fields for ACK, got 1");
        assert_eq!(e("REJ,a"), "expected 3 fields for REJ, got 2");
        assert_eq!(e("NAK,a"), "reply kind \"NAK\" is not ACK, REJ or AUTH_OK");
        assert_eq!(parse_reply(b"AUTH_OK"), Ok(Reply::AuthOk));
        assert_eq!(
            parse_reply(b"REJ,-,AUTH_FAILED"),
            Ok(Reply::Refused {
                reason: "AUTH_FAILED"
            })
        );
        assert_eq!(e("AUTH_OK,x"), "expected 1 fields for AUTH_OK, got 2");
        assert_eq!(
            parse_reply(b"REJ,-,MAX_POSITION"),
            Ok(Reply::Rej {
                client_order_id: "-",
                reason: "MAX_POSITION"
            }),
            "an order may be called '-'"
        );
        assert_eq!(e("REJ,a,bad"), "reason \"bad\" is not an upper-case code");
        assert_eq!(
            e("ACK,a b"),
            "client_order_id \"a b\" is not 1-32 bytes of A-Z a-z 0-9 _ -"
        );
    }

    #[test]
    fn reason_codes_round_trip() {
        for r in ALL {
            assert_eq!(r.as_str().parse::<RejectReason>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert!("NOPE".parse::<RejectReason>().is_err());
    }

    #[test]
    fn serde_uses_the_wire_codes_and_reads_unknown_ones_as_bad_frame() {
        for r in ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<RejectReason>(&json).unwrap(), r);
        }
        assert_eq!(
            serde_json::from_str::<RejectReason>("\"FROM_THE_FUTURE\"").unwrap(),
            RejectReason::BadFrame
        );
    }

    proptest! {
        #[test]
        fn round_trips(id in "[A-Za-z0-9_-]{1,32}", which in 0usize..=ALL.len()) {
            let mut out = Vec::new();
            // The one pair that means the connection's refusal.
            prop_assume!(!(id == "-" && which < ALL.len() && ALL[which] == RejectReason::AuthFailed));
            let want = if which == ALL.len() {
                write_ack(&mut out, &id);
                Reply::Ack { client_order_id: &id }
            } else {
                write_rej(&mut out, &id, ALL[which]);
                Reply::Rej { client_order_id: &id, reason: ALL[which].as_str() }
            };
            prop_assert_eq!(parse_reply(&out[..out.len() - 1]), Ok(want));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_reply(&bytes);
        }
    }
}
