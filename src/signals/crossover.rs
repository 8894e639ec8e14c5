//! Simple moving-average crossover, exact and O(1) per tick.
//!
//! Both averages include the current tick. Once both are defined (from the
//! `long`-th tick on), the sign of (short − long) is compared with the sign
//! at the previous tick; a change is a crossover: up → BUY, down → SELL. A
//! difference of exactly zero keeps the previous sign, and the first defined
//! sign is never a signal (the original fired a BUY on its first evaluation
//! and averaged without the current tick: both defects).
//!
//! Exactness: prices are integers of 1e-8, the running sums are integers, and
//! the sign of `sum_s/ns − sum_l/nl` is taken as the sign of
//! `sum_s·nl − sum_l·ns` in i128. Ties are common on decimal prices (about
//! one tick in a thousand on a two-decimal walk with windows 2 and 5) and a
//! floating-point running sum would turn each into a random sign and a false
//! order.

use std::cmp::Ordering;

use super::{OrderIntent, SignalError, Strategy, TickEvent};
use crate::protocol::Side;
use crate::symbol::SymbolIndex;

/// Longest window a detector accepts: its ring holds this many prices.
pub const MAX_WINDOW: usize = 1_000_000;

/// One symbol's crossover detector.
#[derive(Debug, Clone)]
pub struct Crossover {
    /// Ticks in the short average.
    short: usize,
    /// Ticks in the long average (also the ring's size).
    long: usize,
    /// The last `long` prices; `ring[(seen - 1) % long]` is the newest.
    ring: Vec<i64>,
    /// `seen % long`: the slot the next price goes to (and the price
    /// leaving the long window comes from). Kept, not divided for: a
    /// division per tick was most of a tick's cost.
    next: usize,
    /// `(seen - short) % long` once `seen >= short`: the slot of the price
    /// leaving the short window.
    back: usize,
    /// Ticks seen so far (saturates far beyond any window).
    seen: u64,
    /// Sum of the last `min(seen, short)` prices.
    sum_short: i128,
    /// Sum of the last `min(seen, long)` prices.
    sum_long: i128,
    /// Sign of (short − long) at the last defined, non-zero comparison.
    last: Option<Ordering>,
}

impl Crossover {
    /// A detector with windows `short < long`.
    pub fn new(short: usize, long: usize) -> Result<Crossover, SignalError> {
        if short == 0 || short >= long {
            return Err(SignalError::Windows { short, long });
        }
        if long > MAX_WINDOW {
            return Err(SignalError::WindowTooLong(long));
        }
        Ok(Crossover {
            short,
            long,
            ring: vec![0; long],
            next: 0,
            back: 0,
            seen: 0,
            sum_short: 0,
            sum_long: 0,
            last: None,
        })
    }

    /// Feeds one price; returns the side of a crossover at this tick.
    #[inline]
    pub fn update(&mut self, price_units: i64) -> Option<Side> {
        let long = self.long as u64;
        let wrap = |i: usize| if i + 1 == self.long { 0 } else { i + 1 };
        // The price leaving the short window is `short` ticks back; read it
        // before the new price may overwrite the slot it shares with the
        // price leaving the long window.
        if self.seen >= self.short as u64 {
            self.sum_short -= self.ring[self.back] as i128;
            self.back = wrap(self.back);
        }
        if self.seen >= long {
            self.sum_long -= self.ring[self.next] as i128;
        }
        self.ring[self.next] = price_units;
        self.next = wrap(self.next);
        self.sum_short += price_units as i128;
        self.sum_long += price_units as i128;
        self.seen += 1;
        if self.seen < long {
            return None;
        }
        let lhs = self.sum_short * self.long as i128;
        let rhs = self.sum_long * self.short as i128;
        let now = lhs.cmp(&rhs);
        if now == Ordering::Equal {
            return None; // a tie keeps the previous sign
        }
        let previous = self.last.replace(now);
        match (previous, now) {
            (Some(Ordering::Less), Ordering::Greater) => Some(Side::Buy),
            (Some(Ordering::Greater), Ordering::Less) => Some(Side::Sell),
            _ => None,
        }
    }

    /// The short average, once a tick was seen (for logs only).
    pub fn short_avg(&self) -> Option<f64> {
        let n = (self.seen.min(self.short as u64)) as f64;
        (self.seen > 0).then(|| self.sum_short as f64 / n / crate::price::PRICE_SCALE as f64)
    }

