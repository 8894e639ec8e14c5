//! `backtest --sweep NAME=A..B[:STEP]`: the same backtest over a grid of
//! settings, in parallel on every core, into `sweep.csv` and a heatmap.
//!
//! Ranges are inclusive (`2..20` is 2 to 20; `10..100:5` steps by 5;
//! decimals work for decimal settings: `entry_z=1..3:0.25`). A name is a
//! key of the strategy's settings: `[strategy]`'s windows and thresholds
//! for `crossover`, the keys of `[strategies.<kind>]` otherwise. Settings
//! the strategy refuses (e.g. short ≥ long) are skipped and counted.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use plotters::prelude::*;
use rayon::prelude::*;

use super::report::{money, Figures};
use super::run::run;
use super::ticks::TickRow;
use crate::config::Config;
use crate::signals::registry;

/// Largest grid a sweep runs.
pub const MAX_POINTS: usize = 100_000;

/// One `--sweep` flag: a setting and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The setting's key.
    pub name: String,
    /// Its values, in order.
    pub values: Vec<f64>,
    /// Whether every value is a whole number (written without decimals).
    pub whole: bool,
}

/// Parses `NAME=A..B[:STEP]`; errors quote the flag.
pub fn parse_axis(flag: &str) -> anyhow::Result<Axis> {
    let bad = |why: &str| {
        anyhow!("--sweep {flag}: {why} (expected NAME=A..B or NAME=A..B:STEP, inclusive, e.g. short_window=2..20)")
    };
    let (name, range) = flag.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("no setting name"));
    }
    let (span, step) = match range.split_once(':') {
        Some((span, step)) => (span, Some(step)),
        None => (range, None),
    };
    let (a, b) = span
        .split_once("..")
        .ok_or_else(|| bad("no `..` in the range"))?;
    let num = |s: &str, what: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(&format!("the {what} {s:?} is not a number")))
    };
    let (a, b) = (num(a, "start")?, num(b, "end")?);
    let step = step.map_or(Ok(1.0), |s| num(s, "step"))?;
    if step <= 0.0 {
        return Err(bad("the step must be greater than 0"));
    }
    if b < a {
        return Err(bad(&format!("the end ({b}) is below the start ({a})")));
    }
    let n = ((b - a) / step + 1e-9).floor() as usize + 1;
    if n > MAX_POINTS {
        return Err(bad(&format!("{n} values; at most {MAX_POINTS}")));
    }
    let values: Vec<f64> = (0..n)
        .map(|i| ((a + i as f64 * step) * 1e9).round() / 1e9)
        .collect();
    let whole = values.iter().all(|v| v.fract() == 0.0);
    Ok(Axis {
        name: name.to_string(),
        values,
        whole,
    })
}

/// `cfg` with setting `name` set to `value`; an error names the flag.
fn with_setting(cfg: &Config, name: &str, value: f64, whole: bool) -> anyhow::Result<Config> {
    let mut c = cfg.clone();
    let kind = c.strategy.kind.clone();
    if kind == registry::CROSSOVER {
        let s = &mut c.strategy;
        let int = || -> anyhow::Result<u64> {
            if !whole || value < 0.0 {
                bail!("--sweep {name}: takes whole numbers from 0")
            }
            Ok(value as u64)
        };
        match name {
            "short_window" => s.short_window = int()? as usize,
            "long_window" => s.long_window = int()? as usize,
            "bullish_threshold" => s.bullish_threshold = int()?.min(255) as u8,
            "bearish_threshold" => s.bearish_threshold = int()?.min(255) as u8,
            _ => bail!("--sweep {name}: not a setting of crossover (short_window, long_window, bullish_threshold, bearish_threshold)"),
        }
        return Ok(c);
    }
    let section = c
        .strategies
        .get_mut(&kind)
        .and_then(|v| match &mut v.kind {
            config::ValueKind::Table(t) => Some(t),
            _ => None,
        })
        .with_context(|| {
            format!("--sweep {name}: kind {kind:?} has no [strategies.{kind}] section")
        })?;
    let Some(slot) = section.get_mut(name) else {
        let keys: Vec<_> = section.keys().cloned().collect();
        bail!(
            "--sweep {name}: not a key of [strategies.{kind}] ({})",
            keys.join(", ")
        );
    };
    let v = if whole
        && matches!(
            slot.kind,
            config::ValueKind::I64(_) | config::ValueKind::U64(_)
        ) {
        config::ValueKind::I64(value as i64)
    } else {
        config::ValueKind::Float(value)
    };
    *slot = config::Value::new(None, v);
    Ok(c)
}

