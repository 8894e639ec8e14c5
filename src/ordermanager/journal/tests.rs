use super::*;
use std::io::Write;

fn record(id: Option<&str>, outcome: Outcome) -> JournalRecord {
    JournalRecord {
        recv_ns: 7,
        client_order_id: id.map(str::to_string),
        client: "127.0.0.1:5000".into(),
        side: Some(Side::Buy),
        quantity: Some(100),
        symbol: Some("AAPL".into()),
        price: Some(Price::from_units(18_673_000_000)),
        outcome,
        reason: (outcome == Outcome::Rejected).then_some(RejectReason::MaxPosition),
        raw: None,
        client_name: None,
        frames: None,
    }
}

#[test]
fn records_are_readable_json_lines_that_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, scan) = OrderJournal::open(&path, |_| {}).unwrap();
    assert_eq!(scan.records, 0);
    let (a, b) = (
        record(Some("a"), Outcome::Accepted),
        record(None, Outcome::Rejected),
    );
    j.append(&a).unwrap();
    j.append(&b).unwrap();
    assert_eq!(
        read_journal(&path, 0).unwrap().records.len(),
        0,
        "not durable before commit"
    );
    j.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"recv_ns":7,"id":"a","client":"127.0.0.1:5000","side":"BUY","quantity":100,"symbol":"AAPL","price":"186.73","outcome":"ACCEPTED","reason":null,"raw":null}"#
    );
    let scan = read_journal(&path, 0).unwrap();
    assert_eq!(scan.records, [a.clone(), b]);
    assert_eq!(scan.end_offset, text.len() as u64);
    let first_len = text.find('\n').unwrap() as u64 + 1;
    assert_eq!(
        read_journal(&path, first_len).unwrap().records.len(),
        1,
        "reading resumes at an offset"
    );
}

#[test]
fn reasons_keep_their_stored_spelling_and_unknown_ones_still_read() {
    let rejected = record(Some("r"), Outcome::Rejected);
    let line = r#"{"recv_ns":7,"id":"r","client":"127.0.0.1:5000","side":"SELL","quantity":100,"symbol":"AAPL","price":"186.73","outcome":"REJECTED","reason":"MAX_POSITION","raw":null}"#;
    let old: JournalRecord = serde_json::from_str(line).unwrap();
    assert_eq!(
        old,
        JournalRecord {
            side: Some(Side::Sell),
            ..rejected
        }
    );
    assert_eq!(serde_json::to_string(&old).unwrap(), line, "byte for byte");
    let future = line.replace("MAX_POSITION", "SOME_NEW_CODE");
    let read: JournalRecord = serde_json::from_str(&future).unwrap();
    assert_eq!(read.reason, Some(RejectReason::BadFrame));
}

#[test]
fn names_and_summaries_are_written_only_when_present_and_old_lines_lack_them() {
    let mut r = record(Some("n"), Outcome::Accepted);
    r.client_name = Some("strat1".into());
    r.frames = Some(40);
    let line = serde_json::to_string(&r).unwrap();
    assert!(
        line.contains(r#""client":"127.0.0.1:5000","client_name":"strat1","#),
        "{line}"
    );
    assert!(line.ends_with(r#""raw":null,"frames":40}"#), "{line}");
    assert_eq!(serde_json::from_str::<JournalRecord>(&line).unwrap(), r);
    assert_eq!(
        (r.risk_key(), r.id_scope()),
        ("strat1".to_string(), "strat1")
    );
    let anon = record(Some("n"), Outcome::Accepted);
    assert_eq!(
        (anon.risk_key(), anon.id_scope()),
        ("anon@127.0.0.1".to_string(), "")
    );
    assert_eq!(anonymous_key("[::1]:9"), "anon@::1");
}

#[test]
fn a_torn_last_record_is_reported_and_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = OrderJournal::open(&path, |_| {}).unwrap();
    j.append(&record(Some("a"), Outcome::Accepted)).unwrap();
    j.commit().unwrap();
    drop(j);
    let whole = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"recv_ns":8,"id":"b","cli"#)
        .unwrap();
    let scan = read_journal(&path, 0).unwrap();
    assert!(scan.torn_tail);
    assert_eq!((scan.records.len(), scan.end_offset), (1, whole));
    let (mut j, scan) = OrderJournal::open(&path, |_| {}).unwrap();
    assert!(scan.torn_tail);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        whole,
        "the torn bytes are gone"
    );
    j.append(&record(Some("c"), Outcome::Accepted)).unwrap();
    j.commit().unwrap();
    assert_eq!(ids_read(&path), ["a", "c"]);
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let good = serde_json::to_string(&record(Some("a"), Outcome::Accepted)).unwrap();
    std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
    let e = read_journal(&path, 0).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("line 2: corrupt record"), "{e}");
    assert!(OrderJournal::open(&path, |_| {}).is_err());
}

