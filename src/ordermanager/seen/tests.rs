use super::*;
use crate::ordermanager::journal::{ClientRef, Outcome};
use crate::price::Price;
use crate::protocol::Side;

fn order(side: Side, quantity: u64, symbol: &'static str) -> Order<'static> {
    Order {
        timestamp: 1.0,
        side,
        quantity,
        symbol,
        price: Price::from_units(100),
        client_order_id: Some("x1"),
    }
}

fn who(name: Option<&str>) -> ClientRef<'_> {
    ClientRef {
        addr: "127.0.0.1:1",
        name,
    }
}

fn accepted(o: &Order<'_>) -> SeenOrder {
    SeenOrder {
        answer: None,
        content: Some(OrderContent::of(o)),
    }
}

#[test]
fn ids_are_scoped_and_a_mismatch_record_keeps_the_original_answer() {
    let buy = order(Side::Buy, 100, "AAPL");
    let sell = order(Side::Sell, 1, "MSFT");
    let mut seen = SeenIds::new();
    seen.recover(&JournalRecord::for_order(
        1,
        who(Some("evil")),
        &sell,
        Ok(()),
    ));
    seen.recover(&JournalRecord::for_order(
        2,
        who(Some("strat1")),
        &buy,
        Ok(()),
    ));
    seen.recover(&JournalRecord::for_order(
        3,
        who(Some("strat1")),
        &sell,
        Err(RejectReason::IdMismatch),
    ));
    assert_eq!(seen.len(), 2, "one id, two scopes");
    assert_eq!(
        seen.resend("strat1", "x1", Some(&buy)),
        Some(Resend::Replay(None))
    );
    assert_eq!(
        seen.resend("strat1", "x1", Some(&sell)),
        Some(Resend::Mismatch)
    );
    assert_eq!(seen.resend("strat1", "x1", None), Some(Resend::Mismatch));
    assert_eq!(
        seen.resend("evil", "x1", Some(&sell)),
        Some(Resend::Replay(None))
    );
    assert_eq!(
        seen.resend("", "x1", Some(&buy)),
        None,
        "anonymous is a scope of its own"
    );
    let mut rej = JournalRecord::for_order(4, who(None), &buy, Err(RejectReason::MaxPosition));
    rej.client_order_id = Some("r".into());
    seen.recover(&rej);
    assert_eq!(
        seen.resend("", "r", Some(&buy)),
        Some(Resend::Replay(Some(RejectReason::MaxPosition)))
    );
    let mut bare = rej.clone();
    (bare.client_order_id, bare.reason, bare.outcome) = (Some("b".into()), None, Outcome::Rejected);
    seen.recover(&bare);
    assert_eq!(
        seen.resend("", "b", Some(&buy)),
        Some(Resend::Replay(Some(RejectReason::BadFrame)))
    );
}

#[test]
fn sequence_ids_past_the_window_become_a_mark_and_expire() {
    let buy = order(Side::Buy, 100, "AAPL");
    let mut seen = SeenIds::with_window(4);
    for seq in 1..=10u64 {
        seen.insert("s", &format!("s-0a0b-{seq:x}"), accepted(&buy));
    }
    assert_eq!((seen.len(), seen.exact_len()), (10, 4));
    for seq in 7..=10u64 {
        let id = format!("s-0a0b-{seq:x}");
        assert_eq!(
            seen.resend("s", &id, Some(&buy)),
            Some(Resend::Replay(None)),
            "{id} is in the window: exact"
        );
    }
    for seq in 1..=6u64 {
        let id = format!("s-0a0b-{seq:x}");
        assert_eq!(seen.resend("s", &id, Some(&buy)), Some(Resend::Expired));
        assert_eq!(seen.resend("s", &id, None), Some(Resend::Expired));
    }
    assert_eq!(seen.resend("s", "s-0a0b-b", Some(&buy)), None, "new");
    assert_eq!(seen.resend("s", "s-0a0c-1", Some(&buy)), None, "other run");
    assert_eq!(
        seen.resend("t", "s-0a0b-1", Some(&buy)),
        None,
        "other scope"
    );
    let only_marks = seen.scopes["s"].compacted.len();
    assert_eq!(only_marks, 0, "nothing per id was kept for a sequence");
}

#[test]
fn other_ids_past_the_window_keep_their_answer_and_content() {
    let buy = order(Side::Buy, 100, "AAPL");
    let sell = order(Side::Sell, 100, "AAPL");
    let mut seen = SeenIds::with_window(2);
    seen.insert("c", "alpha", accepted(&buy));
    seen.insert(
        "c",
        "beta",
        SeenOrder {
            answer: Some(RejectReason::MaxPosition),
            content: Some(OrderContent::of(&sell)),
        },
    );
    seen.insert(
        "c",
        "garbage",
        SeenOrder {
            answer: Some(RejectReason::BadSide),
            content: None,
        },
    );
    for n in 0..5 {
        seen.insert("c", &format!("gamma{n}"), accepted(&buy));
    }
    assert_eq!(seen.exact_len(), 2);
    assert_eq!(
        seen.resend("c", "alpha", Some(&buy)),
        Some(Resend::Replay(None))
    );
    assert_eq!(
        seen.resend("c", "alpha", Some(&sell)),
        Some(Resend::Mismatch)
    );
    assert_eq!(seen.resend("c", "alpha", None), Some(Resend::Mismatch));
    assert_eq!(
        seen.resend("c", "beta", Some(&sell)),
        Some(Resend::Replay(Some(RejectReason::MaxPosition)))
    );
    assert_eq!(
        seen.resend("c", "garbage", None),
        Some(Resend::Replay(Some(RejectReason::BadSide)))
    );
    assert_eq!(
        seen.resend("c", "garbage", Some(&buy)),
        Some(Resend::Mismatch)
    );
    assert_eq!(seen.resend("c", "delta", Some(&buy)), None);
}

