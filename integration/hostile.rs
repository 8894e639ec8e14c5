//! The ordermanager as a real process against hostile local clients: no or
//! a wrong token, a hijacked id, one client using up the limits, absurd
//! prices with no price table, garbage floods, too many connections and a
//! slow-loris. Each test causes the fault and counts the outcome.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use trading::ordermanager::{JournalRecord, Outcome};
use trading::protocol::RejectReason;

/// An ordermanager with [`TOKEN`] and `env`; no shm table exists for it.
fn start(dir: &TestDir, tag: &str, env: &[(&'static str, &str)]) -> (Proc, SocketAddr, ShmName) {
    let shm = ShmName::new(tag);
    let config = dir.config(&shm, "");
    let mut vars = auth_env();
    vars.push(("TRADING__ORDERMANAGER__PORT", "0".into()));
    vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let mut p = spawn_role(dir, "ordermanager", &config, &vars);
    let eps = p.ready();
    (p, Proc::endpoint(&eps, "orders"), shm)
}

fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Answers to `frames` orders, one per frame, in order.
fn answers(s: &mut TcpStream, frames: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut text = String::new();
    while out.len() < frames {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed after {} answers: {:?}",
            out.len(),
            out.last()
        );
        text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        while let Some(i) = text.find('*') {
            out.push(text[..i].to_string());
            text.drain(..=i);
        }
    }
    out
}

fn stop(mut om: Proc, dir: &TestDir) -> (Vec<JournalRecord>, String) {
    om.terminate();
    assert!(om.wait().success());
    (dir.journal(), dir.read("logs/order_manager.log"))
}

#[test]
fn other_users_cannot_trade_and_an_id_cannot_be_hijacked() {
    let dir = TestDir::new();
    let (om, addr, _shm) = start(&dir, "hijack", &[]);
    // No AUTH, then a wrong token: refused, closed, nothing recorded.
    let mut none = connect_and_send(addr, b"1,BUY,5000,AAPL,100,evil1*");
    assert_eq!(read_to_close(&mut none), "REJ,-,AUTH_FAILED*");
    let mut wrong = connect_and_send(addr, b"AUTH,strat1,guess*1,BUY,1,AAPL,100,evil2*");
    assert_eq!(read_to_close(&mut wrong), "REJ,-,AUTH_FAILED*");
    // A client with a token but another name takes the id first: its own.
    let id = "strat1-0fce3c2c-1f";
    let mut evil = connect_as(addr, "evil", format!("1,SELL,1,MSFT,100,{id}*").as_bytes());
    assert_eq!(answers(&mut evil, 1), [format!("ACK,{id}")]);
    let mut strat = connect_as(
        addr,
        "strat1",
        format!("1,BUY,100,AAPL,100,{id}*").as_bytes(),
    );
    assert_eq!(answers(&mut strat, 1), [format!("ACK,{id}")]);
    // The same id with other content is refused, never ACKed.
    strat
        .write_all(format!("1,SELL,1,MSFT,100,{id}*").as_bytes())
        .unwrap();
    assert_eq!(answers(&mut strat, 1), [format!("REJ,{id},ID_MISMATCH")]);
    let (journal, log) = stop(om, &dir);
    let rows: Vec<_> = journal
        .iter()
        .map(|r| {
            (
                r.client_name.as_deref(),
                r.outcome,
                r.reason,
                r.symbol.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (Some("evil"), Outcome::Accepted, None, Some("MSFT")),
            (Some("strat1"), Outcome::Accepted, None, Some("AAPL")),
            (
                Some("strat1"),
                Outcome::Rejected,
                Some(RejectReason::IdMismatch),
                Some("MSFT")
            ),
        ]
    );
    assert!(
        log.contains("Executed order: [1] BUY 100 AAPL @ 100"),
        "{log}"
    );
    assert!(log.contains("id_mismatches: 1, auth_failures: 2"), "{log}");
}

#[test]
fn one_client_cannot_use_up_another_clients_position_limit() {
    let dir = TestDir::new();
    let env = [
        ("TRADING__ORDERMANAGER__MAX_POSITION", "100"),
        ("TRADING__ORDERMANAGER__MAX_POSITION_GLOBAL", "150"),
    ];
    let (om, addr, _shm) = start(&dir, "limits", &env);
    let orders = |tag: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("1,BUY,1,AAPL,100,{tag}{i}*"))
            .collect()
    };
    let mut a = connect_as(addr, "a", orders("a", 101).as_bytes());
    let got = answers(&mut a, 101);
    let a_ok = got.iter().filter(|r| r.starts_with("ACK")).count();
    assert_eq!((a_ok, got[100].as_str()), (100, "REJ,a100,MAX_POSITION"));
    let mut b = connect_as(addr, "b", orders("b", 96).as_bytes());
    let got = answers(&mut b, 96);
    let b_ok = got.iter().filter(|r| r.starts_with("ACK")).count();
    let b_global = got
        .iter()
        .filter(|r| r.ends_with("GLOBAL_POSITION"))
        .count();
    assert_eq!(
        (b_ok, b_global),
        (50, 46),
        "b's own room, up to the global cap"
    );
    let (journal, _) = stop(om, &dir);
    assert_eq!(journal.len(), 197);
}

