//! Cost of one tick through the crossover detector and the whole engine.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use trading::signals::{Crossover, SignalEngine, SignalParams};
use trading::symbol::SymbolIndex;

/// A deterministic two-decimal walk around 100.00, in 1e-8 units.
fn walk(n: usize) -> Vec<i64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut p: i64 = 10_000_000_000;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p += ((x % 5) as i64 - 2) * 1_000_000;
            p
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let prices = walk(4096);
    for (short, long) in [(5, 20), (50, 200)] {
        c.bench_function(&format!("crossover_update/{short}_{long}"), |b| {
            let mut x = Crossover::new(short, long).unwrap();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                x.update(black_box(prices[i]))
            })
        });
    }
    c.bench_function("engine_on_tick/5_symbols", |b| {
        let params = SignalParams {
            short_window: 5,
            long_window: 20,
            bullish_threshold: 70,
            bearish_threshold: 30,
            use_news: true,
        };
        let mut e = SignalEngine::new(5, &params).unwrap();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            e.on_tick(
                black_box(SymbolIndex((i % 5) as u32)),
                prices[(i & 4095) as usize],
                i,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