#[test]
fn a_prefix_that_goes_backwards_is_kept_hashed_not_expired() {
    let buy = order(Side::Buy, 100, "AAPL");
    let sell = order(Side::Sell, 100, "AAPL");
    let mut seen = SeenIds::with_window(2);
    // Random hex tails under one prefix: not a sequence.
    seen.insert("c", "ord-ff", accepted(&buy));
    seen.insert("c", "ord-03", accepted(&sell));
    for n in 0..4 {
        seen.insert("c", &format!("other{n}"), accepted(&buy));
    }
    assert_eq!(
        seen.resend("c", "ord-ff", Some(&buy)),
        Some(Resend::Replay(None))
    );
    assert_eq!(
        seen.resend("c", "ord-03", Some(&sell)),
        Some(Resend::Replay(None))
    );
    assert_eq!(seen.resend("c", "ord-01", Some(&buy)), None, "still new");
}

#[test]
fn sequence_ids_are_a_prefix_and_a_hex_tail() {
    assert_eq!(
        parse_sequence("strat1-9f2c11aa-2a"),
        Some(("strat1-9f2c11aa", 42))
    );
    assert_eq!(parse_sequence("a-0"), Some(("a", 0)));
    assert_eq!(parse_sequence("-1"), None);
    assert_eq!(parse_sequence("a-"), None);
    assert_eq!(parse_sequence("a-xyz"), None);
    assert_eq!(parse_sequence("plain"), None);
    assert_eq!(parse_sequence("a-11112222333344445"), None, "over 64 bits");
}

/// Ids and symbols past the inline size, and two sequence prefixes taking
/// turns in one scope (each insert switching the remembered prefix): a
/// resend gets the recorded answer or `ID_MISMATCH` while its id is in the
/// window, and after that the same or `ID_EXPIRED` (sequence ids only).
mod long_and_interleaved {
    use proptest::prelude::*;

    use super::*;

    const LONG: &str = "a-strategy-with-a-name-well-past-thirty-bytes";

    fn id(form: u8, n: u64) -> String {
        match form % 4 {
            0 => format!("s1-0a0b-{n:x}"),
            1 => format!("{LONG}-0c0d-{n:x}"),
            2 => format!("free{n}"),
            _ => format!("{LONG}-free-{n}-x"),
        }
    }

    proptest! {
        #[test]
        fn resends_get_their_answer_mismatch_or_expired(
            inserts in proptest::collection::vec((any::<u8>(), any::<bool>(), any::<bool>()), 1..60),
            window in 1usize..6,
        ) {
            let symbols: [&'static str; 2] = ["AAPL", "A_SYMBOL_LONGER_THAN_THIRTY_BYTES_X"];
            let mut seen = SeenIds::with_window(window);
            let mut recorded = Vec::new();
            for (n, (form, long_symbol, rejected)) in inserts.into_iter().enumerate() {
                let id = id(form, n as u64);
                let o = order(Side::Buy, 1 + n as u64, symbols[usize::from(long_symbol)]);
                let answer = rejected.then_some(RejectReason::MaxPosition);
                let content = Some(OrderContent::of(&o));
                seen.insert("c", &id, SeenOrder { answer, content });
                recorded.push((id, o, answer));
            }
            prop_assert_eq!(seen.exact_len(), recorded.len().min(window));
            let first_exact = recorded.len().saturating_sub(window);
            for (i, (id, o, answer)) in recorded.iter().enumerate() {
                let other = Order { quantity: o.quantity + 1000, ..*o };
                let sequence = parse_sequence(id).is_some() && !id.contains("free");
                let (same, changed) = (seen.resend("c", id, Some(o)), seen.resend("c", id, Some(&other)));
                if i >= first_exact || !sequence {
                    prop_assert_eq!(same, Some(Resend::Replay(*answer)), "{}", id);
                    prop_assert_eq!(changed, Some(Resend::Mismatch), "{}", id);
                } else {
                    prop_assert!(matches!(same, Some(Resend::Replay(a)) if a == *answer) || same == Some(Resend::Expired), "{} {:?}", id, same);
                    prop_assert!(changed == Some(Resend::Mismatch) || changed == Some(Resend::Expired), "{} {:?}", id, changed);
                }
            }
        }
    }
}