    /// The long average, once a tick was seen (for logs only).
    pub fn long_avg(&self) -> Option<f64> {
        let n = (self.seen.min(self.long as u64)) as f64;
        (self.seen > 0).then(|| self.sum_long as f64 / n / crate::price::PRICE_SCALE as f64)
    }
}

/// The crossover strategy on its own: one detector per symbol, every
/// crossover an order at once (what `use_news = false` trades).
#[derive(Debug, Clone)]
pub struct SmaCrossovers {
    /// One detector per symbol index.
    detectors: Vec<Crossover>,
}

impl SmaCrossovers {
    /// Detectors with windows `short < long` for symbols `0..symbols`.
    pub fn new(symbols: usize, short: usize, long: usize) -> Result<SmaCrossovers, SignalError> {
        let proto = Crossover::new(short, long)?;
        Ok(SmaCrossovers {
            detectors: vec![proto; symbols],
        })
    }

    /// The side of a crossover of `symbol` at this price, if any.
    #[inline]
    pub fn update(&mut self, symbol: SymbolIndex, price_units: i64) -> Option<Side> {
        self.detectors.get_mut(symbol.get())?.update(price_units)
    }

    /// The detector of `symbol`, for logging its averages.
    pub fn detector(&self, symbol: SymbolIndex) -> Option<&Crossover> {
        self.detectors.get(symbol.get())
    }

    /// How many symbols it was sized for.
    pub fn symbols(&self) -> usize {
        self.detectors.len()
    }
}

impl Strategy for SmaCrossovers {
    #[inline]
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        let side = self.update(tick.symbol, tick.price_units)?;
        Some(OrderIntent::on_tick(tick, side))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Strategy as _;
    use proptest::prelude::*;
    use proptest::strategy::Strategy;
    use Side::{Buy, Sell};

    fn run(short: usize, long: usize, prices: &[i64]) -> Vec<Option<Side>> {
        let mut c = Crossover::new(short, long).unwrap();
        prices.iter().map(|&p| c.update(p)).collect()
    }

    #[test]
    fn averages_include_the_current_tick() {
        let mut c = Crossover::new(2, 3).unwrap();
        c.update(100_000_000);
        c.update(200_000_000);
        c.update(600_000_000);
        // short = (2 + 6) / 2 = 4, long = (1 + 2 + 6) / 3 = 3
        assert_eq!(c.short_avg(), Some(4.0));
        assert_eq!(c.long_avg(), Some(3.0));
    }

    #[test]
    fn no_signal_before_or_at_the_first_defined_comparison() {
        // windows 2/3: tick 3 is the first defined comparison.
        // tick 3: short (1+9)/2 = 5 > long (5+1+9)/3 = 5? 15/3 = 5: tie → still undefined.
        // tick 4: prices 1,9,1: short 5 > long 11/3 = 3.67 → up, but first sign: no signal.
        assert_eq!(run(2, 3, &[5, 1, 9, 1]), [None, None, None, None]);
        // Rising from the start: first defined sign is up, never a BUY (the original's defect).
        assert_eq!(run(2, 3, &[1, 2, 3, 4, 5]), [None; 5]);
    }

    #[test]
    fn crossings_fire_on_the_exact_tick() {
        // windows 2/3
        // t3: 3,2,1 → short 1.5 < long 2: down (first sign, no signal)
        // t4: 2,1,4 → short 2.5 > long 2.33: up → BUY
        // t5: 1,4,4 → short 4 > long 3: up
        // t6: 4,4,1 → short 2.5 < long 3: down → SELL
        assert_eq!(
            run(2, 3, &[3, 2, 1, 4, 4, 1]),
            [None, None, None, Some(Buy), None, Some(Sell)]
        );
    }

    #[test]
    fn a_tie_keeps_the_previous_sign() {
        // windows 2/4
        // t4: 4,3,2,1 → short 1.5 < long 2.5: down (first sign)
        // t5: 3,2,1,2 → s: 1.5 < l: 2: down
        // t6: 2,1,2,3 → s: 2.5 > l: 2: up → BUY
        // t7: 1,2,3,2 → s: 2.5 > l: 2: up
        // t8: 2,3,2,1 → s: 1.5 < l: 2: down → SELL
        // t9: 3,2,1,2 → s 1.5 < l 2: down
        // t10: 2,1,2,3 → s 2.5 > l 2: BUY; t11: 1,2,3,2 → up
        // t12: 2,3,2,3 → s 2.5 = l 2.5: tie keeps up (no signal)
        // t13: 3,2,3,3 → s 3 > l 2.75 : up again: no signal (sign resumed the same way)
        // t14: 2,3,3,2 → s 2.5 = l 2.5: tie; t15: 3,3,2,1 → s 1.5 < l 2.25: SELL
        let prices = [4, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 3, 3, 2, 1];
        let want = [
            None,
            None,
            None,
            None,
            None,
            Some(Buy),
            None,
            Some(Sell),
            None,
            Some(Buy),
            None,
            None,
            None,
            None,
            Some(Sell),
        ];
        assert_eq!(run(2, 4, &prices), want);
    }

