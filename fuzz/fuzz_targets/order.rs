//! Order frames: the parser never panics; an order it accepts, written back
//! with `write_order`, parses to the same order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trading::protocol::{parse_order, write_order};

fuzz_target!(|frame: &[u8]| {
    match parse_order(frame) {
        Ok(order) => {
            assert!(order.quantity > 0 && order.price.units() > 0);
            let mut out = Vec::new();
            write_order(&mut out, &order);
            assert_eq!(out.last(), Some(&b'*'));
            let again = parse_order(&out[..out.len() - 1]).expect("a written order parses");
            assert_eq!(again, order, "order does not round-trip");
        }
        Err(bad) => {
            // An id reported with a rejection is always a valid id.
            if let Some(id) = bad.client_order_id {
                assert!(trading::protocol::order::valid_order_id(id));
            }
        }
    }
});
