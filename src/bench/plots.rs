//! The report's two plots, as SVG drawn by plotters with its built-in font
//! metrics: a fresh CI machine has no system fonts, and SVG text is laid out
//! by whatever views it.
//!
//! * `latency.svg` — percentile curves (x: 0 … 99.99 %, log-spaced so the
//!   tail is readable; y: latency, log scale) of every latency scenario,
//!   with the loopback round trip floor drawn the same way.
//! * `throughput.svg` — horizontal bars: the read + parse floor and what the
//!   pipeline achieved through the orderbook and to the strategy.

use std::path::Path;

use anyhow::anyhow;
use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::floors::Floors;
use super::pipeline::Outcome;

/// x position of quantile `q`: 1 = 90 %, 2 = 99 %, 3 = 99.9 %.
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-6).log10()
}

/// Points of a percentile curve, latency in µs.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=400)
        .map(|i| {
            let x = i as f64 / 100.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, (h.value_at_quantile(q) as f64 / 1e3).max(0.1))
        })
        .collect()
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

/// Draws the percentile curves of every latency scenario and the RTT floor.
pub fn latency(path: &Path, f: &Floors, runs: &[Outcome]) -> anyhow::Result<()> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> =
        vec![("floor: loopback TCP round trip".into(), curve(&f.rtt))];
    // Runs after the first: the rate = 0 run's "latency" is queueing time.
    for r in runs.iter().skip(1).filter(|r| !r.latency.is_empty()) {
        series.push((r.name.clone(), curve(&r.latency)));
    }
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::MAX, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let root = SVGBackend::new(path, (960, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency by percentile (log scales)", ("sans-serif", 22))
        .margin(14)
        .margin_right(40)
        .x_label_area_size(46)
        .y_label_area_size(76)
        .build_cartesian_2d(
            0f64..nines(0.9999),
            ((lo * 0.8).max(0.1)..hi * 1.25).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_labels(5)
        .x_label_formatter(&|x| format!("{}%", trim(100.0 * (1.0 - 10f64.powf(-*x)))))
        .y_label_formatter(&|y| super::report::fmt_ns((*y * 1e3) as u64))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = ShapeStyle::from(&color).stroke_width(if i == 0 { 3 } else { 2 });
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// `99.9`, `50`, `1200`: a number without trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Draws the rate = 0 throughput against the read + parse floor.
pub fn throughput(path: &Path, f: &Floors, run: &Outcome) -> anyhow::Result<()> {
    let (book, strat, send) = run.rates.unwrap_or((0.0, 0.0, 0.0));
    let bars = [
        ("floor: read + parse, one reader", f.parse_frames_per_s),
        ("probe's writes accepted by TCP", send),
        ("through the orderbook", book),
        ("to the strategy's last tick", strat),
    ];
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) / 1e6;
    let root = SVGBackend::new(path, (960, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Market data throughput at rate = 0 (M ticks/s)",
            ("sans-serif", 22),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(250)
        .build_cartesian_2d(0f64..max * 1.15, -0.5f64..bars.len() as f64 - 0.5)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|y| {
            let i = y.round();
            let idx = bars.len() as f64 - 1.0 - i;
            if (y - i).abs() < 0.01 && idx >= 0.0 && (idx as usize) < bars.len() {
                bars[idx as usize].0.to_string()
            } else {
                String::new()
            }
        })
        .x_desc("million ticks per second")
        .draw()
        .map_err(err)?;
    let n = bars.len() as f64;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let y = n - 1.0 - i as f64;
            let color = if i == 0 {
                RGBColor(120, 120, 120)
            } else {
                let (r, g, b) = Palette99::pick(i).rgb();
                RGBColor(r, g, b)
            };
            Rectangle::new([(0.0, y - 0.3), (v / 1e6, y + 0.3)], color.filled())
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let y = n - 1.0 - i as f64;
            Text::new(
                format!("{:.2}", v / 1e6),
                (v / 1e6 + max * 0.01, y + 0.1),
                ("sans-serif", 15),
            )
        }))
        .map_err(err)?;
    root.present().map_err(err)
}