    #[test]
    fn a_tie_at_the_first_comparison_leaves_the_sign_undefined() {
        // windows 2/3: t3 3,3,3 tie; t4 3,3,4: s 3.5 > l 3.33: first sign (up): no signal;
        // t5 3,4,1: s 2.5 < l 2.67: SELL.
        assert_eq!(
            run(2, 3, &[3, 3, 3, 4, 1]),
            [None, None, None, None, Some(Sell)]
        );
    }

    #[test]
    fn exact_ties_that_floating_point_gets_wrong() {
        // A two-decimal walk, windows 2 and 5: at the fifth tick
        // short = (99.96 + 99.96) / 2 = 99.96 and long = 499.80 / 5 = 99.96: a tie.
        let prices = [99.98, 99.96, 99.94, 99.96, 99.96];
        let mut c = Crossover::new(2, 5).unwrap();
        for p in prices {
            let units = crate::price::Price::parse(&p.to_string()).unwrap().units();
            assert_eq!(c.update(units), None);
        }
        assert_eq!(c.last, None, "an exact tie defines no sign");
        // Float running sums (add the new price, drop the old one) see a difference.
        let (mut short, mut long) = (0.0f64, 0.0f64);
        for (i, p) in prices.iter().enumerate() {
            short += p;
            long += p;
            if i >= 2 {
                short -= prices[i - 2];
            }
        }
        assert!(
            short / 2.0 - long / 5.0 != 0.0,
            "float arithmetic turns the tie into a sign"
        );
    }

    #[test]
    fn windows_are_validated() {
        assert!(Crossover::new(0, 5).is_err());
        assert!(Crossover::new(5, 5).is_err());
        assert!(Crossover::new(6, 5).is_err());
        assert!(Crossover::new(1, MAX_WINDOW + 1).is_err());
    }

    /// The definition, recomputed from scratch at every tick.
    fn naive(short: usize, long: usize, prices: &[i64]) -> Vec<Option<Side>> {
        let mut last = None;
        (0..prices.len())
            .map(|i| {
                if i + 1 < long {
                    return None;
                }
                let s: i128 = prices[i + 1 - short..=i].iter().map(|&p| p as i128).sum();
                let l: i128 = prices[i + 1 - long..=i].iter().map(|&p| p as i128).sum();
                let now = (s * long as i128).cmp(&(l * short as i128));
                if now == Ordering::Equal {
                    return None;
                }
                match (last.replace(now), now) {
                    (Some(Ordering::Less), Ordering::Greater) => Some(Buy),
                    (Some(Ordering::Greater), Ordering::Less) => Some(Sell),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn the_strategy_trades_every_crossover_per_symbol() {
        let mut s = SmaCrossovers::new(2, 2, 3).unwrap();
        let tick = |symbol: u32, price_units: i64, tag: u64| TickEvent {
            symbol: SymbolIndex(symbol),
            price_units,
            event_ns: 0,
            tag,
        };
        // Symbol 0 as in crossings_fire_on_the_exact_tick, symbol 1 interleaved flat.
        let mut out = Vec::new();
        for (tag, p) in [3, 2, 1, 4, 4, 1].into_iter().enumerate() {
            out.extend(s.on_tick(&tick(0, p, tag as u64 * 2)));
            out.extend(s.on_tick(&tick(1, 5, tag as u64 * 2 + 1)));
        }
        let intent = |side, tag| OrderIntent {
            symbol: SymbolIndex(0),
            side,
            tag,
        };
        assert_eq!(out, [intent(Buy, 6), intent(Sell, 10)]);
        assert_eq!(s.on_tick(&tick(9, 1, 99)), None, "unknown symbol");
    }

    proptest! {
        #[test]
        fn matches_the_naive_definition(
            (short, long) in (1usize..6).prop_flat_map(|s| (Just(s), s + 1..9)),
            prices in proptest::collection::vec(prop_oneof![Just(100i64), Just(101), Just(102), Just(103)], 0..200),
        ) {
            prop_assert_eq!(run(short, long, &prices), naive(short, long, &prices));
        }
    }
}
