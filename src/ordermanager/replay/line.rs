//! One journal line into one [`JournalRecord`]: a hand-written reader of the
//! exact form the journal writes, with `serde_json` as the reference.
//!
//! Recovery reads a million lines and more, and the general JSON parser
//! (with a `String` allocated for every field of every line) was most of
//! its time. [`parse_line_into`] reads the form [`OrderJournal::append`]
//! writes — the fields in declaration order, no whitespace, strings without
//! escapes — straight into a record it reuses, so a recovery allocates
//! nothing per line. Anything else (an escaped string, another field order,
//! an older or hand-edited journal, a damaged line) goes to
//! [`parse_line_general`], `serde_json` as before: it decides every line the
//! fast reader does not, so both give the same record or the same error on
//! every input (a proptest holds them equal on valid and damaged lines).
//!
//! [`OrderJournal::append`]: crate::ordermanager::journal::OrderJournal::append

use std::str::FromStr;

use crate::ordermanager::journal::{JournalRecord, Outcome};
use crate::price::Price;
use crate::protocol::{RejectReason, Side};

/// The fields of one line as the fast reader found them, borrowed from the
/// line until they are stored into a record.
#[derive(Debug)]
struct LineFields<'a> {
    /// `recv_ns`.
    recv_ns: i64,
    /// `id`.
    id: Option<&'a str>,
    /// `client`.
    client: &'a str,
    /// `client_name` (absent in the form written for unauthenticated clients).
    client_name: Option<&'a str>,
    /// `side`.
    side: Option<Side>,
    /// `quantity`.
    quantity: Option<u64>,
    /// `symbol`.
    symbol: Option<&'a str>,
    /// `price`.
    price: Option<Price>,
    /// `outcome`.
    outcome: Outcome,
    /// `reason`.
    reason: Option<RejectReason>,
    /// `raw`.
    raw: Option<&'a str>,
    /// `frames` (absent unless a summary record).
    frames: Option<u64>,
}

/// Reads `text` (one line, without its newline) into `record`, reusing the
/// record's strings; on an error `record` holds something unspecified. The
/// error text is the general parser's, whichever reader saw the line.
pub fn parse_line_into(text: &[u8], record: &mut JournalRecord) -> Result<(), String> {
    match parse_fast(text) {
        Some(fields) => {
            fields.store_in(record);
            Ok(())
        }
        None => {
            *record = parse_line_general(text)?;
            Ok(())
        }
    }
}

