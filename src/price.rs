//! Fixed-point prices.
//!
//! Every price in the system is an integer count of 1e-8 units. Market prices
//! are decimals with a few places, and moving averages over them are compared
//! for equality often (an exact tie is common on a two-decimal walk): integer
//! sums make those comparisons exact, where floating-point running sums would
//! turn a tie into a random sign and a false order.
//!
//! Parsing and formatting are hand-written: parsing a market data frame is the
//! hot path, so neither may allocate.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Number of price units in 1.0: prices are integers of 1e-8.
pub const PRICE_SCALE: i64 = 100_000_000;

/// Decimal places a unit represents (`PRICE_SCALE == 10^PRICE_DECIMALS`).
pub const PRICE_DECIMALS: u32 = 8;

/// A price as an integer count of 1e-8 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(pub i64);

/// Why a text is not a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PriceError {
    /// Not a decimal number (letters, empty, two dots, `inf`, `nan`, …).
    #[error("is not a number")]
    NotANumber,
    /// A number, but too large for the fixed-point range (±92 billion).
    #[error("is out of range")]
    OutOfRange,
}

impl Price {
    /// A price from raw 1e-8 units.
    pub const fn from_units(units: i64) -> Price {
        Price(units)
    }

    /// The raw 1e-8 units.
    pub const fn units(self) -> i64 {
        self.0
    }

    /// The nearest `f64`, for display and statistics only (never for decisions).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / PRICE_SCALE as f64
    }

    /// Parses a decimal such as `186.73`, `-1.5`, `100.0`, `1e-05` or `1.5E+3`.
    ///
    /// Digits past the eighth decimal place are rounded half away from zero.
    pub fn parse(s: &str) -> Result<Price, PriceError> {
        let b = s.as_bytes();
        let mut i = 0;
        let negative = match b.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        // Significant digits as an integer mantissa and a decimal exponent.
        // 36 digits fit a u128 with room; digits past them are far below a
        // unit for any price in range, so they are dropped.
        let mut mantissa: u128 = 0;
        let mut exp10: i32 = 0;
        let mut digits = 0usize;
        let mut push_digit = |d: u8, after_point: bool, exp10: &mut i32| {
            if mantissa < MANTISSA_LIMIT {
                mantissa = mantissa * 10 + d as u128;
                if after_point {
                    *exp10 -= 1;
                }
            } else if !after_point {
                *exp10 += 1;
            }
        };
        while i < b.len() && b[i].is_ascii_digit() {
            push_digit(b[i] - b'0', false, &mut exp10);
            digits += 1;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                push_digit(b[i] - b'0', true, &mut exp10);
                digits += 1;
                i += 1;
            }
        }
        if digits == 0 {
            return Err(PriceError::NotANumber);
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let exp_negative = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            let mut e: i32 = 0;
            while i < b.len() && b[i].is_ascii_digit() {
                e = e.saturating_mul(10).saturating_add((b[i] - b'0') as i32);
                i += 1;
            }
            if i == start {
                return Err(PriceError::NotANumber);
            }
            exp10 = exp10.saturating_add(if exp_negative { -e } else { e });
        }
        if i != b.len() {
            return Err(PriceError::NotANumber);
        }
        let units = scale(mantissa, exp10.saturating_add(PRICE_DECIMALS as i32))?;
        Ok(Price(if negative { -units } else { units }))
    }

    /// Appends the shortest exact decimal form (`186.73`, `100`, `0.00001`), never an exponent.
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut buf = itoa::Buffer::new();
        if self.0 < 0 {
            out.push(b'-');
        }
        let abs = self.0.unsigned_abs();
        let scale = PRICE_SCALE as u64;
        out.extend_from_slice(buf.format(abs / scale).as_bytes());
        let mut frac = abs % scale;
        if frac != 0 {
            let mut width = PRICE_DECIMALS as usize;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            out.push(b'.');
            let s = buf.format(frac);
            out.extend(std::iter::repeat_n(b'0', width - s.len()));
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Mantissas stop growing here (10^36), far below u128's limit.
const MANTISSA_LIMIT: u128 = 10u128.pow(36);

/// `mantissa * 10^exp10` as i64 units, rounding half away from zero.
fn scale(mantissa: u128, exp10: i32) -> Result<i64, PriceError> {
    let v = if exp10 >= 0 {
        let factor = 10u128
            .checked_pow(exp10 as u32)
            .ok_or(PriceError::OutOfRange)?;
        mantissa.checked_mul(factor).ok_or(PriceError::OutOfRange)?
    } else if exp10 < -38 {
        0 // below half a unit: the mantissa is under 10^37
    } else {
        let div = 10u128.pow((-exp10) as u32);
        let (q, r) = (mantissa / div, mantissa % div);
        q + (r * 2 >= div) as u128
    };
    i64::try_from(v).map_err(|_| PriceError::OutOfRange)
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(24);
        self.write_to(&mut out);
        // write_to emits ASCII only.
        f.write_str(std::str::from_utf8(&out).unwrap_or("?"))
    }
}