#[test]
fn a_device_or_directory_is_refused_not_read_forever() {
    for path in ["/dev/full", "/dev/zero", "/tmp"] {
        let e = OrderJournal::open(Path::new(path), |_| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{path}: {e}");
        let e = read_journal(Path::new(path), 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{path}: {e}");
    }
}

#[test]
fn a_missing_journal_is_empty() {
    let scan = read_journal(Path::new("/nonexistent/journal"), 0).unwrap();
    assert_eq!((scan.records.len(), scan.torn_tail), (0, false));
}

#[test]
fn fresh_sets_the_journal_aside_under_a_utc_name_and_never_replaces_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.journal");
    let t = 1_764_081_953_123_456_789; // 2025-11-25 14:45:53.123… UTC
    assert_eq!(set_aside(&path, t).unwrap(), None, "nothing to move");
    std::fs::write(&path, "first\n").unwrap();
    let first = set_aside(&path, t).unwrap().unwrap();
    assert_eq!(
        first.file_name().unwrap(),
        "orders.journal.20251125T144553Z"
    );
    assert!(!path.exists());
    std::fs::write(&path, "second\n").unwrap();
    let second = set_aside(&path, t).unwrap().unwrap();
    assert_eq!(
        second.file_name().unwrap(),
        "orders.journal.20251125T144553Z.1"
    );
    assert_eq!(std::fs::read_to_string(first).unwrap(), "first\n");
    assert_eq!(std::fs::read_to_string(second).unwrap(), "second\n");
    let (_, end) = OrderJournal::open(&path, |_| {}).unwrap();
    assert_eq!((end.records, end.end_offset), (0, 0), "starts empty");
}

use crate::ordermanager::replay::recorded_ids as ids_read;

/// A new journal in a temp dir, reserving `step` bytes ahead.
fn reserving(step: u64) -> (tempfile::TempDir, std::path::PathBuf, OrderJournal) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (j, _) = OrderJournal::open(&path, |_| {}).unwrap();
    (dir, path, j.reserving(step))
}

fn commit_ids(j: &mut OrderJournal, ids: &[&str]) {
    for id in ids {
        j.append(&record(Some(id), Outcome::Accepted)).unwrap();
    }
    j.commit().unwrap();
}

#[test]
fn a_reserving_journal_writes_in_place_and_is_cut_to_its_records_when_closed() {
    let (_dir, path, mut j) = reserving(10_000);
    commit_ids(&mut j, &["a", "b"]);
    let written = read_journal(&path, 0).unwrap().end_offset;
    // Rounded up to whole pages, zeros after the records.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 12_288);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes[written as usize..].iter().all(|&b| b == 0));
    assert_eq!(ids_read(&path), ["a", "b"]);
    assert!(!read_journal(&path, 0).unwrap().torn_tail);
    // More records than one step: the reserve moves on in whole steps.
    let many: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    commit_ids(&mut j, &many);
    let len = std::fs::metadata(&path).unwrap().len();
    let end = read_journal(&path, 0).unwrap().end_offset;
    assert!(
        len.is_multiple_of(12_288) && len >= end && len - end < 12_288,
        "{len} {end}"
    );
    assert_eq!(ids_read(&path).len(), 102);
    drop(j);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len() as u64, end, "closed: records only");
    assert!(text.ends_with("}\n"));
}

#[test]
fn after_a_crash_the_reserved_zeros_are_cut_and_records_continue_after_the_last() {
    let (_dir, path, mut j) = reserving(4096);
    commit_ids(&mut j, &["a", "b"]);
    // A crash: nothing cuts the reserve.
    std::mem::forget(j);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
    let mut seen = Vec::new();
    let (j, scan) = OrderJournal::open(&path, |r| seen.push(r.clone())).unwrap();
    assert_eq!((scan.records, scan.torn_tail), (2, false));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), scan.end_offset);
    let mut j = j.reserving(4096);
    commit_ids(&mut j, &["c"]);
    drop(j);
    assert_eq!(ids_read(&path), ["a", "b", "c"]);
}

