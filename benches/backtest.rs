//! Backtest speed: ticks per second through the strategy, the
//! ordermanager's checks and the account, from an in-memory tick list and
//! from a CSV file end to end (read + parse + run). README, Backtest speed.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use trading::backtest::{run, ticks};
use trading::config::Config;

/// Ticks per measured run.
const TICKS: u64 = 1_000_000;

/// The default symbols and limits, crossover without news (every crossover trades).
fn config(kind: &str) -> Config {
    let env = [
        (
            "TRADING__STRATEGY__USE_NEWS".to_string(),
            "false".to_string(),
        ),
        ("TRADING__STRATEGY__KIND".to_string(), kind.to_string()),
    ];
    Config::load_with_env(None, Some(env.into())).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("walk.csv");
    let cfg = config("crossover");
    trading::gateway::write_random_walk_csv(&cfg, &csv, TICKS).unwrap();
    let data = ticks::load(&csv, &cfg.symbols).unwrap();
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TICKS));
    for kind in ["crossover", "mean_reversion"] {
        let cfg = config(kind);
        g.bench_with_input(BenchmarkId::new("in_memory", kind), &data.ticks, |b, t| {
            b.iter(|| {
                let mut s = cfg.build_strategy().unwrap();
                run(&mut s, t, &cfg, &mut |_| {}).orders.len()
            })
        });
    }
    g.bench_function("csv_end_to_end/crossover", |b| {
        b.iter(|| {
            let data = ticks::load(&csv, &cfg.symbols).unwrap();
            let mut s = cfg.build_strategy().unwrap();
            run(&mut s, &data.ticks, &cfg, &mut |_| {}).orders.len()
        })
    });
    g.bench_function("csv_parse_only", |b| {
        b.iter(|| ticks::load(&csv, &cfg.symbols).unwrap().ticks.len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