/// The reference reader: one UTF-8 check of the whole line, then
/// `serde_json` (any field order, escapes, older forms).
pub fn parse_line_general(text: &[u8]) -> Result<JournalRecord, String> {
    let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Whether the fast reader takes `text` on its own (tests: it must for
/// every line the journal writes without an escape).
#[cfg(test)]
pub(crate) fn fast_reader_takes(text: &[u8]) -> bool {
    parse_fast(text).is_some()
}

/// The fields of a line in exactly the journal's written form, `None` for
/// anything else (which the general reader then decides).
fn parse_fast(text: &[u8]) -> Option<LineFields<'_>> {
    // One UTF-8 check of the line (a bad line is the general reader's to
    // refuse); every field then splits it at an ASCII byte.
    let line = std::str::from_utf8(text).ok()?;
    let mut c = Cursor { text, line, at: 0 };
    c.tag(br#"{"recv_ns":"#)?;
    let recv_ns = i64::try_from(c.number()?).ok()?;
    c.tag(br#","id":"#)?;
    let id = c.string_or_null()?;
    c.tag(br#","client":"#)?;
    let client = c.string()?;
    let client_name = match c.skip(br#","client_name":"#) {
        true => Some(c.string()?),
        false => None,
    };
    c.tag(br#","side":"#)?;
    let side = match c.string_or_null()? {
        Some(s) => Some(Side::parse(s)?),
        None => None,
    };
    c.tag(br#","quantity":"#)?;
    let quantity = match c.skip(b"null") {
        true => None,
        false => Some(c.number()?),
    };
    c.tag(br#","symbol":"#)?;
    let symbol = c.string_or_null()?;
    c.tag(br#","price":"#)?;
    let price = match c.string_or_null()? {
        Some(s) => Some(Price::parse(s).ok()?),
        None => None,
    };
    c.tag(br#","outcome":"#)?;
    let outcome = match c.string()? {
        "ACCEPTED" => Outcome::Accepted,
        "REJECTED" => Outcome::Rejected,
        _ => return None,
    };
    c.tag(br#","reason":"#)?;
    // A code this build does not know reads as BAD_FRAME, as serde's
    // `other` variant reads it.
    let reason = c
        .string_or_null()?
        .map(|s| RejectReason::from_str(s).unwrap_or(RejectReason::BadFrame));
    c.tag(br#","raw":"#)?;
    let raw = c.string_or_null()?;
    let frames = match c.skip(br#","frames":"#) {
        true => Some(c.number()?),
        false => None,
    };
    c.tag(b"}")?;
    c.at_end()?;
    Some(LineFields {
        recv_ns,
        id,
        client,
        client_name,
        side,
        quantity,
        symbol,
        price,
        outcome,
        reason,
        raw,
        frames,
    })
}

impl LineFields<'_> {
    /// Copies the fields into `record`, reusing the strings it already has.
    fn store_in(&self, record: &mut JournalRecord) {
        record.recv_ns = self.recv_ns;
        store_opt(&mut record.client_order_id, self.id);
        record.client.clear();
        record.client.push_str(self.client);
        store_opt(&mut record.client_name, self.client_name);
        record.side = self.side;
        record.quantity = self.quantity;
        store_opt(&mut record.symbol, self.symbol);
        record.price = self.price;
        record.outcome = self.outcome;
        record.reason = self.reason;
        store_opt(&mut record.raw, self.raw);
        record.frames = self.frames;
    }
}

/// Sets `slot` to `value`, refilling its string rather than allocating one.
fn store_opt(slot: &mut Option<String>, value: Option<&str>) {
    match (slot.as_mut(), value) {
        (Some(kept), Some(value)) => {
            kept.clear();
            kept.push_str(value);
        }
        (_, value) => *slot = value.map(str::to_string),
    }
}

/// A position in a line being read by [`parse_fast`]; every method returns
/// `None` (or `false`) where the line leaves the written form.
struct Cursor<'a> {
    /// The whole line.
    text: &'a [u8],
    /// The same, known to be UTF-8.
    line: &'a str,
    /// Where reading continues.
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Steps over `literal` if the line continues with it.
    /// The length is a constant of each call, so the comparison compiles
    /// to a few loads instead of a call to `memcmp` (a tenth of the time).
    fn skip<const N: usize>(&mut self, literal: &[u8; N]) -> bool {
        let next = self.text.get(self.at..self.at + N);
        let found = next.and_then(|n| <&[u8; N]>::try_from(n).ok()) == Some(literal);
        if found {
            self.at += N;
        }
        found
    }

    /// Steps over `literal`, which must come next.
    fn tag<const N: usize>(&mut self, literal: &[u8; N]) -> Option<()> {
        self.skip(literal).then_some(())
    }

    /// Whether the line ends here (serde would allow trailing whitespace:
    /// that is left to it).
    fn at_end(&self) -> Option<()> {
        (self.at == self.text.len()).then_some(())
    }

    /// A JSON unsigned integer as serde reads it into a `u64`: `0` or
    /// digits without a leading zero, ending at a `,` or `}`. A sign, a
    /// fraction, an exponent or an overflow is left to the general reader.
    fn number(&mut self) -> Option<u64> {
        let digits = self.text[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.text[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        // 19 digits always fit a u64; only a 20th can overflow.
        let (head, tail) = text.split_at(digits.min(19));
        let mut n = head.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        for &d in tail {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at += digits;
        matches!(self.text.get(self.at), Some(b',' | b'}')).then_some(n)
    }

    /// A JSON string without escapes or control characters (serde refuses
    /// the latter), after its opening quote is checked here.
    fn string(&mut self) -> Option<&'a str> {
        self.tag(b"\"")?;
        let rest = &self.text[self.at..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        // Cut at ASCII quotes, so at character boundaries: `get` succeeds.
        let s = self.line.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(s)
    }

    /// `null` or a [`string`](Self::string).
    fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        match self.skip(b"null") {
            true => Some(None),
            false => self.string().map(Some),
        }
    }
}

/// A record to read lines into (its contents are overwritten by each).
pub fn blank_record() -> JournalRecord {
    JournalRecord {
        recv_ns: 0,
        client_order_id: None,
        client: String::new(),
        client_name: None,
        side: None,
        quantity: None,
        symbol: None,
        price: None,
        outcome: Outcome::Rejected,
        reason: None,
        raw: None,
        frames: None,
    }
}

#[cfg(test)]
mod tests;
