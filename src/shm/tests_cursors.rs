//! Tests of the reader-cursor area: registration, the writer refusing to
//! overwrite unread ticks, dead readers reclaimed, and the cached bound.

use super::testutil::{dead_pid, syms, LiveChild, Seg};
use super::*;
use crate::symbol::SymbolIndex;

/// Publishes `count` ticks; every one must find room.
fn publish_n(table: &mut PriceTable, count: u64) {
    for _ in 0..count {
        let n = table.ticks_written() as i64;
        table
            .try_publish(SymbolIndex(0), n + 1, n, 0, n)
            .expect("room for the tick");
    }
}

/// Reads every available tick; returns their sequence numbers.
fn drain(reader: &PriceTableReader, cursor: &mut RingCursor) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.ring_next(cursor) {
            RingRead::Tick(t) => seen.push(t.seq),
            RingRead::Empty => return seen,
            RingRead::Lost(n) => panic!("a registered reader lost {n} ticks"),
        }
    }
}

#[test]
fn a_reader_registers_with_its_pid_and_unregisters_on_drop() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert!(table.registered_readers().is_empty());
    let cursor = reader.cursor_from_oldest();
    let slot = reader.register_ring_reader(&cursor).unwrap();
    let me = RegisteredReader {
        pid: std::process::id(),
        next_seq: 0,
    };
    assert_eq!(table.registered_readers(), [me]);
    assert_eq!(reader.registered_readers(), [me]);
    assert_eq!(slot.guaranteed_from(), 0);
    publish_n(&mut table, 4);
    assert!(table.make_room().is_err(), "the reader holds the writer");
    drop(slot);
    assert!(table.registered_readers().is_empty());
    publish_n(&mut table, 8);
    // A late registration is guaranteed ticks from the head it saw.
    let late = reader
        .register_ring_reader(&reader.cursor_from_oldest())
        .unwrap();
    assert_eq!(late.guaranteed_from(), 12);
}

#[test]
fn the_writer_refuses_to_overwrite_unread_ticks_and_writes_nothing() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    let slot = reader.register_ring_reader(&cursor).unwrap();
    publish_n(&mut table, 4);
    let full = table
        .try_publish(SymbolIndex(0), 99, 99, 99, 99)
        .unwrap_err();
    assert_eq!(
        full,
        RingFull {
            reader_pid: std::process::id(),
            behind: 4
        }
    );
    assert_eq!(table.ticks_written(), 4);
    assert_eq!(reader.read(SymbolIndex(0)).updates, 4, "slot untouched");

    // Reading without publishing the cursor frees nothing for the writer.
    assert_eq!(drain(&reader, &mut cursor), [0, 1, 2, 3]);
    assert!(table.make_room().is_err());
    slot.publish(&cursor);
    assert_eq!(reader.registered_readers()[0].next_seq, 4);
    publish_n(&mut table, 4);
    assert!(table.make_room().is_err());
    assert_eq!(drain(&reader, &mut cursor), [4, 5, 6, 7]);
}

#[test]
fn an_unregistered_reader_never_holds_the_writer_back() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    publish_n(&mut table, 10);
    assert_eq!(reader.ring_next(&mut cursor), RingRead::Lost(6));
}

#[test]
fn a_dead_readers_slot_is_reclaimed_when_it_holds_the_writer_back() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let gone = ProcessIdentity {
        pid: dead_pid(),
        start_time: 1,
    };
    let _ghost = reader.register_as(gone, &reader.cursor_from_oldest());
    assert_eq!(table.registered_readers()[0].pid, gone.pid);
    // Its slot holds nothing back until the ring is full, then it is freed.
    publish_n(&mut table, 12);
    assert!(table.registered_readers().is_empty());
    assert_eq!(table.reader_counts().reclaimed, 1);
}

#[test]
fn a_live_child_holds_the_writer_until_it_is_killed() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut child = LiveChild::spawn();
    let id = child.identity();
    let _slot = reader
        .register_as(id, &reader.cursor_from_oldest())
        .unwrap();
    publish_n(&mut table, 4);
    let full = table.make_room().unwrap_err();
    assert_eq!(full.reader_pid, id.pid);
    assert_eq!(table.reader_counts().reclaimed, 0);
    // Killed but not reaped (a zombie) is dead too.
    child.0.kill().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while table.make_room().is_err() {
        assert!(std::time::Instant::now() < deadline, "never reclaimed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(table.reader_counts().reclaimed, 1);
    publish_n(&mut table, 8);
}

#[test]
fn slots_run_out_with_a_clear_error_and_dead_ones_are_reused() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let cursor = reader.cursor_from_now();
    let mut slots: Vec<_> = (0..READER_SLOTS)
        .map(|_| reader.register_ring_reader(&cursor).unwrap())
        .collect();
    let err = reader.register_ring_reader(&cursor).unwrap_err();
    assert!(matches!(err, ShmError::ReadersFull { slots: 64, .. }));
    assert!(err.to_string().contains("all 64 ring reader slots"));
    // A slot whose holder died is taken over by the next registration.
    let freed = slots.pop().unwrap();
    let at = freed.slot();
    drop(freed);
    let gone = ProcessIdentity {
        pid: dead_pid(),
        start_time: 1,
    };
    let ghost = reader.register_as(gone, &cursor).unwrap();
    assert_eq!(ghost.slot(), at);
    std::mem::forget(ghost); // the dead process never unregistered
    let next = reader.register_ring_reader(&cursor).unwrap();
    assert_eq!(next.slot(), at);
}

#[test]
fn the_writer_rescans_only_at_the_cached_bound() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 8).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    let slot = reader.register_ring_reader(&cursor).unwrap();
    publish_n(&mut table, 8);
    assert_eq!(table.reader_counts().rescans, 1, "the first tick scans");
    // A reader that keeps up: one scan per ring's worth of ticks, however
    // often it publishes its cursor.
    for _ in 0..4 {
        for _ in 0..4 {
            drain(&reader, &mut cursor);
            slot.publish(&cursor);
            publish_n(&mut table, 2);
        }
    }
    assert_eq!(table.ticks_written(), 40);
    assert_eq!(table.reader_counts().rescans, 5);
    // No reader at all: still one scan per ring's worth.
    drop(slot);
    publish_n(&mut table, 80);
    assert_eq!(table.reader_counts().rescans, 15);
}