#[test]
fn absurd_prices_are_refused_with_no_price_table() {
    let dir = TestDir::new();
    let (om, addr, _shm) = start(&dir, "band", &[]);
    let mut c = connect_as(
        addr,
        "c",
        b"1,BUY,1,AAPL,1000000,p1*1,BUY,1,AAPL,0.00000001,p2*1,BUY,1,AAPL,18167798412,p3*\
          1,BUY,10000,AAPL,5000,p4*1,BUY,100,AAPL,186.73,p5*",
    );
    assert_eq!(
        answers(&mut c, 5),
        [
            "REJ,p1,PRICE_RANGE",
            "REJ,p2,PRICE_RANGE",
            "REJ,p3,PRICE_RANGE",
            "REJ,p4,MAX_NOTIONAL",
            "ACK,p5"
        ]
    );
    let (journal, log) = stop(om, &dir);
    assert_eq!(journal.len(), 5);
    assert!(
        log.contains("price band skipped"),
        "the table really was absent"
    );
}

#[test]
fn a_garbage_flood_is_cut_and_costs_two_records_while_others_trade() {
    let dir = TestDir::new();
    let (om, addr, _shm) = start(&dir, "garbage", &[]);
    let mut flood = connect_as(addr, "junk", b"");
    let _ = flood.write_all("x*".repeat(100_000).as_bytes());
    assert_eq!(
        read_to_close(&mut flood),
        "",
        "disconnected, never answered"
    );
    let mut good = connect_as(addr, "good", b"1,BUY,1,AAPL,100,g1*1,BUY,x,AAPL,100,g2*");
    assert_eq!(answers(&mut good, 2), ["ACK,g1", "REJ,g2,BAD_QUANTITY"]);
    let (journal, log) = stop(om, &dir);
    let junk: Vec<_> = journal
        .iter()
        .filter(|r| r.client_name.as_deref() == Some("junk"))
        .map(|r| (r.raw.as_deref(), r.frames))
        .collect();
    assert_eq!(junk, [(Some("x"), None), (Some("x"), Some(100))]);
    assert_eq!(journal.len(), 4, "the id'd bad frame is still recorded");
    assert!(log.contains("garbage_clients: 1"), "{log}");
    let lines = log.matches("malformed order").count();
    assert!(
        (20..=25).contains(&lines),
        "a burst, then rate-limited: {lines}"
    );
}

#[test]
fn garbage_over_many_connections_is_one_client_a_few_records_and_closed_late() {
    let dir = TestDir::new();
    let (om, addr, _shm) = start(&dir, "garbage_many", &[]);
    // One client, 20 connections at once, 1,000 garbage frames each.
    const CONNS: usize = 20;
    // Before the first connection: every cut comes after it.
    let sent = std::time::Instant::now();
    let mut floods: Vec<TcpStream> = (0..CONNS)
        .map(|_| connect_as(addr, "junk", "x*".repeat(1000).as_bytes()))
        .collect();
    for flood in &mut floods {
        assert_eq!(read_to_close(flood), "", "disconnected, never answered");
    }
    // Each is cut at once but closed only after cut_linger_ms (1 s).
    assert!(sent.elapsed() >= Duration::from_millis(1000), "closed late");
    let (journal, log) = stop(om, &dir);
    let junk: Vec<_> = journal
        .iter()
        .filter(|r| r.client_name.as_deref() == Some("junk"))
        .collect();
    // Every frame up to each cut (101 in a row) is counted; they make one
    // summary record at once and one or two more (a period later, at the
    // stop), where a tally per connection wrote two per connection.
    let frames: u64 = junk.iter().map(|r| r.frames.unwrap_or(1)).sum();
    assert_eq!(frames, CONNS as u64 * 101);
    assert!((2..=3).contains(&junk.len()), "{} records", junk.len());
    assert!(log.contains(&format!("garbage_clients: {CONNS}")), "{log}");
}

