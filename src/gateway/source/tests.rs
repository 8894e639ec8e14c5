//! Tests of the frame sources.

use super::*;

fn syms() -> Vec<String> {
    vec!["AAPL".into(), "MSFT".into()]
}

fn load(text: &str) -> anyhow::Result<(Replay, ReplayStats)> {
    Replay::from_memory(text.as_bytes(), "t.csv", &syms(), false, false)
}

/// A CSV of `ticks` rows of the seed-7 walk in `dir`, named `name`.
fn walk_file(dir: &tempfile::TempDir, name: &str, ticks: u64) -> std::path::PathBuf {
    let path = dir.path().join(name);
    write_walk_csv(&path, &syms(), 7, ticks).unwrap();
    path
}

fn frames(mut src: impl FrameSource, n: usize) -> String {
    let mut out = Vec::new();
    for _ in 0..n {
        if !src.next_frame(&mut out) {
            break;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_csv_replays_exact_frames_once_or_forever() {
    let csv =
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,186.70\n2024-01-02 09:30:01,MSFT,1e2\n";
    let (r, stats) = load(csv).unwrap();
    assert_eq!(stats.ticks, 2);
    assert_eq!(
        frames(r, 5),
        "AAPL,186.7,2024-01-02 09:30:00*MSFT,100,2024-01-02 09:30:01*"
    );
    let (r, _) = Replay::from_memory(csv.as_bytes(), "t", &syms(), true, false).unwrap();
    assert_eq!(frames(r, 3), "AAPL,186.7,2024-01-02 09:30:00*MSFT,100,2024-01-02 09:30:01*AAPL,186.7,2024-01-02 09:30:00*");
}

#[test]
fn send_time_adds_a_fourth_field() {
    let (r, _) = Replay::from_memory(
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,1\n".as_bytes(),
        "t",
        &syms(),
        false,
        true,
    )
    .unwrap();
    let f = frames(r, 1);
    let fields: Vec<&str> = f.trim_end_matches('*').split(',').collect();
    assert_eq!(fields.len(), 4);
    assert!(fields[3].parse::<i64>().unwrap() > 1_600_000_000_000_000_000);
}

#[test]
fn bom_and_column_order_are_accepted() {
    let csv = "\u{feff}symbol,price,timestamp\nAAPL,1.5,2024-01-02 09:30:00\n";
    let (r, _) = load(csv).unwrap();
    assert_eq!(frames(r, 1), "AAPL,1.5,2024-01-02 09:30:00*");
}

#[test]
fn unknown_symbols_are_skipped_and_counted() {
    let csv = "timestamp,symbol,price\n2024-01-02 09:30:00,ZZZ,1\n2024-01-02 09:30:00,AAPL,2\n2024-01-02 09:30:00,ZZZ,3\n";
    let (r, stats) = load(csv).unwrap();
    assert_eq!(
        (
            stats.ticks,
            stats.unknown_symbol_rows,
            stats.unknown_symbols.clone()
        ),
        (1, 2, vec!["ZZZ".to_string()])
    );
    assert_eq!(r.len(), 1);
}

#[test]
fn bad_files_are_start_up_errors_naming_file_and_line() {
    let e = |csv: &str| format!("{:#}", load(csv).unwrap_err());
    assert_eq!(
        e("timestamp,symbol\n"),
        "t.csv: no `price` column (the header must name timestamp, symbol and price)"
    );
    assert_eq!(
        e("timestamp,symbol,price\n"),
        "t.csv: no ticks to replay (0 rows skipped for symbols not in `symbols`)"
    );
    assert_eq!(
        e(""),
        "t.csv: no `timestamp` column (the header must name timestamp, symbol and price)"
    );
    assert_eq!(
        e("timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,abc\n"),
        "t.csv:2: price \"abc\" is not a decimal greater than zero"
    );
    assert_eq!(
        e("timestamp,symbol,price\nnoon,AAPL,1\n"),
        "t.csv:2: timestamp \"noon\" is not YYYY-MM-DD HH:MM:SS[.fff] \
         from 1970-01-01 up to 2200-01-01"
    );
    assert!(e("timestamp,symbol,price\n2024-01-02 09:30:00,AAPL\n")
        .starts_with("t.csv: unreadable row"));
    let only_unknown = "timestamp,symbol,price\n2024-01-02 09:30:00,ZZZ,1\n";
    assert_eq!(
        e(only_unknown),
        "t.csv: no ticks to replay (1 rows skipped for symbols not in `symbols`)"
    );
}

#[test]
fn the_walk_is_reproducible_positive_and_wavy() {
    let a = frames(RandomWalk::new(&syms(), 7, false), 50);
    let b = frames(RandomWalk::new(&syms(), 7, false), 50);
    let c = frames(RandomWalk::new(&syms(), 8, false), 50);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut walk = RandomWalk::new(&syms(), 7, false);
    let mut engine = crate::signals::Crossover::new(5, 20).unwrap();
    let mut crossings = 0;
    for _ in 0..2000 {
        let (i, p, _) = walk.step();
        assert!(p.units() > 0);
        if i == 0 && engine.update(p.units()).is_some() {
            crossings += 1;
        }
    }
    assert!(crossings >= 10, "only {crossings} crossovers in 1000 ticks");
}

#[test]
fn news_is_reproducible_and_in_range() {
    let text = frames(NewsSource::new(&syms(), 42), 200);
    assert_eq!(text, frames(NewsSource::new(&syms(), 42), 200));
    for f in text.split('*').filter(|f| !f.is_empty()) {
        let n = crate::protocol::parse_news(f.as_bytes()).unwrap();
        assert!(syms().iter().any(|s| s == n.symbol) && n.sentiment <= 100);
    }
}

#[test]
fn a_generated_csv_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = walk_file(&dir, "walk.csv", 100);
    let (r, stats) = Replay::load(&path, &syms(), false, false).unwrap();
    assert_eq!(stats.ticks, 100);
    assert_eq!(
        frames(r, 100),
        frames(RandomWalk::new(&syms(), 7, false), 100)
    );
}

/// The frames from `position` on, without SEND_NS.
fn frames_from(mut src: impl FrameSource, position: u64, n: usize) -> String {
    assert!(src.seek(position));
    frames(src, n)
}

#[test]
fn a_walk_seeks_to_exactly_the_frames_an_unbroken_walk_gives() {
    let whole = frames(RandomWalk::new(&syms(), 7, false), 60);
    let tail_of = |skip: usize| {
        whole
            .split_inclusive('*')
            .skip(skip)
            .collect::<Vec<_>>()
            .concat()
    };
    assert_eq!(
        frames_from(RandomWalk::new(&syms(), 7, false), 25, 35),
        tail_of(25)
    );
    // Backwards too: walked again from the seed.
    let mut walk = RandomWalk::new(&syms(), 7, false);
    let mut sink = Vec::new();
    for _ in 0..40 {
        assert!(walk.next_frame(&mut sink));
    }
    assert_eq!(frames_from(walk, 10, 50), tail_of(10));
}

#[test]
fn a_replay_seeks_by_row_and_refuses_past_a_finite_end() {
    let csv = "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,1\n2024-01-02 09:30:01,MSFT,2\n2024-01-02 09:30:02,AAPL,3\n";
    let fresh = || load(csv).unwrap().0;
    assert_eq!(frames_from(fresh(), 2, 5), "AAPL,3,2024-01-02 09:30:02*");
    assert_eq!(frames_from(fresh(), 3, 5), "", "at the end: nothing more");
    assert!(!fresh().seek(4));
    let mut ahead = fresh();
    let mut sink = Vec::new();
    for _ in 0..3 {
        assert!(ahead.next_frame(&mut sink));
    }
    assert_eq!(
        frames_from(ahead, 1, 5),
        "MSFT,2,2024-01-02 09:30:01*AAPL,3,2024-01-02 09:30:02*",
        "a seek behind the stream reads the file again from its start"
    );
    let (looping, _) = Replay::from_memory(csv.as_bytes(), "t", &syms(), true, false).unwrap();
    assert_eq!(
        frames_from(looping, 7, 2),
        "MSFT,2,2024-01-02 09:30:01*AAPL,3,2024-01-02 09:30:02*",
        "frame 7 of a looping 3-row replay is row 1"
    );
    assert!(!NewsSource::new(&syms(), 1).seek(0), "news cannot seek");
}

#[test]
fn a_looping_replay_reads_the_file_again_for_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = walk_file(&dir, "loop.csv", 30);
    let (r, _) = Replay::load(&path, &syms(), true, false).unwrap();
    let once = frames(RandomWalk::new(&syms(), 7, false), 30);
    assert_eq!(
        frames(r, 95),
        format!("{once}{once}{once}{}", {
            let five: Vec<&str> = once.split_inclusive('*').take(5).collect();
            five.concat()
        })
    );
}

#[test]
fn a_file_cut_short_after_loading_ends_the_stream_with_a_named_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = walk_file(&dir, "cut.csv", 10);
    let (mut r, _) = Replay::load(&path, &syms(), true, false).unwrap();
    std::fs::write(
        &path,
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,1\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut sent = 0;
    while sent < 100 && r.next_frame(&mut out) {
        sent += 1;
    }
    assert!(
        sent >= 10,
        "the open pass was read to its end or the cut: {sent}"
    );
    assert!(
        sent < 100,
        "the stream stopped instead of looping on a short file"
    );
    let why = r.failure().expect("the failure is reported");
    assert!(
        why.contains("cut.csv") && why.contains("changed while replaying"),
        "{why}"
    );
    assert!(!r.next_frame(&mut out), "a failed replay stays ended");
}

#[test]
fn tick_paced_news_tags_each_item_with_its_tick_and_ends_before_the_last() {
    let symbols = vec!["AAPL".to_string(), "MSFT".to_string()];
    let mut plain = NewsSource::new(&symbols, 7);
    let mut paced = TickPacedNews::new(NewsSource::new(&symbols, 7), 4, 10);
    let mut out = Vec::new();
    while paced.next_frame(&mut out) {}
    let mut want = Vec::new();
    want.extend_from_slice(b"#TICK,4*");
    plain.next_frame(&mut want);
    want.extend_from_slice(b"#TICK,8*");
    plain.next_frame(&mut want);
    want.extend_from_slice(b"#END,2*");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(want).unwrap()
    );
    // A replay too short for one item still says where the news ends.
    let mut short = TickPacedNews::new(NewsSource::new(&symbols, 7), 50, 50);
    let mut out = Vec::new();
    while short.next_frame(&mut out) {}
    assert_eq!(out, b"#END,0*");
}
