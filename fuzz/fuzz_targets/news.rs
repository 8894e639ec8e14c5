//! News frames: the parser never panics; accepted news round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trading::protocol::{parse_news, write_news};

fuzz_target!(|frame: &[u8]| {
    if let Ok(news) = parse_news(frame) {
        assert!(news.sentiment <= 100);
        let mut out = Vec::new();
        write_news(&mut out, news.symbol, news.sentiment, news.timestamp);
        assert_eq!(out.last(), Some(&b'*'));
        let again = parse_news(&out[..out.len() - 1]).expect("written news parses");
        assert_eq!(again, news, "news does not round-trip");
    }
});
