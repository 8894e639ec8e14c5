//! Journals with a long history, written directly: what a long-lived
//! ordermanager leaves behind, for recovery tests and measurements.

use std::io::{BufWriter, Write};
use std::path::Path;

use trading::ordermanager::journal::{ClientRef, JournalRecord};
use trading::price::Price;
use trading::protocol::{Order, Side};

/// The run part of [`history_id`]s, as the strategy's `<name>-<run>-<seq>`.
pub const HISTORY_RUN: u32 = 0x0bad_cafe;

/// The id of order `seq` of a history of `name`, in our strategy's form.
pub fn history_id(name: &str, seq: u64) -> String {
    format!("{name}-{HISTORY_RUN:08x}-{seq:x}")
}

/// The order frame of order `seq` of a history (1 AAPL at 100, BUY on odd
/// numbers and SELL on even ones, so positions stay within limits).
pub fn history_frame(name: &str, seq: u64) -> String {
    let side = if seq % 2 == 1 { "BUY" } else { "SELL" };
    format!("1,{side},1,AAPL,100,{}*", history_id(name, seq))
}

/// Writes orders 1..=`n` of `name`, all accepted, as the journal at `path`.
pub fn write_history(path: &Path, name: &str, n: u64) {
    let file = std::fs::File::create(path).expect("journal");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for seq in 1..=n {
        let id = history_id(name, seq);
        let order = Order {
            timestamp: 1.0,
            side: if seq % 2 == 1 { Side::Buy } else { Side::Sell },
            quantity: 1,
            symbol: "AAPL",
            price: Price::from_units(100 * 100_000_000),
            client_order_id: Some(&id),
        };
        let who = ClientRef {
            addr: "127.0.0.1:40000",
            name: Some(name),
        };
        let record =
            JournalRecord::for_order(1_700_000_000_000_000_000 + seq as i64, who, &order, Ok(()));
        serde_json::to_writer(&mut out, &record).expect("record");
        out.write_all(b"\n").expect("journal");
    }
    out.flush().expect("journal");
}
