//! The ordermanager killed with SIGKILL in the middle of a steady order
//! stream, restarted by the supervisor: nothing lost, nothing doubled. A
//! restart on a long history answers old ids by the documented rule, and
//! `--fresh` sets the journal aside instead of carrying it over.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Read;

use common::history::*;
use common::*;
use trading::ordermanager::{Outcome, PositionBook};

#[test]
fn a_killed_ordermanager_loses_and_doubles_nothing() {
    let dir = TestDir::new();
    let shm = ShmName::new("rec");
    let config = dir.config(&shm, "");
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", "4000".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "2".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "5".into()),
        ("TRADING__ORDERMANAGER__DURABILITY", "every".into()),
        // Generous bounds: on a loaded machine the answers may take a while.
        ("TRADING__STRATEGY__ORDER_TIMEOUT_MS", "20000".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "30000".into()),
    ]);
    let mut run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    wait_until("a steady order stream", || dir.journal().len() >= 200);
    let first = child_pids(&dir.read("logs/main.log"), "ordermanager");
    assert_eq!(first.len(), 1);
    signal_pid(first[0], Signal::SIGKILL);
    wait_until("the ordermanager restarted", || {
        child_pids(&dir.read("logs/main.log"), "ordermanager").len() == 2
    });
    let at_restart = dir.journal().len();
    wait_until("orders after the restart", || {
        dir.journal().len() >= at_restart + 200
    });
    run.terminate();
    assert!(run.wait().success());

    let journal = dir.journal();
    let strategy_log = dir.read("logs/strategy.log");
    // "order sent" is logged once per order (a resend is counted, not logged).
    let sent: Vec<&str> = strategy_log
        .lines()
        .filter(|l| l.contains("order sent"))
        .filter_map(|l| field(l, "id"))
        .collect();
    let distinct: HashSet<&str> = sent.iter().copied().collect();
    assert_eq!(
        sent.len(),
        distinct.len(),
        "the strategy never made two orders of one signal"
    );
    let mut in_journal: HashMap<&str, usize> = HashMap::new();
    for r in &journal {
        *in_journal
            .entry(r.client_order_id.as_deref().expect("every order has an id"))
            .or_default() += 1;
    }
    for id in &sent {
        assert_eq!(
            in_journal.get(id),
            Some(&1),
            "order {id} must be in the journal exactly once"
        );
    }
    assert_eq!(
        in_journal.len(),
        sent.len(),
        "the journal holds only orders the strategy sent"
    );

    let last = strategy_log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"))
        .expect("final counts");
    let accepted = journal
        .iter()
        .filter(|r| r.outcome == Outcome::Accepted)
        .count();
    let rejected = journal.len() - accepted;
    assert_eq!(
        field(last, "acked"),
        Some(accepted.to_string().as_str()),
        "{last}"
    );
    assert_eq!(
        field(last, "rejected"),
        Some(rejected.to_string().as_str()),
        "{last}"
    );
    assert_eq!(field(last, "unanswered"), Some("0"), "{last}");
    assert!(
        field(last, "resent").is_some_and(|n| n.parse::<u64>().is_ok()),
        "{last}"
    );

    // Positions the restarted ordermanager reported at its stop equal a
    // recomputation from the journal.
    let book = PositionBook::from_records(&journal);
    let om_log = dir.read("logs/order_manager.log");
    assert!(
        om_log.contains("recovered"),
        "the second life replayed the journal"
    );
    let mut reported: HashMap<String, (String, String)> = HashMap::new();
    for l in om_log.lines().filter(|l| l.contains(" INFO position,")) {
        let sym = field(l, "symbol").unwrap().to_string();
        reported.insert(
            sym,
            (
                field(l, "net").unwrap().to_string(),
                field(l, "realized_pnl").unwrap().to_string(),
            ),
        );
    }
    assert!(!reported.is_empty());
    for (sym, p) in &book.by_symbol {
        assert_eq!(
            reported.get(sym),
            Some(&(p.net.to_string(), p.realized().to_string())),
            "{sym}"
        );
    }
}

/// The ordermanager's `recovered` log lines so far, waiting for the first.
fn recovered_lines(dir: &TestDir) -> Vec<String> {
    let lines = || -> Vec<String> {
        let log = dir.read("logs/order_manager.log");
        log.lines()
            .filter(|l| l.contains(" recovered, "))
            .map(str::to_string)
            .collect()
    };
    wait_until("the recovered log line", || !lines().is_empty());
    lines()
}

/// Exactly `n` answers (`*`-ended) from `c`.
fn answers(c: &mut std::net::TcpStream, n: usize) -> String {
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.iter().filter(|&&b| b == b'*').count() < n {
        let k = c.read(&mut buf).expect("answers");
        assert!(k > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..k]);
    }
    String::from_utf8(got).unwrap()
}

/// Ids kept exactly per client: `RECENT_IDS_PER_SCOPE`.
const WINDOW: u64 = trading::ordermanager::seen::RECENT_IDS_PER_SCOPE as u64;