/// Serialized as its exact decimal text (`"186.73"`), never as a float, so a
/// journal round-trips every price exactly.
impl serde::Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Price {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Price, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Price::parse(&text).map_err(|e| serde::de::Error::custom(format!("price {text:?} {e}")))
    }
}

impl FromStr for Price {
    type Err = PriceError;
    fn from_str(s: &str) -> Result<Price, PriceError> {
        Price::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<i64, PriceError> {
        Price::parse(s).map(Price::units)
    }

    #[test]
    fn parses_what_the_original_programs_send() {
        assert_eq!(p("186.73"), Ok(18_673_000_000));
        assert_eq!(p("186.7"), Ok(18_670_000_000));
        assert_eq!(p("100.0"), Ok(10_000_000_000));
        assert_eq!(p("1e-05"), Ok(1_000));
        assert_eq!(p("1e2"), Ok(10_000_000_000));
        assert_eq!(p("1.5E+3"), Ok(150_000_000_000));
        assert_eq!(p(".5"), Ok(50_000_000));
        assert_eq!(p("5."), Ok(500_000_000));
        assert_eq!(p("-2.25"), Ok(-225_000_000));
        assert_eq!(p("+3"), Ok(300_000_000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("0.000000000000000000000000000000000000000000001"), Ok(0));
    }

    #[test]
    fn rounds_past_eight_places_half_away_from_zero() {
        assert_eq!(p("0.123456785"), Ok(12_345_679));
        assert_eq!(p("0.123456784999"), Ok(12_345_678));
        assert_eq!(p("-0.000000005"), Ok(-1));
        assert_eq!(p("186.73000000000002"), Ok(18_673_000_000));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for bad in [
            "", "abc", "1.2.3", "nan", "inf", "-", ".", "e5", "1e", "1e+", "1,5", " 1", "0x10",
        ] {
            assert_eq!(p(bad), Err(PriceError::NotANumber), "{bad:?}");
        }
        assert_eq!(p("1e300"), Err(PriceError::OutOfRange));
        assert_eq!(p("92233720369"), Err(PriceError::OutOfRange));
        assert_eq!(p("1e99999999999"), Err(PriceError::OutOfRange));
    }

    #[test]
    fn formats_the_shortest_exact_decimal() {
        let f = |u: i64| Price(u).to_string();
        assert_eq!(f(18_673_000_000), "186.73");
        assert_eq!(f(10_000_000_000), "100");
        assert_eq!(f(1_000), "0.00001");
        assert_eq!(f(1), "0.00000001");
        assert_eq!(f(-225_000_000), "-2.25");
        assert_eq!(f(0), "0");
        assert_eq!(f(i64::MIN), "-92233720368.54775808");
    }

    #[test]
    fn serde_uses_exact_decimal_text() {
        let p = Price::from_units(18_673_000_000);
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"186.73\"");
        assert_eq!(serde_json::from_str::<Price>("\"186.73\"").unwrap(), p);
        assert!(serde_json::from_str::<Price>("\"x\"").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(units in any::<i64>()) {
            let text = Price(units).to_string();
            prop_assert_eq!(Price::parse(&text), Ok(Price(units)));
        }

        #[test]
        fn parse_agrees_with_f64_for_short_decimals(int in 0u64..1_000_000, frac in 0u32..100) {
            let text = format!("{int}.{frac:02}");
            let expected = (int as i64) * PRICE_SCALE + frac as i64 * 1_000_000;
            prop_assert_eq!(Price::parse(&text), Ok(Price(expected)));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = Price::parse(&s);
        }
    }
}
