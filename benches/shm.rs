//! Hot paths of the shared-memory price table: what the orderbook pays per
//! tick (`publish` = seqlocked slot write + ring append; `write_slot` = the
//! slot alone), what the strategy pays per price read, and one ring tick
//! appended and consumed. Targets: a few nanoseconds each, uncontended.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use trading::shm::{unlink_segment, PriceTable, PriceTableReader, RingRead};
use trading::symbol::SymbolIndex;

/// Removes the bench segment even if a benchmark panics.
struct Seg(String);

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = unlink_segment(&self.0);
    }
}

fn shm_benches(c: &mut Criterion) {
    let seg = Seg(format!("trading-bench-{}", std::process::id()));
    let symbols: Vec<String> = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut table = PriceTable::create(&seg.0, &symbols, 1 << 16).expect("create table");
    let reader = PriceTableReader::attach_expecting(&seg.0, &symbols).expect("attach");
    let mut group = c.benchmark_group("shm");

    let mut price = 0i64;
    group.bench_function("publish (slot + ring append)", |b| {
        b.iter(|| {
            price += 1;
            black_box(table.publish(black_box(SymbolIndex(2)), price, price, 0, price));
        })
    });
    group.bench_function("write_slot (slot only)", |b| {
        b.iter(|| {
            price += 1;
            table.write_slot(black_box(SymbolIndex(2)), price, price, 0, price);
        })
    });
    group.bench_function("read slot", |b| {
        b.iter(|| black_box(reader.read(black_box(SymbolIndex(2)))))
    });
    group.bench_function("symbol_index (5 symbols)", |b| {
        b.iter(|| black_box(reader.symbol_index(black_box("TSLA"))))
    });

    let mut cursor = reader.cursor_from_now();
    group.bench_function("ring append + consume one tick", |b| {
        b.iter(|| {
            price += 1;
            table.publish(black_box(SymbolIndex(1)), price, price, 0, price);
            match reader.ring_next(&mut cursor) {
                RingRead::Tick(t) => black_box(t),
                other => panic!("expected a tick, got {other:?}"),
            };
        })
    });
    group.finish();
}

criterion_group!(benches, shm_benches);
criterion_main!(benches);
