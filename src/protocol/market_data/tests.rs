//! Market data parsing and writing: exact bytes, both parsers equal.
use super::*;
use proptest::prelude::*;

const T0: i64 = 1_704_187_800_000_000_000; // 2024-01-02 09:30:00 UTC

fn md(s: &str) -> Result<MarketData<'_>, String> {
    parse_market_data(s.as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn good_frames() {
    let p = |u| Price::from_units(u);
    let table: &[(&str, MarketData)] = &[
        (
            "AAPL,172.53,2024-01-02 09:30:00",
            MarketData {
                symbol: "AAPL",
                price: p(17_253_000_000),
                event_time_ns: Some(T0),
                send_ns: None,
            },
        ),
        (
            "AAPL,186.73,2024-01-02 09:30:00,1732512345123456789",
            MarketData {
                symbol: "AAPL",
                price: p(18_673_000_000),
                event_time_ns: Some(T0),
                send_ns: Some(1_732_512_345_123_456_789),
            },
        ),
        (
            "AAPL,172.53",
            MarketData {
                symbol: "AAPL",
                price: p(17_253_000_000),
                event_time_ns: None,
                send_ns: None,
            },
        ),
        (
            " MSFT , 186.7 , 2024-01-02T09:30:00.25 ",
            MarketData {
                symbol: "MSFT",
                price: p(18_670_000_000),
                event_time_ns: Some(T0 + 250_000_000),
                send_ns: None,
            },
        ),
        (
            "X,1e-05",
            MarketData {
                symbol: "X",
                price: p(1_000),
                event_time_ns: None,
                send_ns: None,
            },
        ),
        (
            "X,100.0",
            MarketData {
                symbol: "X",
                price: p(10_000_000_000),
                event_time_ns: None,
                send_ns: None,
            },
        ),
        (
            "X,1e2",
            MarketData {
                symbol: "X",
                price: p(10_000_000_000),
                event_time_ns: None,
                send_ns: None,
            },
        ),
    ];
    for (frame, want) in table {
        assert_eq!(md(frame).as_ref(), Ok(want), "{frame}");
    }
}

#[test]
fn bad_frames_say_which_field_and_why() {
    let table: &[(&str, &str)] = &[
        ("AAPL", "expected 2, 3 or 4 fields for market data, got 1"),
        (
            "A,1,2024-01-02 09:30:00,1,2",
            "expected 2, 3 or 4 fields for market data, got 5",
        ),
        ("AAPL,abc", "price \"abc\" is not a number"),
        ("AAPL,0", "price \"0\" must be greater than zero"),
        ("AAPL,-1.5", "price \"-1.5\" must be greater than zero"),
        ("AAPL,nan", "price \"nan\" is not a number"),
        ("AAPL,inf", "price \"inf\" is not a number"),
        ("AAPL,1e300", "price \"1e300\" is out of range"),
        (",1", "symbol \"\" is empty"),
        (
            "AA PL,1",
            "symbol \"AA PL\" may only hold A-Z a-z 0-9 . _ -",
        ),
        (
            "AAPL,1,yesterday",
            "timestamp \"yesterday\" is not YYYY-MM-DD HH:MM:SS[.fff]",
        ),
        (
            "AAPL,1,2024-02-30 00:00:00",
            "timestamp \"2024-02-30 00:00:00\" is not YYYY-MM-DD HH:MM:SS[.fff]",
        ),
        (
            "AAPL,1,2024-01-02 09:30:00,-5",
            "send_ns \"-5\" is not a non-negative integer",
        ),
        (
            "AAPL,123.45,2263-01-01 00:00:00",
            "timestamp \"2263-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
        ),
        (
            "AAPL,1,2200-01-01 00:00:00,5",
            "timestamp \"2200-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
        ),
        (
            "AAPL,1,1969-12-31 23:59:59.999999999",
            "timestamp \"1969-12-31 23:59:59.999999999\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
        ),
        (
            "AAPL,1,9999-12-31 23:59:59",
            "timestamp \"9999-12-31 23:59:59\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
        ),
        (
            "AAPL,1,0000-01-01 00:00:00",
            "timestamp \"0000-01-01 00:00:00\" is not between 1970-01-01 and 2200-01-01 (exclusive)",
        ),
    ];
    for (frame, want) in table {
        assert_eq!(md(frame).unwrap_err(), *want, "{frame}");
    }
    assert_eq!(
        parse_market_data(b"AAPL,\xff1"),
        Err(ParseError::InvalidUtf8)
    );
}

#[test]
fn event_times() {
    assert_eq!(parse_event_time("1970-01-01 00:00:00"), Some(0));
    assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
    assert_eq!(
        parse_event_time("2024-02-29 00:00:00.000000001"),
        Some(1_709_164_800_000_000_001)
    );
    assert_eq!(parse_event_time("2023-02-29 00:00:00"), None);
    assert_eq!(
        parse_event_time("2000-02-29 23:59:59"),
        Some(951_868_799_000_000_000)
    );
    assert_eq!(parse_event_time("1900-02-29 00:00:00"), None);
    for bad in [
        "2024-01-02 24:00:00",
        "2024-13-01 00:00:00",
        "2024-01-02 09:30:00.",
        "2024-01-02 09:30:00.1234567890",
        "2024-01-02 09:30",
        "2024/01/02 09:30:00",
        "2024-01-02 09:30:0x",
    ] {
        assert_eq!(parse_event_time(bad), None, "{bad}");
    }
}

#[test]
fn event_times_outside_the_range_are_refused_not_wrapped() {
    // What the tester saw: 2263 overflowed i64 nanoseconds.
    let frame = b"AAPL,123.45,2263-01-01 00:00:00";
    assert_eq!(
        fast::parse(frame),
        None,
        "the fast path defers to the general one"
    );
    assert!(matches!(
        parse_market_data(frame),
        Err(ParseError::BadField {
            field: "timestamp",
            ..
        })
    ));
    let last = EVENT_TIME_RANGE.end - 1;
    assert_eq!(
        parse_event_time("2199-12-31 23:59:59.999999999"),
        Some(last)
    );
    assert_eq!(
        parse_market_data(b"A,1,2199-12-31 23:59:59.999999999,7")
            .unwrap()
            .event_time_ns,
        Some(last)
    );
    for out in [
        "2200-01-01 00:00:00",
        "2262-04-11 23:47:16",
        "2263-01-01 00:00:00",
        "9999-12-31 23:59:59.999999999",
        "1969-12-31 23:59:59",
        "1677-09-21 00:12:43",
        "0000-01-01 00:00:00",
    ] {
        assert_eq!(parse_event_time(out), None, "{out}");
        assert_eq!(
            event_time_bytes(out.as_bytes()),
            Err(TimeError::OutOfRange),
            "{out}"
        );
    }
    // A remembered in-range date does not let an out-of-range one through.
    assert_eq!(
        parse_event_time("2199-12-31 00:00:00"),
        Some(last - 86_399_999_999_999)
    );
    assert_eq!(parse_event_time("2200-01-01 00:00:00"), None);
}

#[test]
fn writers_produce_exact_bytes() {
    let mut out = Vec::new();
    let p = Price::parse("186.73").unwrap();
    write_market_data(&mut out, "AAPL", p, Some("2024-01-02 09:30:00"), Some(42));
    write_market_data(&mut out, "AAPL", p, Some("2024-01-02 09:30:00"), None);
    write_market_data(&mut out, "AAPL", p, None, None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "AAPL,186.73,2024-01-02 09:30:00,42*AAPL,186.73,2024-01-02 09:30:00*AAPL,186.73*"
    );
}

proptest! {
    #[test]
    fn event_time_round_trips(ns in EVENT_TIME_RANGE) {
        let mut out = Vec::new();
        write_event_time(&mut out, ns);
        prop_assert_eq!(parse_event_time(std::str::from_utf8(&out).unwrap()), Some(ns));
    }

    #[test]
    fn event_times_past_the_range_are_refused_by_both_parsers(
        ns in EVENT_TIME_RANGE.end..i64::MAX,
    ) {
        let mut frame = b"AAPL,1.5,".to_vec();
        write_event_time(&mut frame, ns);
        prop_assert_eq!(fast::parse(&frame), None);
        let is_timestamp_error = matches!(
            parse_market_data_general(&frame),
            Err(ParseError::BadField { field: "timestamp", .. })
        );
        prop_assert!(is_timestamp_error);
    }

    #[test]
    fn format_then_parse_round_trips(
        symbol in "[A-Za-z0-9._-]{1,15}",
        units in 1i64..i64::MAX,
        secs in 0i64..4_102_444_800,
        send in proptest::option::of(0i64..i64::MAX),
    ) {
        let mut ts = Vec::new();
        write_event_time(&mut ts, secs * 1_000_000_000);
        let ts = String::from_utf8(ts).unwrap();
        let mut out = Vec::new();
        write_market_data(&mut out, &symbol, Price::from_units(units), Some(&ts), send);
        let frame = &out[..out.len() - 1];
        let got = parse_market_data(frame).unwrap();
        prop_assert_eq!(got, MarketData { symbol: &symbol, price: Price::from_units(units), event_time_ns: Some(secs * 1_000_000_000), send_ns: send });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse_market_data(&bytes);
    }

    #[test]
    fn swar_digits_agree_with_std(n in 0u64..=i64::MAX as u64, pad in 0usize..3) {
        let text = format!("{}{n}", "0".repeat(pad));
        let want = if text.len() <= 19 { Some(n as i64) } else { None };
        prop_assert_eq!(fast::digits_for_test(text.as_bytes()), want);
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parser(
        frame in "[A-Z.]{0,3}(,[0-9. e-]{0,12}(,(2024|19[0-9]{2}|2[0-9]{3}|[0-9]{4})-0[1-2]-[0-3][0-9][ T][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,10})?(,[0-9 -]{0,20})?)?)?,?"
    ) {
        // Both accept the same frames: the fast path either agrees or
        // defers, and every year outside the range is an error of both.
        match fast::parse(frame.as_bytes()) {
            Some(fast) => prop_assert_eq!(Ok(fast), parse_market_data_general(frame.as_bytes())),
            None => {
                if let Ok(md) = parse_market_data_general(frame.as_bytes()) {
                    prop_assert!(md.event_time_ns.is_none_or(|t| EVENT_TIME_RANGE.contains(&t)));
                }
            }
        }
    }
}

#[test]
fn the_date_memo_never_changes_an_answer() {
    assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
    assert_eq!(
        parse_event_time("2024-01-02 09:30:01"),
        Some(T0 + 1_000_000_000)
    );
    assert_eq!(parse_event_time("2024-02-30 09:30:00"), None);
    assert_eq!(
        parse_event_time("2024-01-02 24:00:00"),
        None,
        "a remembered date, a bad time"
    );
    assert_eq!(
        parse_event_time("2024-01-03 09:30:00"),
        Some(T0 + 86_400_000_000_000)
    );
    assert_eq!(parse_event_time("2024-01-02 09:30:00"), Some(T0));
}

#[test]
fn event_times_format_exactly() {
    let f = |ns| {
        let mut out = Vec::new();
        write_event_time(&mut out, ns);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(f(T0), "2024-01-02 09:30:00");
    assert_eq!(f(T0 + 250_000_000), "2024-01-02 09:30:00.25");
    assert_eq!(
        f(1_709_164_800_000_000_001),
        "2024-02-29 00:00:00.000000001"
    );
    assert_eq!(f(0), "1970-01-01 00:00:00");
}
