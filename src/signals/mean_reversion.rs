//! [`MeanReversion`]: trade against stretches away from a rolling mean.
//!
//! Per symbol, over the last `window` prices (the current one included):
//! z = (price − mean) / standard deviation (population). Flat, it goes long
//! (BUY) when z < −`entry_z` and short (SELL) when z > `entry_z`; long, it
//! exits (SELL) once z ≥ −`exit_z`; short, it exits (BUY) once z ≤ `exit_z`.
//! One order per tick at most, each of the configured quantity, so a
//! position is always −1, 0 or +1 lots.
//!
//! Exactness: z is never computed. With N = window, S = Σp and Q = Σp²
//! (integers of 1e-8, shifted by the symbol's first price, which changes
//! neither deviation nor variance), `|z| > k` is
//! `10⁴·(N·p − S)² > K²·(N·Q − S²)` with K = 100·k, compared in i128. The
//! thresholds therefore have two decimals (`entry_z = 2.0` or `1.75`). The
//! products fit in i128 whenever the prices in a window lie within about
//! 100,000 of the first price and the window is at most [`MAX_WINDOW`];
//! beyond that the comparison falls back to f64 (relative error ~1e-16,
//! so only a z within that of a threshold could be judged differently).
//! A window of equal prices has z = 0 (the deviation is 0 too).

use serde::Deserialize;

use super::{OrderIntent, Strategy, TickEvent};
use crate::protocol::Side;

/// Longest window accepted: keeps the exact comparison in range.
pub const MAX_WINDOW: usize = 1_000;

/// `[strategies.mean_reversion]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanReversionParams {
    /// Prices in the rolling mean and deviation, current one included.
    pub window: usize,
    /// |z| strictly above this opens a position against the move.
    pub entry_z: f64,
    /// |z| back at or below this (on the position's side) closes it.
    pub exit_z: f64,
}

/// Why the parameters cannot make a working strategy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeanReversionError {
    /// The window is too short for a deviation or too long for exactness.
    #[error("window ({0}) must be from 3 to {MAX_WINDOW}")]
    Window(usize),
    /// A threshold is not a non-negative number with at most two decimals.
    #[error("{key} ({value}) must be between 0 and 100 with at most two decimals")]
    Threshold {
        /// `entry_z` or `exit_z`.
        key: &'static str,
        /// As given.
        value: f64,
    },
    /// Exit must lie inside entry, or a position would close as it opens.
    #[error("exit_z ({exit}) must be less than entry_z ({entry})")]
    Order {
        /// `entry_z` as given.
        entry: f64,
        /// `exit_z` as given.
        exit: f64,
    },
    /// The newest of N prices can be at most √(N−1) deviations from their
    /// mean: a larger `entry_z` would never trade.
    #[error(
        "entry_z ({entry}) can never be reached with window {window}: |z| is at most √(window−1)"
    )]
    Unreachable {
        /// `entry_z` as given.
        entry: f64,
        /// `window` as given.
        window: usize,
    },
}

/// A threshold in hundredths, if it has at most two decimals.
fn hundredths(key: &'static str, value: f64) -> Result<i128, MeanReversionError> {
    let h = (value * 100.0).round();
    if !(0.0..=10_000.0).contains(&h) || (value * 100.0 - h).abs() > 1e-6 {
        return Err(MeanReversionError::Threshold { key, value });
    }
    Ok(h as i128)
}

/// Where a symbol stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Holding {
    /// No position.
    #[default]
    Flat,
    /// Bought on a low z.
    Long,
    /// Sold on a high z.
    Short,
}

/// One symbol's rolling window.
#[derive(Debug, Clone, Default)]
struct Window {
    /// The symbol's first price: every price is kept relative to it.
    origin: Option<i64>,
    /// The last `window` shifted prices; `ring[(seen - 1) % window]` is the newest.
    ring: Vec<i64>,
    /// Prices seen (the ring is full from `window` on).
    seen: u64,
    /// Σ shifted prices in the window.
    sum: i128,
    /// Σ shifted prices² in the window (wrapping: exact while `big` is 0).
    sum_sq: i128,
    /// Prices in the window at least [`BIG`] from the origin.
    big: u32,
    /// The position this strategy holds.
    holding: Holding,
}

/// The mean-reversion strategy for every symbol of a table.
#[derive(Debug, Clone)]
pub struct MeanReversion {
    /// Indexed by symbol.
    windows: Vec<Window>,
    /// N.
    window: usize,
    /// 100 × entry_z.
    entry: i128,
    /// 100 × exit_z.
    exit: i128,
}

