//! Parsing cost of the hot-path frames.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use trading::price::Price;
use trading::protocol::{parse_market_data, parse_order, write_market_data, FrameSplitter};

fn bench(c: &mut Criterion) {
    let four = b"AAPL,186.73,2024-01-02 09:30:00,1732512345123456789";
    let three = b"AAPL,186.73,2024-01-02 09:30:00";
    c.bench_function("parse_market_data/4_fields", |b| {
        b.iter(|| parse_market_data(black_box(four)).unwrap())
    });
    c.bench_function("parse_market_data/3_fields", |b| {
        b.iter(|| parse_market_data(black_box(three)).unwrap())
    });
    c.bench_function("parse_order/6_fields", |b| {
        let o = b"1795571018.5577044,BUY,100,AAPL,186.73,strat1-0a1b2c3d-42";
        b.iter(|| parse_order(black_box(o)).unwrap())
    });

    // A 64 KiB socket read full of frames: split + parse, per frame.
    let mut stream = Vec::new();
    let mut n = 0u64;
    while stream.len() < 64 * 1024 - 64 {
        let p = Price::from_units(18_673_000_000 + (n as i64 % 100) * 1_000_000);
        write_market_data(
            &mut stream,
            "AAPL",
            p,
            Some("2024-01-02 09:30:00"),
            Some(1_732_512_345_123_456_789),
        );
        n += 1;
    }
    let mut g = c.benchmark_group("split_and_parse_64k");
    g.throughput(Throughput::Elements(n));
    g.bench_function("per_read", |b| {
        let mut s = FrameSplitter::new(1024);
        b.iter(|| {
            s.push(&stream);
            let mut count = 0u64;
            while let Ok(Some(f)) = s.next_frame() {
                count += parse_market_data(f).is_ok() as u64;
            }
            assert_eq!(count, n);
        })
    });
    // The link's path: frame the read once into a batch, then parse it.
    g.bench_function("per_read_batch", |b| {
        let mut s = FrameSplitter::new(1024);
        b.iter(|| {
            s.push(&stream);
            let (batch, _) = s.take_batch();
            let mut count = 0u64;
            for f in batch.iter() {
                count += parse_market_data(f).is_ok() as u64;
            }
            assert_eq!(count, n);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
