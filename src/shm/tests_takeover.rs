//! Tests of [`PriceTable::take_over`]: a restarted writer continues its dead
//! predecessor's table, and touches no other.

use super::testutil::{dead_pid, poke, poke_writer, syms, Seg};
use super::*;
use crate::symbol::SymbolIndex;

/// A process identity that is certainly dead.
fn dead_writer() -> ProcessIdentity {
    ProcessIdentity {
        pid: dead_pid(),
        start_time: 4242,
    }
}

/// Publishes a tick of symbol `idx` at `price` with the feed at `frames`.
fn tick(table: &mut PriceTable, idx: u32, price: i64, frames: u64) -> u64 {
    table.set_feed_position(frames);
    table.publish(
        SymbolIndex(idx),
        price,
        price * 10,
        price * 100,
        price * 1000,
    )
}

fn taken(t: TakeOver) -> (PriceTable, u64, usize) {
    match t {
        TakeOver::Taken {
            table,
            feed_position,
            repaired_slots,
        } => (*table, feed_position, repaired_slots),
        TakeOver::NotTaken(why) => panic!("not taken: {why}"),
    }
}

fn not_taken(t: TakeOver) -> String {
    match t {
        TakeOver::Taken { .. } => panic!("taken"),
        TakeOver::NotTaken(why) => why,
    }
}

#[test]
fn a_dead_writers_table_continues_at_its_head_and_readers_lose_and_repeat_nothing() {
    let seg = Seg::new();
    let symbols = syms(&["A", "B"]);
    let mut first = PriceTable::create(&seg.0, &symbols, 8).unwrap();
    // Frames 3 and 6 of the feed were not ticks (bad or unknown symbol).
    for (n, frames) in [1, 2, 4, 5, 7].into_iter().enumerate() {
        assert_eq!(
            tick(&mut first, (n % 2) as u32, 100 + n as i64, frames),
            n as u64
        );
    }
    let generation = first.generation();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let mut cursor = reader.cursor_from_oldest();
    let _slot = reader.register_ring_reader(&cursor).unwrap();
    for want in 0..3 {
        assert!(matches!(reader.ring_next(&mut cursor), RingRead::Tick(t) if t.seq == want));
    }
    drop(first);
    let previous = dead_writer();
    poke_writer(&seg.0, previous);

    let (mut second, resume, repaired) =
        taken(PriceTable::take_over(&seg.0, &symbols, 8, previous).unwrap());
    assert_eq!(resume, 7, "the gateway resumes after the last tick's frame");
    assert_eq!(repaired, 0);
    assert_eq!(second.ticks_written(), 5);
    assert_eq!(
        second.generation(),
        generation,
        "readers need not re-attach"
    );
    assert!(reader.is_current());
    assert_eq!(reader.writer(), ProcessIdentity::current());

    assert_eq!(tick(&mut second, 0, 200, 8), 5);
    let seqs: Vec<(u64, i64)> = std::iter::from_fn(|| match reader.ring_next(&mut cursor) {
        RingRead::Tick(t) => Some((t.seq, t.price_units)),
        other => {
            assert_eq!(other, RingRead::Empty);
            None
        }
    })
    .collect();
    assert_eq!(seqs, [(3, 103), (4, 104), (5, 200)]);
    assert_eq!(reader.read(SymbolIndex(0)).price_units, 200);
    // A third writer taking over from the second finds the new position.
    drop(second);
    let again = dead_writer();
    poke_writer(&seg.0, again);
    let (_third, resume, _) = taken(PriceTable::take_over(&seg.0, &symbols, 8, again).unwrap());
    assert_eq!(resume, 8);
}

#[test]
fn an_empty_table_resumes_the_feed_from_its_start() {
    let seg = Seg::new();
    let symbols = syms(&["A"]);
    drop(PriceTable::create(&seg.0, &symbols, 4).unwrap());
    let previous = dead_writer();
    poke_writer(&seg.0, previous);
    let (table, resume, _) = taken(PriceTable::take_over(&seg.0, &symbols, 4, previous).unwrap());
    assert_eq!((resume, table.ticks_written()), (0, 0));
}

#[test]
fn only_the_named_dead_writers_table_of_the_same_shape_is_taken() {
    let seg = Seg::new();
    let symbols = syms(&["A", "B"]);
    let missing = not_taken(PriceTable::take_over(&seg.0, &symbols, 8, dead_writer()).unwrap());
    assert!(missing.contains("no table"), "{missing}");

    let live = PriceTable::create(&seg.0, &symbols, 8).unwrap();
    let me = ProcessIdentity::current();
    let alive = not_taken(PriceTable::take_over(&seg.0, &symbols, 8, me).unwrap());
    assert!(alive.contains("still alive"), "{alive}");
    drop(live);

    let previous = dead_writer();
    poke_writer(&seg.0, previous);
    let other = not_taken(PriceTable::take_over(&seg.0, &symbols, 8, dead_writer()).unwrap());
    assert!(other.contains("not the previous orderbook"), "{other}");
    let ring = not_taken(PriceTable::take_over(&seg.0, &symbols, 16, previous).unwrap());
    assert!(ring.contains("16 are configured"), "{ring}");
    let names = not_taken(PriceTable::take_over(&seg.0, &syms(&["A", "C"]), 8, previous).unwrap());
    assert!(!names.is_empty());
    // None of the refusals changed the table: it is still there to take.
    taken(PriceTable::take_over(&seg.0, &symbols, 8, previous).unwrap());
    let twice = not_taken(PriceTable::take_over(&seg.0, &symbols, 8, previous).unwrap());
    assert!(twice.contains("not the previous orderbook"), "{twice}");
}

#[test]
fn a_slot_the_dead_writer_left_half_written_is_restored_from_the_ring() {
    let seg = Seg::new();
    let symbols = syms(&["A", "B"]);
    let mut first = PriceTable::create(&seg.0, &symbols, 4).unwrap();
    for (price, frames) in [(11, 1), (12, 2), (13, 3)] {
        tick(&mut first, 0, price, frames);
    }
    tick(&mut first, 1, 21, 4);
    drop(first);
    // Slot 0 (256 + 2·16 rounded up to 64 = 320): mid-write, fields torn.
    poke(&seg.0, 320, &7u64.to_le_bytes());
    poke(&seg.0, 328, &999i64.to_le_bytes());
    let previous = dead_writer();
    poke_writer(&seg.0, previous);
    let (_table, _, repaired) =
        taken(PriceTable::take_over(&seg.0, &symbols, 4, previous).unwrap());
    assert_eq!(repaired, 1);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    let q = reader.read(SymbolIndex(0));
    assert_eq!(
        (q.price_units, q.event_ns, q.send_ns, q.write_ns),
        (13, 130, 1300, 13000)
    );
    assert_eq!(reader.read(SymbolIndex(1)).price_units, 21);
}
