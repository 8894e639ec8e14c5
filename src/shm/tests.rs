//! Tests of creation, attachment, validation and slot reads/writes.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use super::testutil::{dead_pid, poke, poke_writer, syms, LiveChild, Seg};
use super::*;
use crate::symbol::SymbolIndex;

const SECOND: i64 = 1_000_000_000;

#[test]
fn create_attach_read_and_update() {
    let seg = Seg::new();
    let symbols = syms(&["AAPL", "MSFT", "GOOG"]);
    let mut table = PriceTable::create(&seg.0, &symbols, 8).unwrap();
    assert!(!table.replaced_stale());
    assert_eq!(table.symbols(), &symbols[..]);
    assert_eq!(table.symbol_index("MSFT"), Some(SymbolIndex(1)));
    assert_eq!(table.symbol_index("TSLA"), None);
    assert_ne!(table.generation(), 0);
    assert_eq!(table.name(), seg.0);

    let reader = PriceTableReader::attach_expecting(&seg.0, &symbols).unwrap();
    assert_eq!(reader.symbols(), &symbols[..]);
    assert_eq!(reader.symbol_index("GOOG"), Some(SymbolIndex(2)));
    assert_eq!(reader.generation(), table.generation());
    assert_eq!(reader.writer_pid(), std::process::id());
    assert_eq!(reader.writer(), ProcessIdentity::current());
    assert!(reader.writer_start_time() > 0);
    assert!(reader.heartbeat_ns() > 0);
    assert!(reader.is_current());
    for i in SymbolIndex::all(3) {
        assert_eq!(reader.read(i), Quote::default());
    }

    assert_eq!(
        table.publish(SymbolIndex(1), 15_000_000_000, 100, 90, 110),
        0
    );
    assert_eq!(
        reader.read(SymbolIndex(1)),
        Quote {
            price_units: 15_000_000_000,
            event_ns: 100,
            write_ns: 110,
            send_ns: 90,
            updates: 1
        }
    );
    assert_eq!(table.publish(SymbolIndex(1), -5, 200, 0, 210), 1);
    assert_eq!(table.publish(SymbolIndex(0), 7, 300, 0, 310), 2);
    let q = reader.read(SymbolIndex(1));
    assert_eq!(
        (q.price_units, q.event_ns, q.send_ns, q.updates),
        (-5, 200, 0, 2)
    );
    assert_eq!(reader.read(SymbolIndex(0)).updates, 1);
    assert_eq!(reader.read(SymbolIndex(2)).updates, 0);
    assert_eq!(table.ticks_written(), 3);
    assert_eq!(reader.ticks_written(), 3);

    table.heartbeat(42 * SECOND);
    assert_eq!(reader.heartbeat_ns(), 42 * SECOND);
    assert!(!reader.feed_ended());
    table.mark_feed_ended();
    assert!(reader.feed_ended());
    assert!(!reader.feed_cut(), "a complete end is not a cut");
}

#[test]
fn a_cut_feed_is_ended_and_says_so() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &syms(&["A"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    table.mark_feed_cut();
    assert!(reader.feed_ended() && reader.feed_cut());
    let raw = std::fs::read(std::path::Path::new("/dev/shm").join(&seg.0)).unwrap();
    assert_eq!(raw[72..80], 2u64.to_le_bytes(), "the documented byte value");
}

#[test]
fn handles_can_move_to_and_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PriceTable>();
    send_sync::<PriceTableReader>();
    send_sync::<ShmError>();
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let shown = format!("{table:?}");
    assert!(
        shown.contains(&seg.0) && shown.contains("ring_capacity: 2"),
        "{shown}"
    );
}

#[test]
fn write_slot_updates_the_slot_but_not_the_ring() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 4).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    table.write_slot(SymbolIndex(1), 11, 12, 13, 14);
    table.write_slot(SymbolIndex(1), 21, 22, 23, 24);
    let q = reader.read(SymbolIndex(1));
    assert_eq!(
        (q.price_units, q.event_ns, q.send_ns, q.write_ns, q.updates),
        (21, 22, 23, 24, 2)
    );
    assert_eq!(reader.ticks_written(), 0);
}

