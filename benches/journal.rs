//! Journal appends under each durability setting (one record = one order).
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use trading::ordermanager::{JournalRecord, OrderJournal, Outcome};
use trading::price::Price;
use trading::protocol::Side;

fn record(i: u64) -> JournalRecord {
    JournalRecord {
        recv_ns: 1_732_512_345_123_456_789 + i as i64,
        client_order_id: Some(format!("strat1-1a2b3c4d-{i:x}")),
        client: "127.0.0.1:50412".into(),
        client_name: Some("strat1".into()),
        side: Some(if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        }),
        quantity: Some(100),
        symbol: Some("AAPL".into()),
        price: Some(Price::from_units(18_673_000_000)),
        outcome: Outcome::Accepted,
        reason: None,
        raw: None,
        frames: None,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rec = record(42);
    let mut g = c.benchmark_group("journal");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    // Formatting and buffering, written 1,024 at a time without a sync
    // (the journal refuses a device such as /dev/null, so a file it is).
    g.bench_function("append_format_only", |b| {
        let (j, _) = OrderJournal::open(&dir.path().join("nosync"), |_| {}).unwrap();
        let mut j = j.without_sync();
        b.iter(|| {
            j.append(&rec).unwrap();
            if j.uncommitted() >= 1024 {
                j.commit().unwrap();
            }
        })
    });
    g.bench_function("every_record_fdatasync", |b| {
        let (j, _) = OrderJournal::open(&dir.path().join("every"), |_| {}).unwrap();
        // As the ordermanager runs it (config/default.toml).
        let mut j = j.reserving(1 << 20);
        b.iter(|| {
            j.append(&rec).unwrap();
            j.commit().unwrap();
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("group_of_64_fdatasync", |b| {
        let (j, _) = OrderJournal::open(&dir.path().join("group"), |_| {}).unwrap();
        let mut j = j.reserving(1 << 20);
        b.iter_batched(
            || (0..64).map(record).collect::<Vec<_>>(),
            |recs| {
                for r in &recs {
                    j.append(r).unwrap();
                }
                j.commit().unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