#[test]
fn a_record_cut_short_before_the_zeros_is_a_torn_tail_and_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = OrderJournal::open(&path, |_| {}).unwrap();
    commit_ids(&mut j, &["a"]);
    drop(j);
    let whole = std::fs::read(&path).unwrap();
    let mut bytes = whole.clone();
    bytes.extend_from_slice(b"{\"recv_ns\":8,\"id\":\"b\"");
    bytes.resize(8192, 0);
    std::fs::write(&path, &bytes).unwrap();
    let scan = read_journal(&path, 0).unwrap();
    assert_eq!((scan.records.len(), scan.torn_tail), (1, true));
    assert_eq!(scan.end_offset, whole.len() as u64);
    let (_j, end) = OrderJournal::open(&path, |_| {}).unwrap();
    assert!(end.torn_tail);
    assert_eq!(std::fs::read(&path).unwrap(), whole);
}

/// The supervisor's status tails the journal while it is written: a read
/// that stopped at the reserved zeros finds, from its end offset, the
/// records written over them since.
#[test]
fn a_reader_stopped_at_the_zeros_finds_the_records_written_over_them_later() {
    let (_dir, path, mut j) = reserving(1 << 20);
    commit_ids(&mut j, &["a"]);
    let first = read_journal(&path, 0).unwrap();
    assert_eq!((first.records.len(), first.torn_tail), (1, false));
    commit_ids(&mut j, &["b", "c"]);
    let next = read_journal(&path, first.end_offset).unwrap();
    let ids: Vec<_> = next
        .records
        .iter()
        .map(|r| r.client_order_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["b", "c"]);
    assert!(!next.torn_tail);
}

#[test]
fn bytes_after_the_reserved_zeros_are_reported_as_a_torn_tail_and_cut() {
    let (_dir, path, mut j) = reserving(8192);
    commit_ids(&mut j, &["a"]);
    let end = read_journal(&path, 0).unwrap().end_offset;
    std::mem::forget(j);
    // A later commit's page reached the disk, an earlier one's did not.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"{\"recv_ns\":9,\"id\":\"late\"}\n", 5000)
        .unwrap();
    let (_j, scan) = OrderJournal::open(&path, |_| {}).unwrap();
    assert_eq!((scan.records, scan.torn_tail), (1, true));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
}

/// Past half its reserve the journal zero-fills the next step beside the
/// commits, which go on writing below it; a commit that would not fit
/// waits for the fill instead of writing where it writes.
#[test]
fn the_next_reserve_is_filled_beside_the_commits_once_half_is_used() {
    let (_dir, path, mut j) = reserving(8192);
    commit_ids(&mut j, &["a"]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
    assert!(j.start_fill().is_none(), "under half used");
    let many: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    commit_ids(&mut j, &many.iter().map(String::as_str).collect::<Vec<_>>());
    let fill = j.start_fill().expect("over half used: a fill is due");
    assert!(
        j.filling() && j.start_fill().is_none(),
        "one fill at a time"
    );
    // A commit that fits goes on while the fill is on its way.
    j.append(&record(Some("fits"), Outcome::Accepted)).unwrap();
    assert!(j.can_start_commit());
    let commit = j.start_commit().unwrap();
    // One that would pass the reserve waits for the fill.
    let big: Vec<String> = (0..40).map(|i| format!("big{i}")).collect();
    for id in &big {
        j.append(&record(Some(id), Outcome::Accepted)).unwrap();
    }
    assert!(!j.can_start_commit());
    assert!(j.commit().is_err(), "a synchronous commit refuses too");
    fill.run().unwrap();
    j.finish_fill(Ok(())).unwrap();
    j.finish_commit(commit.run()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 16_384);
    assert!(j.can_start_commit());
    j.commit().unwrap();
    assert_eq!(ids_read(&path).len(), 1 + 30 + 1 + 40);
    drop(j);
    assert!(!std::fs::read(&path).unwrap().contains(&0));
}
