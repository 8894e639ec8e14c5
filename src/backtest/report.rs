//! A run's outputs: `orders.csv`, `summary.md` and `equity.svg`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Context as _};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::run::Outcome;
use super::ticks::{TickData, TickRow};
use crate::price::Price;
use crate::protocol::Side;

/// A sum of price units as a decimal (saturating far beyond any real P&L).
pub fn money(units: i128) -> Price {
    Price::from_units(units.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The figures of the summary, computed once for the file and the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Orders accepted (filled).
    pub filled: u64,
    /// Orders refused by a risk check.
    pub rejected: u64,
    /// Σ price × quantity of the fills, in units.
    pub turnover: i128,
    /// Realised P&L, in units.
    pub realised: i128,
    /// Unrealised P&L at the last prices, in units.
    pub unrealised: i128,
}

impl Figures {
    /// The totals of `o`.
    pub fn of(o: &Outcome) -> Figures {
        let filled = o.orders.iter().filter(|r| r.rejected.is_none());
        Figures {
            filled: filled.clone().count() as u64,
            rejected: o.orders.iter().filter(|r| r.rejected.is_some()).count() as u64,
            turnover: filled
                .map(|r| r.price.units() as i128 * r.quantity as i128)
                .sum(),
            realised: o.book.by_symbol.values().map(|p| p.realized_units).sum(),
            unrealised: (0..o.symbols.len()).map(|s| unrealised(o, s)).sum(),
        }
    }

    /// Realised plus unrealised.
    pub fn total(&self) -> i128 {
        self.realised + self.unrealised
    }
}

/// Symbol `s`'s open P&L at its last price.
fn unrealised(o: &Outcome, s: usize) -> i128 {
    let p = o
        .book
        .by_symbol
        .get(&o.symbols[s])
        .copied()
        .unwrap_or_default();
    p.net as i128 * o.last_prices[s] as i128 - p.cost_units
}

/// Writes `orders.csv`: time, symbol, side, quantity, price, position after, outcome.
pub fn write_orders(path: &Path, o: &Outcome) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(64 * o.orders.len() + 64);
    out.extend_from_slice(b"time,symbol,side,quantity,price,position_after,outcome\n");
    for r in &o.orders {
        crate::protocol::write_event_time(&mut out, r.event_ns);
        let outcome = r.rejected.map_or("FILLED", |why| why.as_str());
        let line = format!(
            ",{},{},{},{},{},{}\n",
            o.symbols[r.symbol.get()],
            r.side.as_str(),
            r.quantity,
            r.price,
            r.position_after,
            outcome
        );
        out.extend_from_slice(line.as_bytes());
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// The summary as Markdown; `title` names the strategy and the data.
pub fn summary(title: &str, o: &Outcome, data: &TickData) -> String {
    let f = Figures::of(o);
    let mut s = format!("# Backtest: {title}\n\n| figure | value |\n|---|---|\n");
    let pct = |a: u64, b: u64| {
        if b == 0 {
            "—".to_string()
        } else {
            format!("{:.1} %", a as f64 * 100.0 / b as f64)
        }
    };
    let rows = [
        ("ticks", o.ticks.to_string()),
        (
            "orders filled / rejected",
            format!("{} / {}", f.filled, f.rejected),
        ),
        ("turnover", money(f.turnover).to_string()),
        ("realised P&L", money(f.realised).to_string()),
        (
            "unrealised P&L (at last prices)",
            money(f.unrealised).to_string(),
        ),
        ("total P&L", money(f.total()).to_string()),
        (
            "win rate (reducing fills that realised a gain)",
            format!(
                "{} of {} ({})",
                o.winning_fills,
                o.closing_fills,
                pct(o.winning_fills, o.closing_fills)
            ),
        ),
        ("max drawdown", money(o.max_drawdown).to_string()),
        (
            "exposure (ticks with a position open)",
            pct(o.ticks_exposed, o.ticks),
        ),
        (
            "rows of unknown symbols (skipped)",
            format!("{} {:?}", data.unknown_rows, data.unknown_symbols),
        ),
        (
            "timestamps going backwards (kept in file order)",
            match &data.first_backwards {
                Some(at) => format!("{} (first at {at})", data.backwards),
                None => "0".into(),
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push_str(
        "\n| symbol | orders | shares | net | avg cost | last | realised | unrealised | total |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (i, name) in o.symbols.iter().enumerate() {
        let p = o.book.by_symbol.get(name).copied().unwrap_or_default();
        let u = unrealised(o, i);
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.orders,
            p.shares,
            p.net,
            p.avg_cost(),
            Price::from_units(o.last_prices[i]),
            money(p.realized_units),
            money(u),
            money(p.realized_units + u)
        );
    }
    let mut reasons: Vec<(&str, u64)> = Vec::new();
    for r in o.orders.iter().filter_map(|r| r.rejected) {
        match reasons.iter_mut().find(|(k, _)| *k == r.as_str()) {
            Some((_, n)) => *n += 1,
            None => reasons.push((r.as_str(), 1)),
        }
    }
    if !reasons.is_empty() {
        s.push_str("\nRejected by the ordermanager's checks:");
        for (k, n) in reasons {
            let _ = write!(s, " {k} {n};");
        }
        s.push('\n');
    }
    s
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

/// One panel's chart, for adding series after its line.
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `points` as a line in `color` on `area` under `caption`, y fitted
/// to them; returns the chart for more series.
fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    x_max: f64,
    points: Vec<(f64, f64)>,
    color: RGBColor,
) -> anyhow::Result<Panel<'a, 'b>> {
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (lo, hi) = if points.is_empty() {
        (0.0, 1.0)
    } else {
        (lo, hi)
    };
    let pad = ((hi - lo) * 0.05).max(0.01);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart.configure_mesh().x_desc("tick").draw().map_err(err)?;
    chart
        .draw_series(LineSeries::new(points, &color))
        .map_err(err)?;
    Ok(chart)
}

/// Draws equity over ticks, and below it the prices of symbol `sym` with
/// its fills marked (▲ BUY, × SELL).
pub fn equity_svg(path: &Path, o: &Outcome, ticks: &[TickRow], sym: usize) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(350);
    let x_max = o.ticks.max(1) as f64;
    let eq = o
        .equity
        .iter()
        .map(|&(i, e)| (i as f64, money(e).to_f64()))
        .collect();
    panel(&top, "Equity: realised + unrealised P&L", x_max, eq, BLUE)?;
    let prices: Vec<(f64, f64)> = ticks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.symbol.get() == sym)
        .map(|(i, t)| (i as f64, Price::from_units(t.price_units).to_f64()))
        .collect();
    let step = (prices.len() / 4000).max(1);
    let shown = prices.iter().step_by(step).copied().collect();
    let name = o.symbols.get(sym).map_or("?", String::as_str);
    let caption = format!("{name}: price and fills (▲ buy, × sell)");
    let mut chart = panel(&bottom, &caption, x_max, shown, BLACK)?;
    let fills: Vec<_> = o
        .orders
        .iter()
        .filter(|r| r.symbol.get() == sym && r.rejected.is_none())
        .take(5_000)
        .map(|r| ((r.tag as f64, r.price.to_f64()), r.side))
        .collect();
    let buys = fills.iter().filter(|f| f.1 == Side::Buy);
    chart
        .draw_series(buys.map(|f| TriangleMarker::new(f.0, 5, GREEN.filled())))
        .map_err(err)?;
    let sells = fills.iter().filter(|f| f.1 == Side::Sell);
    chart
        .draw_series(sells.map(|f| Cross::new(f.0, 5, RED.stroke_width(2))))
        .map_err(err)?;
    root.present().map_err(err)
}
