//! Tests of the tick ring: order, exact loss counts, and futex wake-ups.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::testutil::{poke, syms, Seg};
use super::*;
use crate::symbol::SymbolIndex;

fn tick(seq: u64, idx: u32) -> Tick {
    let p = seq as i64 + 1;
    Tick {
        seq,
        symbol: SymbolIndex(idx),
        price_units: p,
        event_ns: p * 7 + 3,
        send_ns: p * 11,
        write_ns: p * 13,
    }
}

/// Publishes ticks `from..to` (round-robin over two symbols) like `tick`.
fn publish_range(table: &mut PriceTable, from: u64, to: u64) {
    for seq in from..to {
        let t = tick(seq, (seq % 2) as u32);
        let got = table.publish(t.symbol, t.price_units, t.event_ns, t.send_ns, t.write_ns);
        assert_eq!(got, seq);
    }
}

/// A cursor drains up to the head it last loaded without loading it again;
/// entries overwritten behind that remembered head are still caught by their
/// stamps and counted exactly, and the new ticks follow in order.
#[test]
fn a_cursor_behind_its_remembered_head_still_counts_overwritten_ticks_exactly() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 8).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    publish_range(&mut table, 0, 4);
    // Loads head 4, returns tick 0; ticks 1..4 are known to be published.
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Tick(tick(0, 0)));
    // Twenty more: head 24, the ring of 8 holds ticks 16..=23.
    publish_range(&mut table, 4, 24);
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Lost(15));
    assert_eq!(cursor.next_seq(), 16);
    for seq in 16..24 {
        assert_eq!(
            reader.ring_next(&mut cursor),
            RingRead::Tick(tick(seq, (seq % 2) as u32))
        );
    }
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Empty);
    // Cursors compare by position only, whatever head each last saw.
    assert_eq!(cursor, RingCursor::at(24));
}

#[test]
fn ring_returns_ticks_in_order_then_exact_losses() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    assert_eq!(cursor.next_seq(), 0);
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Empty);

    publish_range(&mut table, 0, 3);
    for seq in 0..3 {
        assert_eq!(
            reader.ring_next(&mut cursor),
            RingRead::Tick(tick(seq, (seq % 2) as u32))
        );
    }
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Empty);
    assert_eq!(cursor.next_seq(), 3);

    // Ten more ticks: head 13, the ring of 4 holds ticks 9..=12.
    publish_range(&mut table, 3, 13);
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Lost(6));
    assert_eq!(cursor.next_seq(), 9);
    for seq in 9..13 {
        assert_eq!(
            reader.ring_next(&mut cursor),
            RingRead::Tick(tick(seq, (seq % 2) as u32))
        );
    }
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Empty);

    assert_eq!(reader.cursor_from_oldest().next_seq(), 9);
    assert_eq!(reader.cursor_from_now().next_seq(), 13);
}

#[test]
fn late_reader_sees_whole_history_before_wrap() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 8).unwrap();
    publish_range(&mut table, 0, 8);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    let seen: Vec<u64> = std::iter::from_fn(|| match reader.ring_next(&mut cursor) {
        RingRead::Tick(t) => Some(t.seq),
        _ => None,
    })
    .collect();
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
    let mut from_now = reader.cursor_from_now();
    assert_eq!(reader.ring_next(&mut from_now), RingRead::Empty);
    publish_range(&mut table, 8, 9);
    assert_eq!(reader.ring_next(&mut from_now), RingRead::Tick(tick(8, 0)));
}

#[test]
fn entry_overwritten_after_head_was_read_counts_exact_loss() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    // Head 6: entries hold ticks 2..=5. A reader at tick 1 that loaded the
    // head when it was 5 finds entry 1 holding tick 5.
    publish_range(&mut table, 0, 6);
    let mut cursor = reader.cursor_from_oldest();
    assert_eq!(cursor.next_seq(), 2);
    let mut behind = cursor;
    assert_eq!(reader.ring_next(&mut behind), RingRead::Tick(tick(2, 0)));
    let mut stale = RingCursor::at(1);
    assert_eq!(reader.ring_step(&mut stale, 5), RingRead::Lost(1));
    assert_eq!(stale.next_seq(), 2);

    // Tick 6 half-written into entry 2 (stamp 2*6+1): tick 2 is gone, 3 is not.
    let entry2 = 448 + 2 * 64; // ring at 256 + 32 -> 320, + 2 slots -> 448
    poke(&seg.0, entry2, &13u64.to_le_bytes());
    assert_eq!(reader.ring_step(&mut cursor, 6), RingRead::Lost(1));
    assert_eq!(cursor.next_seq(), 3);
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Tick(tick(3, 1)));
}

#[test]
fn wait_for_ticks_times_out_without_ticks() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let cursor = reader.cursor_from_now();
    table.notify_readers();
    assert!(!reader.wait_for_ticks(&cursor, Duration::from_millis(20)));
    table.publish(SymbolIndex(0), 1, 1, 1, 1);
    assert!(reader.wait_for_ticks(&cursor, Duration::ZERO));
}

#[test]
fn wait_for_ticks_wakes_when_another_thread_publishes() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let cursor = reader.cursor_from_now();
    let start = Arc::new(Barrier::new(2));
    let go = Arc::clone(&start);
    let writer = std::thread::spawn(move || {
        go.wait();
        table.publish(SymbolIndex(0), 5, 6, 7, 8);
        table.notify_readers();
        table
    });
    start.wait();
    // Bounded: if the wake-up were lost this would return false after 30 s.
    assert!(reader.wait_for_ticks(&cursor, Duration::from_secs(30)));
    let mut cursor = cursor;
    match reader.ring_next(&mut cursor) {
        RingRead::Tick(t) => assert_eq!((t.seq, t.price_units), (0, 5)),
        other => panic!("expected a tick, got {other:?}"),
    }
    drop(writer.join().unwrap());
}
