//! The ordermanager killed with SIGKILL in the middle of a steady order
//! stream, restarted by the supervisor: nothing lost, nothing doubled.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use trading::ordermanager::{Outcome, PositionBook};

/// `key: value` from a slog-term line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}: "))? + key.len() + 3;
    let rest = &line[start..];
    Some(rest.split(", ").next().unwrap_or(rest).trim())
}

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