#[test]
fn segment_has_mode_0600() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let meta = std::fs::metadata(format!("/dev/shm/{}", seg.0)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn stale_segment_of_dead_writer_is_replaced() {
    let seg = Seg::new();
    let symbols = syms(&["A", "B"]);
    let mut old = PriceTable::create(&seg.0, &symbols, 4).unwrap();
    old.publish(SymbolIndex(0), 5, 5, 5, 5);
    let old_generation = old.generation();
    drop(old);
    poke(&seg.0, 32, &dead_pid().to_le_bytes());
    let old_reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(old_reader.writer_status(0, i64::MAX), WriterStatus::Dead);

    let new = PriceTable::create(&seg.0, &symbols, 4).unwrap();
    assert!(new.replaced_stale());
    assert_ne!(new.generation(), old_generation);
    assert!(!old_reader.is_current());
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.generation(), new.generation());
    assert_eq!(reader.read(SymbolIndex(0)).updates, 0);
    assert_eq!(reader.writer_pid(), std::process::id());
}

#[test]
fn own_leftover_segment_is_replaced() {
    let seg = Seg::new();
    drop(PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap());
    let again = PriceTable::create(&seg.0, &syms(&["A", "B"]), 2).unwrap();
    assert!(again.replaced_stale());
    assert_eq!(PriceTableReader::attach(&seg.0).unwrap().symbols().len(), 2);
}

#[test]
fn segment_of_live_writer_is_in_use() {
    let seg = Seg::new();
    let first = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let child = LiveChild::spawn();
    poke_writer(&seg.0, child.identity());
    let err = PriceTable::create(&seg.0, &syms(&["A"]), 2).err().unwrap();
    assert!(
        matches!(err, ShmError::InUse { ref name, pid } if *name == seg.0 && pid == child.0.id()),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains(&format!("writer process {}", child.0.id())));
    // The live writer's table is untouched.
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.generation(), first.generation());
}

#[test]
fn foreign_file_is_bad_magic_and_left_alone() {
    let seg = Seg::new();
    std::fs::write(format!("/dev/shm/{}", seg.0), b"hello, not a table").unwrap();
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(matches!(err, ShmError::BadMagic { ref name } if *name == seg.0));
    let err = PriceTable::create(&seg.0, &syms(&["A"]), 2).err().unwrap();
    assert!(matches!(err, ShmError::BadMagic { .. }));
    assert_eq!(
        std::fs::read(format!("/dev/shm/{}", seg.0)).unwrap(),
        b"hello, not a table"
    );
}

#[test]
fn other_layout_version_is_rejected() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    poke(&seg.0, 8, &99u32.to_le_bytes());
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(
            err,
            ShmError::VersionMismatch {
                found: 99,
                expected: LAYOUT_VERSION,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_version_1_table_is_refused_naming_both_versions() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    poke(&seg.0, 8, &1u32.to_le_bytes());
    poke(&seg.0, 80, &0u64.to_le_bytes());
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "price table /dev/shm/{} has layout version 1, this build reads version {}; \
             restart the writer with the same build",
            seg.0, LAYOUT_VERSION
        )
    );
}

#[test]
fn a_version_1_leftover_is_judged_by_its_pid_alone() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let child = LiveChild::spawn();
    poke(&seg.0, 8, &1u32.to_le_bytes());
    poke_writer(
        &seg.0,
        ProcessIdentity {
            pid: child.0.id(),
            start_time: 0,
        },
    );
    let err = PriceTable::create(&seg.0, &syms(&["A"]), 2).err().unwrap();
    assert!(
        matches!(err, ShmError::InUse { pid, .. } if pid == child.0.id()),
        "{err}"
    );
    poke(&seg.0, 32, &dead_pid().to_le_bytes());
    assert!(PriceTable::create(&seg.0, &syms(&["A"]), 2)
        .unwrap()
        .replaced_stale());
}

