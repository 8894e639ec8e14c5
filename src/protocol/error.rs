//! The error every parser returns: which field, what value, and why.

use thiserror::Error;

/// A malformed frame. The message is meant for a log line an operator reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The frame's bytes are not UTF-8.
    #[error("frame is not valid UTF-8")]
    InvalidUtf8,
    /// Too few or too many fields for the frame kind.
    #[error("expected {expected} fields for {kind}, got {got}")]
    FieldCount {
        /// Frame kind (`market data`, `news`, `order`, `reply`).
        kind: &'static str,
        /// Accepted counts, e.g. `2, 3 or 4`.
        expected: &'static str,
        /// Fields found.
        got: usize,
    },
    /// One field is present but its value is unusable.
    #[error("{field} {value:?} {problem}")]
    BadField {
        /// Field name as in protocol.md (`price`, `quantity`, …).
        field: &'static str,
        /// The offending text, as received (after trimming).
        value: String,
        /// Why it is unusable (`is not a number`, `must be greater than zero`).
        problem: &'static str,
    },
}

impl ParseError {
    /// A [`ParseError::BadField`]; allocates, but only on the error path.
    pub fn bad(field: &'static str, value: &str, problem: &'static str) -> ParseError {
        ParseError::BadField {
            field,
            value: value.to_string(),
            problem,
        }
    }
}
