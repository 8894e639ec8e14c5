//! The ordermanager as a real process: back-to-back orders, bad input,
//! the original protocol, and a crash in the middle of a stream.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

fn start(dir: &TestDir, shm: &ShmName, port: u16) -> (Proc, std::net::SocketAddr) {
    start_with(dir, shm, port, &[])
}

/// An ordermanager with [`TOKEN`] and the extra environment `env`.
fn start_with(
    dir: &TestDir,
    shm: &ShmName,
    port: u16,
    env: &[(&'static str, String)],
) -> (Proc, std::net::SocketAddr) {
    let config = dir.config(shm, "");
    let mut vars = auth_env();
    vars.push(("TRADING__ORDERMANAGER__PORT", port.to_string()));
    vars.extend_from_slice(env);
    let mut p = spawn_role(dir, "ordermanager", &config, &vars);
    let eps = p.ready();
    (p, Proc::endpoint(&eps, "orders"))
}

fn read_n(s: &mut std::net::TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn a_thousand_orders_in_one_write_are_all_answered_executed_and_journaled() {
    let dir = TestDir::new();
    let shm = ShmName::new("om1k");
    let (mut om, addr) = start(&dir, &shm, 0);
    let orders: String = (0..1000)
        .map(|i| {
            format!(
                "1732512345.5,{},1,AAPL,100.{:02},c{i}*",
                if i % 2 == 0 { "BUY" } else { "SELL" },
                i % 100
            )
        })
        .collect();
    let mut c = connect_as(addr, "it1", orders.as_bytes());
    let want: String = (0..1000).map(|i| format!("ACK,c{i}*")).collect();
    assert_eq!(read_n(&mut c, want.len()), want);
    assert_eq!(dir.journal().len(), 1000);
    om.terminate();
    assert!(om.wait().success());
    let executed = dir
        .read("logs/order_manager.log")
        .lines()
        .filter(|l| l.contains("Executed order: [1732512345.5]"))
        .count();
    assert_eq!(executed, 1000);
}

#[test]
fn malformed_frames_are_counted_and_the_connection_stays_open() {
    let dir = TestDir::new();
    let shm = ShmName::new("ombad");
    let (mut om, addr) = start(&dir, &shm, 0);
    let mut c = connect_as(addr, "it1", b"hello*1,BUY,1,AAPL,1,m1*1,BUY,x,AAPL,1,m2*1,HOLD,1,AAPL,1,m3***\xff*1,SELL,1,AAPL,abc,m4*");
    let want = "ACK,m1*REJ,m2,BAD_QUANTITY*REJ,m3,BAD_SIDE*REJ,m4,BAD_PRICE*";
    assert_eq!(read_n(&mut c, want.len()), want);
    c.write_all(b"1,SELL,1,AAPL,1,m5*").unwrap();
    assert_eq!(read_n(&mut c, 7), "ACK,m5*", "still open after bad input");
    om.terminate();
    assert!(om.wait().success());
    let log = dir.read("logs/order_manager.log");
    assert_eq!(
        log.matches("malformed order").count(),
        5,
        "hello, m2, m3, \\xff, m4"
    );
    assert!(log.contains("malformed: 5"), "the final counts say so");
}

#[test]
fn an_order_with_an_id_and_a_byte_that_is_not_utf8_gets_exactly_its_rej() {
    let dir = TestDir::new();
    let shm = ShmName::new("omutf8");
    let (mut om, addr) = start(&dir, &shm, 0);
    // Invalid UTF-8 in the symbol, then in the price, then an id that is
    // itself not UTF-8 (no answer possible), then an order dated past 2200.
    let mut c = connect_as(
        addr,
        "it1",
        b"1732512345.5,BUY,1,AA\xffPL,1.0,u1*1732512345.5,SELL,1,AAPL,1.\xc3,u2*\
          1732512345.5,BUY,1,AAPL,1.0,u\xff3*1e300,BUY,1,AAPL,1.0,u4*",
    );
    let want = "REJ,u1,BAD_FRAME*REJ,u2,BAD_FRAME*REJ,u4,BAD_TIMESTAMP*";
    assert_eq!(read_n(&mut c, want.len()), want);
    c.write_all(b"1732512345.5,BUY,1,AAPL,1.0,u5*").unwrap();
    assert_eq!(read_n(&mut c, 7), "ACK,u5*", "nothing else was answered");
    om.terminate();
    assert!(om.wait().success());
    let journal = dir.journal();
    let ids: Vec<_> = journal
        .iter()
        .map(|r| (r.client_order_id.as_deref(), r.reason.map(|r| r.as_str())))
        .collect();
    assert_eq!(
        ids,
        [
            (Some("u1"), Some("BAD_FRAME")),
            (Some("u2"), Some("BAD_FRAME")),
            (None, Some("BAD_FRAME")),
            (Some("u4"), Some("BAD_TIMESTAMP")),
            (Some("u5"), None),
        ]
    );
}

#[test]
fn the_original_protocol_without_ids_works_and_is_never_answered() {
    let dir = TestDir::new();
    let shm = ShmName::new("omorig");
    let open = [("TRADING__ORDERMANAGER__REQUIRE_AUTH", "false".to_string())];
    let (mut om, addr) = start_with(&dir, &shm, 0, &open);
    // What the Python client really sends: str(time.time()), five fields,
    // and no AUTH: it works only where auth is switched off explicitly.
    let mut c = connect_and_send(
        addr,
        b"1795571018.5577044,BUY,100,AAPL,186.73*1795571018.6,SELL,100,AAPL,186.7*",
    );
    wait_until("both orders journaled", || dir.journal().len() == 2);
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Err(e) => assert!(matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        Ok(n) => panic!("the server wrote {n} bytes to a client without ids"),
    }
    om.terminate();
    assert!(om.wait().success());
    let log = dir.read("logs/order_manager.log");
    assert!(
        log.contains("Executed order: [1795571018.5577044] BUY 100 AAPL @ 186.73"),
        "{log}"
    );
    assert!(log.contains("Executed order: [1795571018.6] SELL 100 AAPL @ 186.7"));
}

#[test]
fn after_a_crash_resent_ids_are_answered_again_not_executed_twice() {
    let dir = TestDir::new();
    let shm = ShmName::new("omcrash");
    let (mut om, addr) = start(&dir, &shm, 0);
    let first: String = (0..50)
        .map(|i| format!("1,BUY,10,AAPL,100,k{i}*"))
        .collect();
    let mut c = connect_as(addr, "it1", first.as_bytes());
    let want: String = (0..50).map(|i| format!("ACK,k{i}*")).collect();
    assert_eq!(read_n(&mut c, want.len()), want);
    om.signal(Signal::SIGKILL);
    om.wait();
    // A crash mid-write leaves half a record behind, just after the last
    // whole one (over the zeros the journal reserves ahead of its records).
    let journal = dir.path().join("data/orders.journal");
    let bytes = std::fs::read(&journal).unwrap();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new()
            .write(true)
            .open(&journal)
            .unwrap(),
        br#"{"recv_ns":1,"id":"half"#,
        end as u64,
    )
    .unwrap();

    let (mut om, addr2) = start(&dir, &shm, addr.port());
    assert_eq!(addr2, addr, "same port");
    let resend: String = (40..60)
        .map(|i| format!("1,BUY,10,AAPL,100,k{i}*"))
        .collect();
    let mut c = connect_as(addr, "it1", resend.as_bytes());
    let want: String = (40..60).map(|i| format!("ACK,k{i}*")).collect();
    assert_eq!(read_n(&mut c, want.len()), want);
    om.terminate();
    assert!(om.wait().success());

    let records = dir.journal();
    assert_eq!(records.len(), 60, "k40..k49 were not recorded twice");
    let log = dir.read("logs/order_manager.log");
    assert!(
        log.contains("journal ended in a torn record"),
        "the torn tail is reported"
    );
    assert!(
        log.contains("recovered, role: ordermanager, records: 50, accepted: 50"),
        "{log}"
    );
    assert!(log.contains("duplicates: 10"));
    let net = trading::ordermanager::PositionBook::from_records(&records).net("AAPL");
    assert_eq!(net, 600);
    assert!(
        log.contains("symbol: AAPL, net: 600,"),
        "the recovered position continues"
    );
}