#[test]
fn a_reused_pid_does_not_keep_a_dead_process_alive() {
    let seg = Seg::new();
    let symbols = syms(&["A"]);
    let old = PriceTable::create(&seg.0, &symbols, 2).unwrap();
    let old_generation = old.generation();
    drop(old);
    // A live process has the recorded pid, but it started at another time:
    // the pid was handed on after the writer died.
    let child = LiveChild::spawn();
    let mut reused = child.identity();
    reused.start_time -= 1;
    poke_writer(&seg.0, reused);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.writer(), reused);
    assert_eq!(reader.writer_status(0, i64::MAX), WriterStatus::Dead);
    let new = PriceTable::create(&seg.0, &symbols, 2).unwrap();
    assert!(new.replaced_stale());
    assert_ne!(new.generation(), old_generation);
}

#[test]
fn a_zombie_writer_is_dead() {
    let seg = Seg::new();
    let symbols = syms(&["A"]);
    drop(PriceTable::create(&seg.0, &symbols, 2).unwrap());
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let writer = ProcessIdentity::of(child.id()).unwrap();
    poke_writer(&seg.0, writer);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    assert_eq!(reader.writer_status(0, i64::MAX), WriterStatus::Alive);
    assert!(matches!(
        PriceTable::create(&seg.0, &symbols, 2),
        Err(ShmError::InUse { .. })
    ));
    child.kill().unwrap();
    // Killed but not reaped: a zombie still holding the pid.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{}/stat", writer.pid))
        .unwrap()
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never became a zombie"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(reader.writer_status(0, i64::MAX), WriterStatus::Dead);
    let new = PriceTable::create(&seg.0, &symbols, 2).unwrap();
    assert!(new.replaced_stale());
    child.wait().unwrap();
}

#[test]
fn truncated_or_inconsistent_segments_are_rejected() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 4).unwrap();
    // 256 header + 32 directory -> slots at 320, ring at 448 up to 704,
    // reader area on the next page at 4096, total 8192.
    let path = format!("/dev/shm/{}", seg.0);
    poke(&seg.0, 56, &8193u64.to_le_bytes());
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(err, ShmError::Corrupt { ref what, .. } if what.contains("8192")),
        "{err}"
    );
    poke(&seg.0, 56, &8192u64.to_le_bytes());
    poke(&seg.0, 88, &704u64.to_le_bytes());
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(err, ShmError::Corrupt { ref what, .. } if what.contains("readers")),
        "{err}"
    );
    poke(&seg.0, 88, &4096u64.to_le_bytes());
    poke(&seg.0, 256, b"\0");
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(err, ShmError::Corrupt { ref what, .. } if what.contains("entry 0")),
        "{err}"
    );
    poke(&seg.0, 256, b"A");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(600)
        .unwrap();
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(
            err,
            ShmError::TooSmall {
                size: 600,
                needed: 8192,
                ..
            }
        ),
        "{err}"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(
        matches!(
            err,
            ShmError::TooSmall {
                size: 100,
                needed: 256,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn attach_expecting_other_symbols_is_a_mismatch() {
    let seg = Seg::new();
    let _table = PriceTable::create(&seg.0, &syms(&["A", "B"]), 2).unwrap();
    let err = PriceTableReader::attach_expecting(&seg.0, &syms(&["B", "A"]))
        .err()
        .unwrap();
    match err {
        ShmError::SymbolMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, syms(&["B", "A"]));
            assert_eq!(found, syms(&["A", "B"]));
        }
        other => panic!("expected SymbolMismatch, got {other}"),
    }
}

#[test]
fn unlink_removes_the_segment() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    table.unlink().unwrap();
    assert!(!reader.is_current());
    let err = PriceTableReader::attach(&seg.0).err().unwrap();
    assert!(matches!(err, ShmError::Io { ref source, .. } if source.kind() == ErrorKind::NotFound));
    assert!(!unlink_segment(&seg.0).unwrap());
    drop(PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap());
    assert!(unlink_segment(&seg.0).unwrap());
    assert!(!unlink_segment(&seg.0).unwrap());
}

