//! The hot-path parser of market data frames; see the parent module.
use super::{event_time_bytes, MarketData};
use crate::price::{Price, PRICE_DECIMALS};

/// Powers of ten up to the price scale, for short fractions.
const POW10: [i64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

pub(super) fn parse(frame: &[u8]) -> Option<MarketData<'_>> {
    // One pass finds the comma and checks the symbol's characters.
    let mut c1 = 0;
    while c1 < frame.len() && c1 <= 15 && SYMBOL_BYTE[frame[c1] as usize] {
        c1 += 1;
    }
    if c1 == 0 || c1 > 15 || frame.get(c1) != Some(&b',') {
        return None;
    }
    // The symbol is ASCII (checked above), so this never fails.
    let symbol = std::str::from_utf8(&frame[..c1]).ok()?;
    let rest = &frame[c1 + 1..];
    let (price, used) = price(rest)?;
    if used == rest.len() {
        return Some(MarketData {
            symbol,
            price,
            event_time_ns: None,
            send_ns: None,
        });
    }
    if rest[used] != b',' {
        return None;
    }
    let rest = &rest[used + 1..];
    // A whole-second timestamp is exactly 19 bytes: look there first.
    let c3 = match rest.get(19) {
        Some(b',') => Some(19),
        None if rest.len() == 19 => None,
        _ => rest.iter().position(|&b| b == b','),
    };
    let ts = &rest[..c3.unwrap_or(rest.len())];
    // Any refusal (out of range included) goes to the general parser,
    // which explains it.
    let event_time_ns = Some(event_time_bytes(ts).ok()?);
    let send_ns = match c3 {
        None => None,
        Some(i) => Some(digits(&rest[i + 1..])?),
    };
    Some(MarketData {
        symbol,
        price,
        event_time_ns,
        send_ns,
    })
}

/// `123.45` (1–10 integer digits, 0–8 decimals, > 0) and the bytes it used.
fn price(b: &[u8]) -> Option<(Price, usize)> {
    let mut i = 0;
    let mut int: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() && i < 10 {
        int = int * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut units = int * POW10[PRICE_DECIMALS as usize];
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        let mut frac: i64 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < PRICE_DECIMALS as usize {
            frac = frac * 10 + (b[i] - b'0') as i64;
            i += 1;
        }
        if i == start {
            return None;
        }
        units += frac * POW10[PRICE_DECIMALS as usize - (i - start)];
    }
    if units == 0 || (i < b.len() && b[i] != b',') {
        return None;
    }
    Some((Price::from_units(units), i))
}

#[cfg(test)]
pub(super) fn digits_for_test(b: &[u8]) -> Option<i64> {
    digits(b)
}

/// Bytes allowed in a symbol: `A-Z a-z 0-9 . _ -`.
static SYMBOL_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-';
        i += 1;
    }
    t
};

/// 1–19 ASCII digits fitting an i64, else `None`.
///
/// SEND_NS is 19 digits today: eight at a time with SWAR arithmetic
/// (digit check and conversion on a u64 each), the rest one by one.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    // 19 digits stay below u64::MAX, so the sum cannot overflow.
    let mut v = 0u64;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        v = v * 100_000_000 + eight_digits(word)?;
    }
    for &c in chunks.remainder() {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    i64::try_from(v).ok()
}

/// Eight ASCII digits loaded little-endian (first digit in the low byte).
fn eight_digits(word: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Every byte must be 0x30..=0x39: high nibble 3, and adding 6 must not carry out.
    if word & (0xF0 * ONES) != 0x30 * ONES
        || (word.wrapping_add(6 * ONES) & (0xF0 * ONES)) != 0x30 * ONES
    {
        return None;
    }
    let mut v = word - 0x30 * ONES;
    v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF; // pairs
    v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF; // quads
    v = (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF; // all eight
    Some(v)
}