impl MeanReversion {
    /// A strategy for symbols `0..symbols`.
    pub fn new(
        symbols: usize,
        p: &MeanReversionParams,
    ) -> Result<MeanReversion, MeanReversionError> {
        if !(3..=MAX_WINDOW).contains(&p.window) {
            return Err(MeanReversionError::Window(p.window));
        }
        let entry = hundredths("entry_z", p.entry_z)?;
        let exit = hundredths("exit_z", p.exit_z)?;
        if exit >= entry {
            return Err(MeanReversionError::Order {
                entry: p.entry_z,
                exit: p.exit_z,
            });
        }
        if entry * entry >= (p.window as i128 - 1) * 10_000 {
            return Err(MeanReversionError::Unreachable {
                entry: p.entry_z,
                window: p.window,
            });
        }
        let proto = Window {
            ring: vec![0; p.window],
            ..Window::default()
        };
        Ok(MeanReversion {
            windows: vec![proto; symbols],
            window: p.window,
            entry,
            exit,
        })
    }
}

/// Shifted prices at least this far from the origin are "big": while one is
/// in a window, its sum of squares may not fit i128 and z is taken in f64.
const BIG: i64 = 1 << 58;

/// How far the newest price stands from its window's mean.
enum Spread {
    /// N·(p − mean) and N²·variance, exact.
    Exact {
        /// N·p − S.
        dev: i128,
        /// N·Q − S².
        var_n: i128,
    },
    /// The same in f64, for windows beyond the exact range.
    Float {
        /// p − mean.
        dev: f64,
        /// The variance.
        var: f64,
    },
}

impl Spread {
    /// Below (−1), at (0) or above (+1) the mean.
    fn sign(&self) -> i32 {
        match *self {
            Spread::Exact { dev, .. } => dev.signum() as i32,
            Spread::Float { dev, .. } => (dev > 0.0) as i32 - (dev < 0.0) as i32,
        }
    }

    /// Whether |z| > k/100.
    fn beyond(&self, k: i128) -> bool {
        match *self {
            Spread::Exact { dev, var_n } => {
                let lhs = dev.checked_mul(dev).and_then(|d| d.checked_mul(10_000));
                match (lhs, var_n.checked_mul(k * k)) {
                    (Some(l), Some(r)) => l > r,
                    _ => (dev as f64).powi(2) * 1e4 > var_n as f64 * (k * k) as f64,
                }
            }
            Spread::Float { dev, var } => dev * dev * 1e4 > var * (k * k) as f64,
        }
    }
}