/// One grid point's result.
#[derive(Debug, Clone)]
pub struct Point {
    /// The axes' values.
    pub at: Vec<f64>,
    /// The run's totals; `None`: the strategy refused the settings (why).
    pub result: Result<(Figures, i128), String>,
}

/// Runs every point of the grid of `axes` over `ticks`, in parallel;
/// `progress` is told each point done.
pub fn sweep(
    cfg: &Config,
    axes: &[Axis],
    ticks: &[TickRow],
    progress: &(dyn Fn() + Sync),
) -> anyhow::Result<Vec<Point>> {
    if axes.is_empty() || axes.len() > 2 {
        bail!(
            "--sweep: give one or two settings (a heatmap has two axes); got {}",
            axes.len()
        );
    }
    let mut grid: Vec<Vec<f64>> = vec![Vec::new()];
    for axis in axes {
        grid = grid
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |&v| {
                    let mut q = p.clone();
                    q.push(v);
                    q
                })
            })
            .collect();
    }
    if grid.len() > MAX_POINTS {
        bail!("--sweep: {} settings; at most {MAX_POINTS}", grid.len());
    }
    // Check every name once before spending any time.
    let mut probe = cfg.clone();
    for (axis, v) in axes.iter().zip(&grid[0]) {
        probe = with_setting(&probe, &axis.name, *v, axis.whole)?;
    }
    Ok(grid
        .into_par_iter()
        .map(|at| {
            let mut c = cfg.clone();
            for (axis, v) in axes.iter().zip(&at) {
                c = with_setting(&c, &axis.name, *v, axis.whole)
                    .expect("checked on the first point");
            }
            let result = c.build_strategy().map_err(|e| e.to_string()).map(|mut s| {
                let o = run(&mut s, ticks, &c, &mut |_| {});
                (Figures::of(&o), o.max_drawdown)
            });
            progress();
            Point { at, result }
        })
        .collect())
}