#[test]
fn bad_arguments_are_rejected_before_touching_dev_shm() {
    let err = PriceTable::create("a/b", &syms(&["A"]), 2).err().unwrap();
    assert!(matches!(err, ShmError::InvalidName { ref name } if name == "a/b"));
    let seg = Seg::new();
    let err = PriceTable::create(&seg.0, &syms(&["A"]), 3).err().unwrap();
    assert!(matches!(err, ShmError::BadCapacity { capacity: 3, .. }));
    let err = PriceTable::create(&seg.0, &syms(&["A", "A"]), 2)
        .err()
        .unwrap();
    assert!(matches!(err, ShmError::BadSymbol { .. }));
    assert!(matches!(
        unlink_segment(""),
        Err(ShmError::InvalidName { .. })
    ));
    assert!(!std::path::Path::new(&format!("/dev/shm/{}", seg.0)).exists());
}

#[test]
fn writer_status_reports_alive_stale_and_dead() {
    let seg = Seg::new();
    let table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    table.heartbeat(100 * SECOND);
    assert_eq!(
        reader.writer_status(101 * SECOND, 2 * SECOND),
        WriterStatus::Alive
    );
    assert_eq!(
        reader.writer_status(103 * SECOND, 2 * SECOND),
        WriterStatus::Stale
    );
    poke(&seg.0, 32, &dead_pid().to_le_bytes());
    assert_eq!(
        reader.writer_status(101 * SECOND, 2 * SECOND),
        WriterStatus::Dead
    );
}

#[test]
fn slot_left_mid_write_by_dead_writer_reads_as_unwritten() {
    let seg = Seg::new();
    let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 2).unwrap();
    table.publish(SymbolIndex(0), 1, 1, 1, 1);
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    // Slot 0 is at 256 + 16 rounded up to 64 = 320; sequence 3 = mid-write.
    poke(&seg.0, 320, &3u64.to_le_bytes());
    poke(&seg.0, 32, &dead_pid().to_le_bytes());
    assert_eq!(reader.read(SymbolIndex(0)), Quote::default());
}

#[test]
fn concurrent_reads_are_never_torn() {
    let seg = Seg::new();
    let symbols = syms(&["A", "B"]);
    let mut table = PriceTable::create(&seg.0, &symbols, 1024).unwrap();
    let reader = PriceTableReader::attach(&seg.0).unwrap();
    const N: i64 = 100_000;
    let writer = std::thread::spawn(move || {
        for p in 1..=N {
            table.publish(
                SymbolIndex::new((p % 2) as usize),
                p,
                p * 7 + 3,
                p * 11,
                p * 13,
            );
        }
        table.mark_feed_ended();
    });
    let mut last = [0u64; 2];
    loop {
        let ended = reader.feed_ended();
        for (i, last) in last.iter_mut().enumerate() {
            let q = reader.read(SymbolIndex::new(i));
            assert!(q.updates >= *last, "update count went backwards");
            *last = q.updates;
            if q.updates > 0 {
                let p = q.price_units;
                assert_eq!(
                    (q.event_ns, q.send_ns, q.write_ns),
                    (p * 7 + 3, p * 11, p * 13)
                );
                assert_eq!(p % 2, i as i64);
            }
        }
        if ended {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(last, [N as u64 / 2, N as u64 / 2]);
    assert_eq!(reader.read(SymbolIndex(0)).price_units, N);
    assert_eq!(reader.read(SymbolIndex(1)).price_units, N - 1);
}