impl Window {
    /// Takes in shifted price `p`; the window's spread once it is full.
    fn push(&mut self, p: i64, n: usize) -> Option<Spread> {
        let slot = (self.seen % n as u64) as usize;
        if self.seen >= n as u64 {
            let old = self.ring[slot];
            self.sum -= old as i128;
            self.sum_sq = self
                .sum_sq
                .wrapping_sub((old as i128).wrapping_mul(old as i128));
            self.big -= (old.unsigned_abs() >= BIG as u64) as u32;
        }
        self.ring[slot] = p;
        self.sum += p as i128;
        self.sum_sq = self
            .sum_sq
            .wrapping_add((p as i128).wrapping_mul(p as i128));
        self.big += (p.unsigned_abs() >= BIG as u64) as u32;
        self.seen += 1;
        if self.seen < n as u64 {
            return None;
        }
        let nn = n as i128;
        let exact = (self.big == 0)
            .then(|| {
                let var_n = nn
                    .checked_mul(self.sum_sq)?
                    .checked_sub(self.sum.checked_mul(self.sum)?)?;
                Some(Spread::Exact {
                    dev: nn * p as i128 - self.sum,
                    var_n,
                })
            })
            .flatten();
        Some(exact.unwrap_or_else(|| {
            let mean = self.ring.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
            let var = self
                .ring
                .iter()
                .map(|&x| (x as f64 - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            Spread::Float {
                dev: p as f64 - mean,
                var,
            }
        }))
    }
}

impl Strategy for MeanReversion {
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        let w = self.windows.get_mut(tick.symbol.get())?;
        let origin = *w.origin.get_or_insert(tick.price_units);
        let spread = w.push(tick.price_units.saturating_sub(origin), self.window)?;
        let (holding, side) = match w.holding {
            Holding::Flat if spread.beyond(self.entry) => {
                if spread.sign() < 0 {
                    (Holding::Long, Side::Buy)
                } else {
                    (Holding::Short, Side::Sell)
                }
            }
            Holding::Long if spread.sign() >= 0 || !spread.beyond(self.exit) => {
                (Holding::Flat, Side::Sell)
            }
            Holding::Short if spread.sign() <= 0 || !spread.beyond(self.exit) => {
                (Holding::Flat, Side::Buy)
            }
            _ => return None,
        };
        w.holding = holding;
        Some(OrderIntent::on_tick(tick, side))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::SymbolIndex;
    use Side::{Buy, Sell};

    fn params(window: usize, entry_z: f64, exit_z: f64) -> MeanReversionParams {
        MeanReversionParams {
            window,
            entry_z,
            exit_z,
        }
    }

    /// The signals over whole-unit prices, as (tick index, side).
    fn run(p: &MeanReversionParams, prices: &[i64]) -> Vec<(u64, Side)> {
        let mut s = MeanReversion::new(1, p).unwrap();
        prices
            .iter()
            .enumerate()
            .filter_map(|(i, &price)| {
                let tick = TickEvent {
                    symbol: SymbolIndex(0),
                    price_units: price * crate::price::PRICE_SCALE,
                    event_ns: 0,
                    tag: i as u64,
                };
                s.on_tick(&tick).map(|o| (o.tag, o.side))
            })
            .collect()
    }

    #[test]
    fn enters_on_a_stretch_and_exits_on_the_return_by_hand() {
        // window 4, entry 1.5, exit 0.5 (z by hand, population deviation):
        // t3  10,10,10,10  var 0: z = 0, flat
        // t4  10,10,10,6   mean 9, var 3, z = −3/√3 = −1.73 < −1.5: BUY
        // t5  10,10,6,9    mean 8.75, var 2.6875, z = 0.25/1.64 = 0.15 ≥ −0.5: SELL (exit)
        // t6  10,6,9,13    mean 9.5, var 6.25, z = 3.5/2.5 = 1.4: not beyond 1.5
        // t7  6,9,13,16    mean 11, var 14.5, z = 5/3.81 = 1.31
        // t8  9,13,16,11   z = −1.25/2.59 = −0.48
        // t9  13,16,11,11  z = −1.75/2.05 = −0.86
        // t10 16,11,11,11  z = −1.25/2.17 = −0.58
        // t11 11,11,11,15  mean 12, var 3, z = 3/√3 = 1.73 > 1.5: SELL (short)
        // t12 11,11,15,12  mean 12.25, var 2.6875, z = −0.15 ≤ 0.5: BUY (exit)
        let prices = [10, 10, 10, 10, 6, 9, 13, 16, 11, 11, 11, 15, 12];
        assert_eq!(
            run(&params(4, 1.5, 0.5), &prices),
            [(4, Buy), (5, Sell), (11, Sell), (12, Buy)]
        );
    }

    #[test]
    fn a_z_exactly_at_the_threshold_is_not_beyond_it() {
        // 1,1,2,2: mean 1.5, deviation 0.5, z = +1 exactly.
        assert_eq!(run(&params(4, 1.0, 0.0), &[1, 1, 2, 2]), []);
        assert_eq!(run(&params(4, 0.99, 0.0), &[1, 1, 2, 2]), [(3, Sell)]);
    }

    #[test]
    fn a_position_waits_until_z_is_back_inside_exit() {
        // window 3, entry 1.2, exit 0.3:
        // t2  5,5,2   mean 4, var 2, z = −2/1.41 = −1.41: BUY
        // t3  5,2,2   mean 3, var 2, z = −1/1.41 = −0.71: still below −0.3, hold
        // t4  2,2,2   var 0, z = 0: SELL
        assert_eq!(
            run(&params(3, 1.2, 0.3), &[5, 5, 2, 2, 2]),
            [(2, Buy), (4, Sell)]
        );
    }

    #[test]
    fn symbols_have_their_own_windows() {
        let mut s = MeanReversion::new(2, &params(4, 1.5, 0.5)).unwrap();
        let mut out = Vec::new();
        for (i, p) in [10, 10, 10, 6].into_iter().enumerate() {
            for sym in 0..2u32 {
                let price = if sym == 0 { p } else { 10 };
                let tick = TickEvent {
                    symbol: SymbolIndex(sym),
                    price_units: price,
                    event_ns: 0,
                    tag: i as u64 * 2 + sym as u64,
                };
                out.extend(s.on_tick(&tick).map(|o| (o.symbol, o.side)));
            }
        }
        assert_eq!(out, [(SymbolIndex(0), Buy)]);
        let unknown = TickEvent {
            symbol: SymbolIndex(5),
            price_units: 1,
            event_ns: 0,
            tag: 0,
        };
        assert_eq!(s.on_tick(&unknown), None);
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let err = |p| MeanReversion::new(1, &p).unwrap_err().to_string();
        assert!(err(params(2, 1.0, 0.5)).starts_with("window (2)"));
        assert!(err(params(20, 1.234, 0.5)).starts_with("entry_z (1.234)"));
        assert!(err(params(20, 2.0, -0.5)).starts_with("exit_z (-0.5)"));
        assert!(err(params(20, 1.0, 1.0)).contains("less than entry_z"));
        assert!(err(params(4, 1.8, 0.5)).contains("never be reached"));
    }

    #[test]
    fn huge_prices_fall_back_without_overflow() {
        let mut s = MeanReversion::new(1, &params(3, 1.2, 0.3)).unwrap();
        let tick = |price_units, tag| TickEvent {
            symbol: SymbolIndex(0),
            price_units,
            event_ns: 0,
            tag,
        };
        s.on_tick(&tick(1, 0));
        s.on_tick(&tick(1, 1));
        // Far beyond the exact range (shifted by the first price, 1 unit).
        let got = s.on_tick(&tick(i64::MAX / 2, 2));
        assert_eq!(got.map(|o| o.side), Some(Sell));
    }
}
