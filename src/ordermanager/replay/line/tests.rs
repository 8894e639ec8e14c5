use proptest::prelude::*;

use super::*;

/// Both readers on `text`: the same record or the same error.
fn same_outcome(text: &[u8]) -> Result<(), TestCaseError> {
    let mut record = blank_record();
    let fast = parse_line_into(text, &mut record).map(|()| record);
    prop_assert_eq!(
        fast,
        parse_line_general(text),
        "{:?}",
        String::from_utf8_lossy(text)
    );
    Ok(())
}

/// Every reject code, and one this build does not know.
fn reason() -> impl Strategy<Value = Option<RejectReason>> {
    let known = (0usize..19).prop_map(|i| {
        [
            "BAD_FRAME",
            "BAD_TIMESTAMP",
            "BAD_SIDE",
            "BAD_QUANTITY",
            "BAD_SYMBOL",
            "BAD_PRICE",
            "BAD_ORDER_ID",
            "UNKNOWN_SYMBOL",
            "MAX_QUANTITY",
            "MAX_POSITION",
            "RATE_LIMIT",
            "PRICE_BAND",
            "HALTED",
            "PRICE_RANGE",
            "MAX_NOTIONAL",
            "GLOBAL_POSITION",
            "ID_MISMATCH",
            "ID_EXPIRED",
            "AUTH_FAILED",
        ][i]
            .parse()
            .unwrap()
    });
    proptest::option::of(known)
}

/// Text as clients send it (mostly plain) or not (quotes, backslashes,
/// control characters, any Unicode), so that both readers are exercised.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_.:-]{0,24}",
        1 => "(?s).{0,12}",
    ]
}

prop_compose! {
    fn any_record()(
        recv_ns in prop_oneof![4 => 0i64..=i64::MAX, 1 => any::<i64>()],
        id in proptest::option::of(text()),
        client in text(),
        client_name in proptest::option::of(text()),
        parsed in any::<bool>(),
        buy in any::<bool>(),
        quantity in prop_oneof![1u64..10_000, any::<u64>()],
        symbol in text(),
        units in any::<i64>(),
        accepted in any::<bool>(),
        reason in reason(),
        raw in proptest::option::of(text()),
        frames in proptest::option::of(any::<u64>()),
    ) -> JournalRecord {
        JournalRecord {
            recv_ns,
            client_order_id: id,
            client,
            client_name,
            side: parsed.then_some(if buy { Side::Buy } else { Side::Sell }),
            quantity: parsed.then_some(quantity),
            symbol: parsed.then_some(symbol),
            price: parsed.then_some(Price::from_units(units)),
            outcome: if accepted { Outcome::Accepted } else { Outcome::Rejected },
            reason,
            raw,
            frames,
        }
    }
}

/// How a written line gets damaged: cut short, a byte changed, bytes put in.
#[derive(Debug, Clone)]
enum Damage {
    /// Only the first `n` bytes (a torn write).
    Cut(usize),
    /// The byte at `at` replaced.
    Replace(usize, u8),
    /// `bytes` put in at `at`.
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Replace(at, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

impl Damage {
    fn apply(&self, line: &mut Vec<u8>) {
        match self {
            Damage::Cut(n) => line.truncate(n % (line.len() + 1)),
            Damage::Replace(at, b) => {
                let at = at % line.len();
                line[at] = *b;
            }
            Damage::Insert(at, bytes) => {
                let at = at % (line.len() + 1);
                line.splice(at..at, bytes.iter().copied());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn both_readers_agree_on_every_written_line(record in any_record()) {
        let line = serde_json::to_vec(&record).unwrap();
        same_outcome(&line)?;
        prop_assert_eq!(parse_line_general(&line), Ok(record.clone()));
        // The fast reader must carry what the journal writes, or recovery
        // is slow again without any test failing.
        let plain = !line.contains(&b'\\') && record.recv_ns >= 0;
        prop_assert_eq!(fast_reader_takes(&line), plain);
    }

    #[test]
    fn both_readers_agree_on_damaged_lines(record in any_record(), damage in damage()) {
        let mut line = serde_json::to_vec(&record).unwrap();
        damage.apply(&mut line);
        same_outcome(&line)?;
    }

    #[test]
    fn both_readers_agree_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        same_outcome(&bytes)?;
    }
}

#[test]
fn lines_the_fast_reader_leaves_to_the_general_one_read_the_same() {
    let cases: [&str; 12] = [
        // Older forms and other spellings of the same record.
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null}"#,
        r#"{"id":"a","recv_ns":7,"client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null} "#,
        r#"{"recv_ns":7,"id":"a\u0041","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","client_name":null,"side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null,"frames":null}"#,
        // Numbers serde refuses or reads otherwise.
        r#"{"recv_ns":07,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":9223372036854775808,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":1.0,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":18446744073709551616,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        // Values serde refuses.
        r#"{"recv_ns":7,"id":"a","client":"c","side":"buy","quantity":1,"symbol":"AAPL","price":"1","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"x","outcome":"ACCEPTED","reason":null,"raw":null}"#,
        r#"{"recv_ns":7,"id":"a","client":"c","side":"BUY","quantity":1,"symbol":"AAPL","price":"1","outcome":"DONE","reason":null,"raw":null}"#,
    ];
    for (i, case) in cases.iter().enumerate() {
        assert!(!fast_reader_takes(case.as_bytes()), "case {i}");
        let mut record = blank_record();
        let fast = parse_line_into(case.as_bytes(), &mut record).map(|()| record);
        assert_eq!(fast, parse_line_general(case.as_bytes()), "case {i}");
        assert_eq!(fast.is_ok(), i < 5, "case {i}: {fast:?}");
    }
}

#[test]
fn a_reused_record_keeps_nothing_of_the_line_before() {
    let full = r#"{"recv_ns":7,"id":"a","client":"c","client_name":"strat1","side":"BUY","quantity":1,"symbol":"AAPL","price":"1.5","outcome":"REJECTED","reason":"SOME_NEW_CODE","raw":"x","frames":3}"#;
    let bare = r#"{"recv_ns":8,"id":null,"client":"d","side":null,"quantity":null,"symbol":null,"price":null,"outcome":"ACCEPTED","reason":null,"raw":null}"#;
    let mut record = blank_record();
    for line in [full, bare, full] {
        assert!(fast_reader_takes(line.as_bytes()));
        parse_line_into(line.as_bytes(), &mut record).unwrap();
        assert_eq!(Ok(&record), parse_line_general(line.as_bytes()).as_ref());
    }
    assert_eq!(record.reason, Some(RejectReason::BadFrame), "unknown code");
}
