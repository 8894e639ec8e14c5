//! Reply frames: the parser never panics; an ACK round-trips, and a REJ with
//! a known reason code round-trips through `write_rej`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trading::protocol::{parse_reply, write_ack, write_rej, RejectReason, Reply};

fuzz_target!(|frame: &[u8]| {
    let mut out = Vec::new();
    match parse_reply(frame) {
        Ok(Reply::Ack { client_order_id }) => write_ack(&mut out, client_order_id),
        Ok(Reply::Rej {
            client_order_id,
            reason,
        }) => match reason.parse::<RejectReason>() {
            Ok(known) => write_rej(&mut out, client_order_id, known),
            Err(_) => return,
        },
        Err(_) => return,
    }
    let again = parse_reply(&out[..out.len() - 1]).expect("a written reply parses");
    assert_eq!(Ok(again), parse_reply(frame), "reply does not round-trip");
});