/// A value as the axis writes it.
fn show(axis: &Axis, v: f64) -> String {
    if axis.whole {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Writes `sweep.csv`: the settings, then orders, P&L and drawdown; skipped points say why.
pub fn write_csv(path: &Path, axes: &[Axis], points: &[Point]) -> anyhow::Result<()> {
    let mut out = String::new();
    for a in axes {
        out.push_str(&a.name);
        out.push(',');
    }
    out.push_str("filled,rejected,turnover,realised,unrealised,total_pnl,max_drawdown,skipped\n");
    for p in points {
        for (a, v) in axes.iter().zip(&p.at) {
            out.push_str(&show(a, *v));
            out.push(',');
        }
        match &p.result {
            Ok((f, dd)) => out.push_str(&format!(
                "{},{},{},{},{},{},{},\n",
                f.filled,
                f.rejected,
                money(f.turnover),
                money(f.realised),
                money(f.unrealised),
                money(f.total()),
                money(*dd)
            )),
            Err(why) => out.push_str(&format!(",,,,,,,\"{}\"\n", why.replace('"', "'"))),
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

/// A colour for `v` on a scale symmetric around 0: red losses, green gains.
fn shade(v: f64, max: f64) -> RGBColor {
    let t = (v / max.max(f64::MIN_POSITIVE)).clamp(-1.0, 1.0);
    let fade = |x: f64| (255.0 * (1.0 - x.abs())) as u8;
    if t >= 0.0 {
        RGBColor(fade(t), 255 - (100.0 * t) as u8, fade(t))
    } else {
        RGBColor(255 - (80.0 * -t) as u8, fade(t), fade(t))
    }
}

/// Draws the total P&L of every point: a heatmap over two axes (grey =
/// skipped), or bars over one.
pub fn heatmap(path: &Path, axes: &[Axis], points: &[Point]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let total = |p: &Point| {
        p.result
            .as_ref()
            .ok()
            .map(|(f, _)| money(f.total()).to_f64())
    };
    let max = points
        .iter()
        .filter_map(total)
        .fold(0f64, |m, v| m.max(v.abs()));
    let x = &axes[0];
    let (ny, y_name) = axes
        .get(1)
        .map_or((1, "".to_string()), |a| (a.values.len(), a.name.clone()));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Total P&L by setting (red loss, green gain; max |P&L| {max:.2})"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..x.values.len(), 0..ny)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x.name.as_str())
        .y_desc(y_name.as_str())
        .x_label_formatter(&|i| x.values.get(*i).map_or(String::new(), |v| show(x, *v)))
        .y_label_formatter(&|j| {
            axes.get(1)
                .and_then(|a| a.values.get(*j).map(|v| show(a, *v)))
                .unwrap_or_default()
        })
        .draw()
        .map_err(err)?;
    let cells = points.iter().enumerate().map(|(k, p)| {
        let (i, j) = (k / ny, k % ny);
        let color = total(p).map_or(RGBColor(200, 200, 200), |v| shade(v, max));
        Rectangle::new([(i, j), (i + 1, j + 1)], color.filled())
    });
    chart.draw_series(cells).map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_with_an_optional_step() {
        let a = parse_axis("short_window=2..5").unwrap();
        assert_eq!(
            (a.name.as_str(), a.values.as_slice(), a.whole),
            ("short_window", &[2.0, 3.0, 4.0, 5.0][..], true)
        );
        assert_eq!(
            parse_axis("long_window=10..100:5").unwrap().values.len(),
            19
        );
        assert_eq!(parse_axis("w=10..24:5").unwrap().values, [10.0, 15.0, 20.0]);
        let z = parse_axis("entry_z=1..2:0.25").unwrap();
        assert_eq!(
            (z.values, z.whole),
            (vec![1.0, 1.25, 1.5, 1.75, 2.0], false)
        );
    }

    #[test]
    fn bad_ranges_name_the_flag() {
        let e = |f| parse_axis(f).unwrap_err().to_string();
        assert!(e("short_window=20..2")
            .starts_with("--sweep short_window=20..2: the end (2) is below the start (20)"));
        assert!(e("short_window=2..20:0")
            .starts_with("--sweep short_window=2..20:0: the step must be greater than 0"));
        assert!(e("short_window=2-20").starts_with("--sweep short_window=2-20: no `..`"));
        assert!(e("short_window").starts_with("--sweep short_window: no `=`"));
        assert!(e("x=a..3").starts_with("--sweep x=a..3: the start \"a\" is not a number"));
    }

    fn config(kind: &str) -> Config {
        let env = [
            ("TRADING__SYMBOLS".to_string(), "AAA".to_string()),
            ("TRADING__STRATEGY__KIND".to_string(), kind.to_string()),
            (
                "TRADING__STRATEGY__USE_NEWS".to_string(),
                "false".to_string(),
            ),
        ];
        Config::load_with_env(None, Some(env.into())).unwrap()
    }

    #[test]
    fn settings_are_set_by_name_and_refused_ones_are_skipped() {
        let ticks: Vec<TickRow> = (0..200)
            .map(|i| TickRow {
                symbol: crate::symbol::SymbolIndex(0),
                price_units: (100 + (i * 7 % 13)) * crate::price::PRICE_SCALE,
                event_ns: i,
            })
            .collect();
        let axes = [
            parse_axis("short_window=2..4").unwrap(),
            parse_axis("long_window=3..4").unwrap(),
        ];
        let done = std::sync::atomic::AtomicUsize::new(0);
        let points = sweep(&config("crossover"), &axes, &ticks, &|| {
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(done.into_inner(), 6);
        let skipped: Vec<_> = points
            .iter()
            .filter(|p| p.result.is_err())
            .map(|p| p.at.clone())
            .collect();
        assert_eq!(
            skipped,
            [vec![3.0, 3.0], vec![4.0, 3.0], vec![4.0, 4.0]],
            "short >= long"
        );
        // A point equals a single backtest with the same settings.
        let mut one = config("crossover");
        one.strategy.short_window = 2;
        one.strategy.long_window = 4;
        let o = run(
            &mut one.build_strategy().unwrap(),
            &ticks,
            &one,
            &mut |_| {},
        );
        assert_eq!(points[1].result.as_ref().unwrap().0, Figures::of(&o));
        let err = sweep(
            &config("crossover"),
            &[parse_axis("window=2..4").unwrap()],
            &ticks,
            &|| {},
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("--sweep window: not a setting of crossover"));
        let mr = [parse_axis("window=6..7").unwrap()];
        assert!(sweep(&config("mean_reversion"), &mr, &ticks, &|| {})
            .unwrap()
            .iter()
            .all(|p| p.result.is_ok()));
        let err = sweep(
            &config("mean_reversion"),
            &[parse_axis("windw=5..6").unwrap()],
            &ticks,
            &|| {},
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("not a key of [strategies.mean_reversion]"),
            "{err}"
        );
    }
}
