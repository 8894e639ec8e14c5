//! Supervisor tests with fake children: shell scripts that print READY
//! lines, exit with chosen codes, or ignore SIGTERM.

use std::path::{Path, PathBuf};

use super::*;
use crate::logging::discard;

/// A finite-run configuration whose files all live in `dir`.
fn config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("TRADING__GATEWAY__LOOP".into(), "false".into()),
        (
            "TRADING__ORDERBOOK__SHARED_MEMORY_NAME".into(),
            format!(
                "ut_sup_{}_{}",
                std::process::id(),
                dir.display().to_string().len()
            ),
        ),
        (
            "TRADING__ORDERMANAGER__JOURNAL_PATH".into(),
            dir.join("orders.journal").display().to_string(),
        ),
        ("TRADING__LOGS__DIR".into(), dir.display().to_string()),
        (
            "TRADING__SUPERVISOR__BACKOFF_INITIAL_MS".into(),
            "10".into(),
        ),
        ("TRADING__SUPERVISOR__BACKOFF_MAX_MS".into(), "40".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS".into(), "300".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load_with_env(None, Some(env.into_iter().collect())).unwrap()
}

/// A fake child running `script` under `sh -c`.
fn fake(role: Role, script: &str) -> ChildSpec {
    ChildSpec {
        role,
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script.into()],
    }
}

/// A child that announces itself and runs until SIGTERM (then exits 0).
fn ready(role: Role, endpoints: &str) -> ChildSpec {
    fake(
        role,
        &format!(
            "trap 'exit 0' TERM; echo 'READY {} {endpoints}'; while :; do sleep 0.05; done",
            role.name()
        ),
    )
}

/// Runs the supervisor to its end on its own thread (it owns an actix system).
fn supervise_in_thread(config: Config, specs: Vec<ChildSpec>) -> anyhow::Result<RunReport> {
    std::thread::spawn(move || supervise(config, specs, discard()))
        .join()
        .unwrap()
}

#[test]
fn a_finite_run_ends_when_the_strategy_finishes_and_ports_reach_later_children() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let strategy = format!(
        "echo \"$TRADING__STRATEGY__NEWS_PORT $TRADING__STRATEGY__ORDER_MANAGER_PORT $TRADING__ORDERBOOK__MD_PORT\" > {}; echo READY strategy; exit 0",
        seen.display()
    );
    let specs = vec![
        ready(Role::Gateway, "md=127.0.0.1:4567 news=127.0.0.1:4568"),
        ready(Role::Orderbook, ""),
        fake(Role::Strategy, &strategy),
        ready(Role::Ordermanager, "orders=127.0.0.1:4569"),
    ];
    supervise_in_thread(config(dir.path(), &[]), specs).unwrap();
    assert_eq!(
        std::fs::read_to_string(seen).unwrap().trim(),
        "4568 4569 4567"
    );
}

#[test]
fn a_child_that_keeps_dying_stops_the_run_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let specs = vec![
        fake(Role::Gateway, "exit 3"),
        ready(Role::Orderbook, ""),
        ready(Role::Strategy, ""),
        ready(Role::Ordermanager, "orders=127.0.0.1:1"),
    ];
    let cfg = config(dir.path(), &[("TRADING__SUPERVISOR__MAX_RESTARTS", "2")]);
    let err = supervise_in_thread(cfg, specs).unwrap_err().to_string();
    assert!(err.contains("gateway keeps failing"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
}

#[test]
fn a_dead_child_is_restarted_and_a_stubborn_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("failed-once");
    // The gateway fails on its first start only; the ordermanager ignores SIGTERM.
    let gateway = format!(
        "if [ -f {m} ]; then trap 'exit 0' TERM; echo 'READY gateway md=127.0.0.1:1 news=127.0.0.1:2'; while :; do sleep 0.05; done; else touch {m}; exit 1; fi",
        m = marker.display()
    );
    let pid_file = dir.path().join("om.pid");
    let stubborn = format!(
        "trap '' TERM; echo $$ > {}; echo 'READY ordermanager orders=127.0.0.1:3'; while :; do sleep 0.05; done",
        pid_file.display()
    );
    let specs = vec![
        fake(Role::Gateway, &gateway),
        ready(Role::Orderbook, ""),
        fake(Role::Strategy, "echo READY strategy; exit 0"),
        fake(Role::Ordermanager, &stubborn),
    ];
    let report = supervise_in_thread(config(dir.path(), &[]), specs).unwrap();
    assert!(marker.exists());
    assert_eq!(report.restarts[0], (Role::Gateway, 1));
    assert!(
        report.restarts[1..].iter().all(|(_, n)| *n == 0),
        "{:?}",
        report.restarts
    );
    let pid = std::fs::read_to_string(pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the child that ignored SIGTERM was killed"
    );
}

#[test]
fn a_live_writer_of_the_table_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[]);
    let name = cfg.orderbook.shared_memory_name.clone();
    let table = crate::shm::PriceTable::create(&name, &cfg.symbols, 2).unwrap();
    table.heartbeat(crate::clock::unix_now_ns());
    let err = supervise(cfg, Vec::new(), discard())
        .unwrap_err()
        .to_string();
    assert!(err.contains("written by a live orderbook"), "{err}");
    table.unlink().unwrap();
}
