use super::*;

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
    let ids: Vec<_> = read_journal(&path, 0)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.client_order_id.unwrap())
        .collect();
    assert_eq!(ids, ["a", "c"]);
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
