use std::collections::HashMap;

use super::*;
use crate::ordermanager::journal::{ClientRef, OrderJournal};
use crate::ordermanager::seen::Resend;
use crate::price::Price;
use crate::protocol::{Order, RejectReason, Side};

/// A varied journal: three scopes, sequence and free-form ids, rejects,
/// an unparsable frame, an `ID_MISMATCH` refusal and a summary record.
fn varied_records() -> Vec<JournalRecord> {
    let mut out = Vec::new();
    let names = [Some("strat1"), Some("strat2"), None];
    for i in 0..300u64 {
        let name = names[(i % 3) as usize];
        let who = ClientRef {
            addr: "127.0.0.1:4000",
            name,
        };
        let id = match i % 5 {
            0 => format!("free{i}"),
            _ => format!("{}-0badcafe-{i:x}", name.unwrap_or("anon")),
        };
        let order = Order {
            timestamp: 1.0,
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            quantity: 1 + i % 7,
            symbol: if i % 4 == 0 { "MSFT" } else { "AAPL" },
            price: Price::from_units(10_000_000_000 + i as i64),
            client_order_id: Some(&id),
        };
        let verdict = match i % 11 {
            3 => Err(RejectReason::MaxPosition),
            _ => Ok(()),
        };
        out.push(JournalRecord::for_order(i as i64 + 1, who, &order, verdict));
        if i % 13 == 0 {
            let resent = Order {
                quantity: order.quantity + 1,
                ..order
            };
            let mismatch = Err(RejectReason::IdMismatch);
            out.push(JournalRecord::for_order(0, who, &resent, mismatch));
        }
        if i % 17 == 0 {
            let bad_id = format!("bad{i}");
            let raw = JournalRecord::for_raw(0, who, Some(&bad_id), RejectReason::BadSide, b"x");
            out.push(raw);
        }
    }
    let mut summary = JournalRecord::for_raw(
        400,
        ClientRef {
            addr: "127.0.0.1:1",
            name: None,
        },
        None,
        RejectReason::BadFrame,
        b"junk",
    );
    summary.frames = Some(40);
    out.push(summary);
    out
}

/// What the replay kept in memory before it streamed: every id's last
/// non-mismatch record, by (scope, id).
fn old_seen(records: &[JournalRecord]) -> HashMap<(String, String), &JournalRecord> {
    records
        .iter()
        .filter(|r| r.reason != Some(RejectReason::IdMismatch))
        .filter_map(|r| Some(((r.id_scope().to_string(), r.client_order_id.clone()?), r)))
        .collect()
}

#[test]
fn streaming_replay_equals_the_replay_of_every_record_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.journal");
    let records = varied_records();
    let (mut journal, _) = OrderJournal::open(&path, |_| {}).unwrap();
    for r in &records {
        journal.append(r).unwrap();
    }
    journal.commit().unwrap();
    drop(journal);

    let held = recover(&records);
    let mut streamed = Recovered::new();
    let (_, end) = OrderJournal::open(&path, |r| streamed.take(r)).unwrap();
    assert_eq!(end.records, records.len() as u64);
    assert_eq!(end.first_recv_ns, Some(1));
    assert_eq!(streamed.book, held.book);
    // Recovery reuses one (client, symbol) key across records: the book is
    // the one each record applied on its own gives.
    assert_eq!(streamed.book, PositionBook::from_records(&records));
    assert_eq!(
        (streamed.accepted, streamed.rejected),
        (held.accepted, held.rejected)
    );
    assert_eq!(streamed.rejected, held.rejected);
    let old = old_seen(&records);
    assert_eq!(streamed.seen.len(), old.len() as u64);
    for ((scope, id), r) in &old {
        let order = r.symbol.as_deref().map(|symbol| Order {
            timestamp: 1.0,
            side: r.side.unwrap(),
            quantity: r.quantity.unwrap(),
            symbol,
            price: r.price.unwrap(),
            client_order_id: Some(id),
        });
        let want = Resend::Replay(r.reason);
        assert_eq!(streamed.seen.resend(scope, id, order.as_ref()), Some(want));
        assert_eq!(held.seen.resend(scope, id, order.as_ref()), Some(want));
    }
}

#[test]
fn the_reader_stops_before_a_corrupt_line_having_read_those_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let records = varied_records();
    let good: String = records[..2]
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&path, format!("{good}\nnot json\n")).unwrap();
    let mut reader = JournalReader::open(&path, 0).unwrap();
    assert_eq!(reader.next_record().unwrap().as_ref(), Some(&records[0]));
    assert_eq!(reader.next_record().unwrap().as_ref(), Some(&records[1]));
    let e = reader.next_record().unwrap_err();
    assert!(e.to_string().contains("line 4: corrupt record"), "{e}");
    let end = reader.end();
    assert_eq!((end.records, end.end_offset), (2, good.len() as u64 + 1));
    let mut visited = 0;
    assert!(replay_journal(&path, 0, |_| visited += 1).is_err());
    assert_eq!(visited, 2);
}
