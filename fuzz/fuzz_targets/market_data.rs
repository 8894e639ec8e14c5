//! Market data frames: the parser never panics, and the single-pass fast
//! parser never disagrees with the general one (it may only defer to it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trading::protocol::market_data::{parse_both, EVENT_TIME_RANGE};
use trading::protocol::parse_market_data;

fuzz_target!(|frame: &[u8]| {
    let (fast, general) = parse_both(frame);
    if let Some(fast) = fast {
        assert_eq!(Ok(fast), general, "fast and general parsers differ");
    }
    let parsed = parse_market_data(frame);
    match (&general, &parsed) {
        (Ok(g), Ok(p)) => assert_eq!(g, p),
        (Err(_), Err(_)) => {}
        _ => panic!("parse_market_data and the general parser differ: {parsed:?} vs {general:?}"),
    }
    if let Ok(md) = parsed {
        assert!(md.price.units() > 0, "a non-positive price was accepted");
        if let Some(t) = md.event_time_ns {
            assert!(EVENT_TIME_RANGE.contains(&t), "event time out of range");
        }
    }
});