#[test]
fn a_restart_on_a_long_history_answers_old_ids_as_documented() {
    let dir = TestDir::new();
    let shm = ShmName::new("hist");
    let config = dir.config(&shm, "");
    let n = WINDOW + 4_000;
    write_history(&dir.path().join("data/orders.journal"), "strat1", n);
    let mut env = auth_env();
    env.push(("TRADING__ORDERMANAGER__PORT", "0".into()));
    let mut om = spawn_role(&dir, "ordermanager", &config, &env);
    let addr = Proc::endpoint(&om.ready(), "orders");
    let recovered = recovered_lines(&dir).remove(0);
    assert_eq!(field(&recovered, "records"), Some(n.to_string().as_str()));
    assert_eq!(field(&recovered, "ids"), Some(n.to_string().as_str()));
    assert_eq!(
        field(&recovered, "ids_exact"),
        Some(WINDOW.to_string().as_str())
    );
    assert_eq!(
        field(&recovered, "journal_since"),
        Some("2023-11-14 22:13:20 UTC")
    );

    let oldest_exact = n - WINDOW + 1;
    let other = history_frame("strat1", n).replace(",1,AAPL,", ",2,AAPL,");
    let frames = [
        history_frame("strat1", 1),                // compacted into the mark
        history_frame("strat1", oldest_exact - 1), // the mark itself
        history_frame("strat1", oldest_exact),     // exact
        history_frame("strat1", n),                // exact
        other,                                     // exact, other content
        history_frame("strat1", n + 1),            // new
        history_frame("strat2", 1),                // another client's scope
    ];
    let mut c = connect_as(addr, "strat1", frames[..6].concat().as_bytes());
    let id = |seq| history_id("strat1", seq);
    let want = format!(
        "REJ,{},ID_EXPIRED*REJ,{},ID_EXPIRED*ACK,{}*ACK,{}*REJ,{},ID_MISMATCH*ACK,{}*",
        id(1),
        id(oldest_exact - 1),
        id(oldest_exact),
        id(n),
        id(n),
        id(n + 1)
    );
    assert_eq!(answers(&mut c, 6), want);
    let mut c2 = connect_as(addr, "strat2", frames[6].as_bytes());
    assert_eq!(
        answers(&mut c2, 1),
        format!("ACK,{}*", history_id("strat2", 1))
    );
    om.terminate();
    assert!(om.wait().success());
    let journal = dir.journal();
    let added: Vec<_> = journal[n as usize..]
        .iter()
        .map(|r| (r.client_order_id.clone().unwrap(), r.reason))
        .collect();
    assert_eq!(
        added,
        [
            (id(n), Some(trading::protocol::RejectReason::IdMismatch)),
            (id(n + 1), None),
            (history_id("strat2", 1), None),
        ],
        "expired and replayed resends add nothing; the rest once each"
    );
}

#[test]
fn fresh_sets_the_journal_aside_and_starts_empty() {
    let dir = TestDir::new();
    let shm = ShmName::new("fresh");
    let config = dir.config(&shm, "");
    let journal = dir.path().join("data/orders.journal");
    write_history(&journal, "strat1", 10);
    let old = std::fs::read(&journal).unwrap();
    let mut env = auth_env();
    env.push(("TRADING__ORDERMANAGER__PORT", "0".into()));
    let cfg = config.to_str().unwrap();
    let args = [
        "--role",
        "ordermanager",
        "--config",
        cfg,
        "--exit-with-parent",
    ];
    let mut om = spawn(&dir, &[&args[..], &["--fresh"]].concat(), &env);
    let addr = Proc::endpoint(&om.ready(), "orders");
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "orders.journal")
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let name = &aside[0];
    let stamp = name.strip_prefix("orders.journal.").unwrap();
    assert!(
        stamp.len() == 16 && stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("data").join(name)).unwrap(),
        old
    );
    let recovered = recovered_lines(&dir).remove(0);
    assert_eq!(field(&recovered, "records"), Some("0"), "{recovered}");
    assert_eq!(field(&recovered, "journal_since"), Some("empty"));
    // The old history's id is new to the fresh journal: executed once.
    let mut c = connect_as(addr, "strat1", history_frame("strat1", 1).as_bytes());
    assert_eq!(
        answers(&mut c, 1),
        format!("ACK,{}*", history_id("strat1", 1))
    );
    om.terminate();
    assert!(om.wait().success());
    assert_eq!(dir.journal().len(), 1);

    // Without --fresh the next start carries this journal over, and says
    // since when.
    let mut om = spawn(&dir, &args, &env);
    om.ready();
    wait_until("the second start's line", || {
        recovered_lines(&dir).len() == 2
    });
    om.terminate();
    assert!(om.wait().success());
    let again = recovered_lines(&dir).remove(1);
    let again = again.as_str();
    assert_eq!(field(again, "records"), Some("1"), "{again}");
    assert!(
        field(again, "journal_since").is_some_and(|t| t.ends_with(" UTC") && t.starts_with("20"))
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        2
    );

    // --fresh means nothing to the other roles.
    let mut gw = spawn(
        &dir,
        &["--role", "gateway", "--config", cfg, "--fresh"],
        &env,
    );
    assert_eq!(gw.wait().code(), Some(2));
}
