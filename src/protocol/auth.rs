//! Order-client authentication: the first frame of an order connection.
//!
//! ```text
//! client → ordermanager   AUTH,CLIENT_NAME,TOKEN*      e.g. AUTH,strat1,9f2c…e1*
//! ordermanager → client   AUTH_OK*                      accepted: orders follow
//!                         REJ,-,AUTH_FAILED*            refused: the server closes
//! ```
//!
//! Why: without it any local user can trade and reuse another client's
//! order ids. The token is a shared secret (from the configuration or the
//! environment; `--all` makes one per run); the name scopes the client's
//! order ids, positions and rate limit, so one client can neither hijack
//! another's id nor use up its limits.
//!
//! * `CLIENT_NAME`: 1–32 bytes of `A-Z a-z 0-9 _ -` (the id rule).
//! * `TOKEN`: 1–256 bytes of printable ASCII other than `,`, `*` and space.
//!
//! The refusal reads `REJ,-,AUTH_FAILED`: no order is ever answered
//! `AUTH_FAILED`, so a client never mistakes it for the answer to one of its
//! orders, even one whose id is `-`.

use super::fields::split_fields;
use super::order::valid_order_id;
use super::ParseError;

/// The reply that accepts an AUTH frame, without its `*`.
pub const AUTH_OK: &[u8] = b"AUTH_OK";

/// The whole refusal frame: the connection closes after it.
pub const AUTH_FAILED_FRAME: &[u8] = b"REJ,-,AUTH_FAILED*";

/// Longest token accepted.
pub const MAX_TOKEN: usize = 256;

/// A parsed AUTH frame, borrowing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Who the client says it is: the scope of its ids and limits.
    pub client_name: &'a str,
    /// The shared secret it presents.
    pub token: &'a str,
}

/// Whether `frame` is an AUTH frame (well formed or not): its first field
/// is exactly `AUTH`. Cheap, so the server can route a frame before parsing.
pub fn is_auth_frame(frame: &[u8]) -> bool {
    let trimmed = frame
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(&frame[..0], |i| &frame[i..]);
    trimmed.starts_with(b"AUTH") && matches!(trimmed.get(4), None | Some(b',' | b' ' | b'\t'))
}

/// Checks the token rule: 1–[`MAX_TOKEN`] bytes of printable ASCII other
/// than `,`, `*` and space (so it fits in one field of one frame).
pub fn valid_token(token: &str) -> bool {
    (1..=MAX_TOKEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != b'*')
}

/// Parses one AUTH frame (without its `*`).
pub fn parse_auth(frame: &[u8]) -> Result<Auth<'_>, ParseError> {
    let (f, n) = split_fields(frame)?;
    if f[0] != "AUTH" {
        return Err(ParseError::bad("frame kind", f[0], "is not AUTH"));
    }
    if n != 3 {
        return Err(ParseError::FieldCount {
            kind: "AUTH",
            expected: "3",
            got: n,
        });
    }
    if !valid_order_id(f[1]) {
        return Err(ParseError::bad(
            "client_name",
            f[1],
            "is not 1-32 bytes of A-Z a-z 0-9 _ -",
        ));
    }
    if !valid_token(f[2]) {
        // The value is a secret, even a wrong one: never echo it to a log.
        return Err(ParseError::bad(
            "token",
            "<hidden>",
            "is not 1-256 bytes of printable ASCII without , or *",
        ));
    }
    Ok(Auth {
        client_name: f[1],
        token: f[2],
    })
}

/// Appends `AUTH,NAME,TOKEN*`.
pub fn write_auth(out: &mut Vec<u8>, client_name: &str, token: &str) {
    out.extend_from_slice(b"AUTH,");
    out.extend_from_slice(client_name.as_bytes());
    out.push(b',');
    out.extend_from_slice(token.as_bytes());
    out.push(b'*');
}

/// Appends `AUTH_OK*`.
pub fn write_auth_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(AUTH_OK);
    out.push(b'*');
}

/// Compares a presented token with the expected one in time that depends
/// only on their lengths' maximum, not on where they first differ: a
/// client timing its refusals learns nothing about the token's bytes. An
/// empty expected token matches nothing.
pub fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let len = presented.len().max(expected.len());
    let mut diff = (presented.len() != expected.len()) as u8 | expected.is_empty() as u8;
    for i in 0..len {
        let a = presented.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= a ^ b;
    }
    // Keep the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let mut out = Vec::new();
        write_auth(&mut out, "strat1", "s3cr3t-T0ken");
        write_auth_ok(&mut out);
        assert_eq!(out, b"AUTH,strat1,s3cr3t-T0ken*AUTH_OK*");
        assert_eq!(AUTH_FAILED_FRAME, b"REJ,-,AUTH_FAILED*");
    }

    #[test]
    fn parses_and_names_what_is_wrong() {
        assert_eq!(
            parse_auth(b" AUTH , strat1 , abc "),
            Ok(Auth {
                client_name: "strat1",
                token: "abc"
            })
        );
        let e = |s: &[u8]| parse_auth(s).unwrap_err().to_string();
        assert_eq!(e(b"AUTH,strat1"), "expected 3 fields for AUTH, got 2");
        assert_eq!(e(b"AUTH,a,b,c"), "expected 3 fields for AUTH, got 4");
        assert_eq!(
            e(b"AUTH,bad name,t"),
            "client_name \"bad name\" is not 1-32 bytes of A-Z a-z 0-9 _ -"
        );
        assert_eq!(
            e(b"AUTH,a,"),
            "token \"<hidden>\" is not 1-256 bytes of printable ASCII without , or *"
        );
        assert_eq!(e(b"AUTHX,a,b"), "frame kind \"AUTHX\" is not AUTH");
        assert_eq!(e(b"AUTH,a,\xff"), "frame is not valid UTF-8");
        let long = format!("AUTH,a,{}", "t".repeat(MAX_TOKEN + 1));
        assert!(parse_auth(long.as_bytes()).is_err());
    }

    #[test]
    fn an_auth_frame_is_recognised_before_parsing() {
        for yes in [&b"AUTH,a,b"[..], b"AUTH", b"  AUTH ,x", b"AUTH,\xff"] {
            assert!(is_auth_frame(yes), "{yes:?}");
        }
        for no in [&b"AUTHOR,a,b"[..], b"1,BUY,1,AAPL,1", b"", b"AUT"] {
            assert!(!is_auth_frame(no), "{no:?}");
        }
    }

    #[test]
    fn tokens_match_only_when_equal_and_never_when_empty() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abd", b"abc"));
        assert!(!token_matches(b"ab", b"abc"));
        assert!(!token_matches(b"abcd", b"abc"));
        assert!(!token_matches(b"", b""), "no token configured: nobody");
        assert!(!token_matches(b"x", b""));
    }
}
