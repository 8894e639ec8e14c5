//! Kind `streak`: follow a run of rising or falling prices.
//!
//! After `run` rises in a row it buys one lot unless already long; after
//! `run` falls in a row it sells one lot unless already short. So the
//! position stays within one lot either way; an equal price breaks a run.
//! (The worked example of README "Adding a strategy".)

use serde::Deserialize;

use super::registry::Configured;
use super::{OrderIntent, Strategy, TickEvent};
use crate::protocol::Side;

/// `[strategies.streak]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreakParams {
    /// Rises (or falls) in a row that make a trade; at least 1.
    pub run: u32,
}

/// One symbol's state.
#[derive(Debug, Clone, Copy, Default)]
struct Symbol {
    /// The previous price.
    last: Option<i64>,
    /// Rises in a row (> 0) or falls in a row (< 0).
    streak: i64,
    /// +1 long, −1 short, 0 flat.
    lots: i64,
}

/// The streak-following strategy for every symbol of a table.
#[derive(Debug, Clone)]
pub struct Streak {
    /// Indexed by symbol.
    symbols: Vec<Symbol>,
    /// From the params.
    run: i64,
}

impl Configured for Streak {
    type Params = StreakParams;

    fn configure(symbols: usize, p: &StreakParams) -> Result<Streak, String> {
        if p.run == 0 {
            return Err("run must be at least 1".into());
        }
        let run = p.run as i64;
        Ok(Streak {
            symbols: vec![Symbol::default(); symbols],
            run,
        })
    }
}

impl Strategy for Streak {
    fn on_tick(&mut self, tick: &TickEvent) -> Option<OrderIntent> {
        let s = self.symbols.get_mut(tick.symbol.get())?;
        let step = s.last.map_or(0, |last| (tick.price_units - last).signum());
        s.last = Some(tick.price_units);
        s.streak = if step != 0 && s.streak.signum() == step {
            s.streak + step
        } else {
            step
        };
        let want = s.streak.signum();
        if s.streak.abs() < self.run || want == s.lots {
            return None;
        }
        s.lots += want;
        let side = if want > 0 { Side::Buy } else { Side::Sell };
        Some(OrderIntent::on_tick(tick, side))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::SymbolIndex;

    #[test]
    fn trades_after_two_rises_and_after_two_falls() {
        let mut s = Streak::configure(1, &StreakParams { run: 2 }).unwrap();
        let sides: Vec<_> = [10, 11, 12, 13, 12, 12, 11, 10, 9]
            .into_iter()
            .enumerate()
            .filter_map(|(tag, price_units)| {
                let tick = TickEvent {
                    symbol: SymbolIndex(0),
                    price_units,
                    event_ns: 0,
                    tag: tag as u64,
                };
                s.on_tick(&tick).map(|o| (o.tag, o.side))
            })
            .collect();
        // 10→11→12: two rises, BUY at tag 2 (13 is a third: already long);
        // 12 = 12 breaks the run; 12→11→10: two falls, SELL at tag 7 (flat);
        // 9: still falling, SELL again at tag 8 (short).
        assert_eq!(sides, [(2, Side::Buy), (7, Side::Sell), (8, Side::Sell)]);
    }
}