#[test]
fn the_connection_cap_and_the_slow_loris_limit_hold_on_the_real_process() {
    let dir = TestDir::new();
    let env = [
        ("TRADING__ORDERMANAGER__MAX_CONNECTIONS", "3"),
        ("TRADING__ORDERMANAGER__PARTIAL_FRAME_TIMEOUT_MS", "300"),
    ];
    let (om, addr, _shm) = start(&dir, "cap", &env);
    let held: Vec<TcpStream> = (0..3)
        .map(|i| connect_as(addr, &format!("h{i}"), b""))
        .collect();
    let mut extra = TcpStream::connect(addr).unwrap();
    extra.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        read_to_close(&mut extra),
        "",
        "the fourth is closed at once"
    );
    drop(held);
    let mut ok = None;
    wait_until("a place is free again", || {
        let mut c = connect_and_send(addr, format!("AUTH,late,{TOKEN}*").as_bytes());
        let mut buf = [0u8; 8];
        let got = c.read_exact(&mut buf).is_ok() && &buf == b"AUTH_OK*";
        ok = got.then_some(c);
        got
    });
    let mut late = ok.unwrap();
    late.write_all(b"1,BUY,1,AAPL,100,l1*").unwrap();
    assert_eq!(read_n(&mut late, 7), "ACK,l1*");
    // A frame trickled and never finished is closed after 300 ms.
    let mut loris = connect_and_send(addr, b"AUTH,loris,");
    std::thread::sleep(Duration::from_millis(100));
    loris.write_all(b"x").unwrap();
    assert_eq!(read_to_close(&mut loris), "");
    let (journal, log) = stop(om, &dir);
    assert_eq!(journal.len(), 1);
    assert!(log.contains("too many connections"), "{log}");
    assert!(
        log.contains("a partial frame waited more than 300ms"),
        "{log}"
    );
}

#[test]
fn a_flooder_that_does_not_read_is_served_in_turns_and_loses_nothing() {
    let dir = TestDir::new();
    let env = [
        ("TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC", "100000000"),
        ("TRADING__ORDERMANAGER__MAX_FRAMES_PER_TURN", "16"),
        // Room for every answer of the flood, so the flooder is throttled
        // only by TCP here, never cut.
        ("TRADING__ORDERMANAGER__MAX_REPLY_BACKLOG", "16777216"),
    ];
    let (om, addr, _shm) = start(&dir, "fair", &env);
    // Tens of thousands of orders from one client over two connections,
    // each in one write, not read until the end: thousands of turns of 16
    // frames, seconds of work for a debug build.
    const FLOOD: usize = 40_000;
    let floods: Vec<_> = (0..2)
        .map(|c| {
            let flood = connect_as(addr, "flood", b"");
            let orders: String = (0..FLOOD / 2)
                .map(|i| {
                    let side = if i % 2 == 0 { "BUY" } else { "SELL" };
                    format!("1,{side},1,MSFT,100,f{c}-{i}*")
                })
                .collect();
            let mut writer = flood.try_clone().unwrap();
            let flooding = std::thread::spawn(move || writer.write_all(orders.as_bytes()).unwrap());
            (flood, flooding)
        })
        .collect();
    let mut good = connect_as(addr, "good", b"");
    for i in 0..20 {
        good.write_all(format!("1,BUY,1,AAPL,100,g{i}*").as_bytes())
            .unwrap();
        assert_eq!(answers(&mut good, 1), [format!("ACK,g{i}")]);
    }
    for (c, (mut flood, flooding)) in floods.into_iter().enumerate() {
        flooding.join().unwrap();
        let want: Vec<String> = (0..FLOOD / 2).map(|i| format!("ACK,f{c}-{i}")).collect();
        assert!(
            answers(&mut flood, FLOOD / 2) == want,
            "every flood order answered once, in order"
        );
    }
    let (journal, log) = stop(om, &dir);
    let of = |name: &str| -> Vec<usize> {
        let named = |r: &&JournalRecord| r.client_name.as_deref() == Some(name);
        let at = journal.iter().enumerate().filter(|(_, r)| named(r));
        at.map(|(i, _)| i).collect()
    };
    let (flood_at, good_at) = (of("flood"), of("good"));
    assert_eq!((flood_at.len(), good_at.len()), (FLOOD, 20));
    assert_eq!(journal.len(), FLOOD + 20, "nothing else, nothing twice");
    assert!(
        good_at[19] < flood_at[FLOOD - 1],
        "the good client's orders were decided between the flood's turns"
    );
    assert!(log.contains("slow_clients: 0"), "{log}");
    // A client's next turn waits for the commit of its last one, whichever
    // of its connections it comes from, so each commit holds at most one
    // turn of the flood (16) and one good order, however far ahead the
    // flooder has written.
    let (commits, largest) = (
        final_count(&log, "commits"),
        final_count(&log, "largest_commit"),
    );
    assert!(largest <= 16 + 1, "largest commit {largest} records");
    assert!(commits >= (FLOOD / 16) as u64, "{commits} commits");
}

/// The value of `key` in the ordermanager's `final counts` log line.
fn final_count(log: &str, key: &str) -> u64 {
    let line = log.lines().find(|l| l.contains("final counts")).unwrap();
    let at = line.find(&format!(" {key}: ")).unwrap() + key.len() + 3;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}
