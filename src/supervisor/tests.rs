//! The whole supervisor with fake children: shell scripts that print READY
//! lines, record what they see, exit with chosen codes or ignore SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::logging::discard;

/// Bound on anything these tests wait for.
const WAIT: Duration = Duration::from_secs(20);

/// A shm name of its own for every test.
fn shm_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ut_sup_{}_{n}", std::process::id())
}

/// A configuration whose files all live in `dir`; `loop_replay` picks a
/// finite run (ended by the strategy) or a looping one (ended by a stop).
fn config(dir: &Path, loop_replay: bool, extra: &[(&str, &str)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("TRADING__GATEWAY__LOOP".into(), loop_replay.to_string()),
        ("TRADING__ORDERBOOK__SHARED_MEMORY_NAME".into(), shm_name()),
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
        // In-process supervisors serve no page (integration/dashboard.rs does).
        ("TRADING__DASHBOARD__ENABLED".into(), "false".into()),
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
        names_predecessor: false,
    }
}

/// A child that announces `endpoints` and runs until SIGTERM, then writes
/// its name to `stops` and exits 0.
fn ready(role: Role, endpoints: &str, stops: &Path) -> ChildSpec {
    fake(
        role,
        &format!(
            "trap 'echo {r} >> {s}; exit 0' TERM; echo 'READY {r} {endpoints}'; \
             while :; do sleep 0.05; done",
            r = role.name(),
            s = stops.display()
        ),
    )
}

/// Runs the supervisor to its end on its own thread (it owns an actix system).
fn supervise_in_thread(
    config: Config,
    specs: Vec<ChildSpec>,
    shutdown: Option<Shutdown>,
) -> anyhow::Result<RunReport> {
    let how = Supervision {
        ready_timeout: WAIT,
        shutdown: Some(shutdown.unwrap_or_else(|| Shutdown::manual().0)),
        terminal: Some(false),
    };
    std::thread::spawn(move || supervise(config, specs, discard(), how))
        .join()
        .unwrap()
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_finite_run_passes_ports_on_and_ends_in_order_when_the_strategy_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (stops, seen, gw_ports) = (
        dir.path().join("stops"),
        dir.path().join("seen"),
        dir.path().join("gw_ports"),
    );
    // The gateway dies right after its first READY; its restart must get
    // the port it announced. The strategy finishes once it saw that restart.
    let gateway = format!(
        "echo ${{TRADING__GATEWAY__MD_PORT:-none}} >> {g}; trap 'echo gateway >> {s}; exit 0' TERM; \
         echo 'READY gateway md=127.0.0.1:4567 news=127.0.0.1:4568'; \
         if [ $(wc -l < {g}) -eq 1 ]; then exit 1; fi; while :; do sleep 0.05; done",
        g = gw_ports.display(),
        s = stops.display()
    );
    let strategy = format!(
        "echo \"$TRADING__STRATEGY__NEWS_PORT $TRADING__STRATEGY__ORDER_MANAGER_PORT \
         $TRADING__ORDERBOOK__MD_PORT\" > {seen}; echo READY strategy; i=0; \
         while [ $(wc -l < {g}) -lt 2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; exit 0",
        seen = seen.display(),
        g = gw_ports.display()
    );
    let cfg = config(dir.path(), false, &[]);
    let shm = cfg.orderbook.shared_memory_name.clone();
    let segment = Path::new("/dev/shm").join(&shm);
    std::fs::write(&segment, b"not a price table").unwrap();
    let specs = vec![
        fake(Role::Gateway, &gateway),
        ready(Role::Orderbook, "", &stops),
        fake(Role::Strategy, &strategy),
        ready(Role::Ordermanager, "orders=127.0.0.1:4569", &stops),
    ];
    let report = supervise_in_thread(cfg, specs, None).unwrap();
    assert_eq!(
        std::fs::read_to_string(seen).unwrap().trim(),
        "4568 4569 4567"
    );
    assert_eq!(std::fs::read_to_string(gw_ports).unwrap(), "none\n4567\n");
    assert_eq!(
        std::fs::read_to_string(stops).unwrap(),
        "gateway\norderbook\nordermanager\n"
    );
    assert_eq!(
        report.restarts,
        [
            (Role::Gateway, 1),
            (Role::Orderbook, 0),
            (Role::Strategy, 0),
            (Role::Ordermanager, 0)
        ]
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        b"not a price table",
        "a file that is not a table is never removed"
    );
    std::fs::remove_file(&segment).unwrap();
    assert!(
        report
            .summary
            .contains("restarts        gateway=1 orderbook=0"),
        "{}",
        report.summary
    );
}

#[test]
fn a_stop_request_stops_every_child_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let stops = dir.path().join("stops");
    let strategy_up = dir.path().join("strategy_up");
    let strategy = format!(
        "trap 'echo strategy >> {s}; exit 0' TERM; touch {up}; echo READY strategy; \
         while :; do sleep 0.05; done",
        s = stops.display(),
        up = strategy_up.display()
    );
    let specs = vec![
        ready(Role::Gateway, "md=127.0.0.1:1 news=127.0.0.1:2", &stops),
        ready(Role::Orderbook, "", &stops),
        fake(Role::Strategy, &strategy),
        ready(Role::Ordermanager, "orders=127.0.0.1:3", &stops),
    ];
    let (shutdown, trigger) = Shutdown::manual();
    let cfg = config(dir.path(), true, &[]);
    let run = std::thread::spawn(move || supervise_in_thread(cfg, specs, Some(shutdown)));
    // The strategy starts last: once it runs, everything does.
    wait_for_file(&strategy_up);
    trigger.trigger();
    run.join().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(stops).unwrap(),
        "gateway\norderbook\nstrategy\nordermanager\n"
    );
}

#[test]
fn a_child_that_keeps_dying_stops_the_run_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let stops = dir.path().join("stops");
    let specs = vec![
        ready(Role::Gateway, "md=127.0.0.1:1 news=127.0.0.1:2", &stops),
        fake(Role::Orderbook, "exit 1"),
        ready(Role::Strategy, "", &stops),
        ready(Role::Ordermanager, "orders=127.0.0.1:3", &stops),
    ];
    let cfg = config(
        dir.path(),
        true,
        &[("TRADING__SUPERVISOR__MAX_RESTARTS", "2")],
    );
    let err = supervise_in_thread(cfg, specs, None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "orderbook died more than 2 times within 60 s (last: exit status: 1); see {}",
            dir.path().join("orderbook.log").display()
        )
    );
    // The strategy never started; the others were stopped in order.
    assert_eq!(
        std::fs::read_to_string(stops).unwrap(),
        "gateway\nordermanager\n"
    );
}

#[test]
fn a_fatal_exit_stops_the_run_at_once_with_the_childs_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let (stops, starts) = (dir.path().join("stops"), dir.path().join("starts"));
    // The gateway cannot bind its port: it says so on stderr and exits 4.
    let gateway = format!(
        "echo start >> {}; echo 'error: binding market data on 127.0.0.1:8000 \
         (gateway.md_port): Address in use' >&2; exit 4",
        starts.display()
    );
    let specs = vec![
        fake(Role::Gateway, &gateway),
        ready(Role::Orderbook, "", &stops),
        ready(Role::Strategy, "", &stops),
        ready(Role::Ordermanager, "orders=127.0.0.1:3", &stops),
    ];
    let cfg = config(dir.path(), true, &[]);
    let started = Instant::now();
    let err = supervise_in_thread(cfg, specs, None).unwrap_err();
    assert!(
        started.elapsed() < WAIT,
        "not at once: {:?}",
        started.elapsed()
    );
    assert_eq!(
        crate::lifecycle::exit_for(&err),
        crate::lifecycle::Exit::Environment
    );
    assert_eq!(
        err.to_string(),
        format!(
            "gateway cannot run: binding market data on 127.0.0.1:8000 (gateway.md_port): \
             Address in use (exit status 4: environment; more in {})",
            dir.path().join("gateway.log").display()
        )
    );
    // Not restarted, and nothing after it started: only the ordermanager
    // (started beside it) may have had to be stopped.
    assert_eq!(std::fs::read_to_string(starts).unwrap(), "start\n");
    let stopped = std::fs::read_to_string(stops).unwrap_or_default();
    assert!(
        stopped == "ordermanager\n" || stopped.is_empty(),
        "{stopped}"
    );
}

#[test]
fn a_child_ignoring_sigterm_does_not_hold_up_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let stops = dir.path().join("stops");
    let pid_file = dir.path().join("om.pid");
    let stubborn = format!(
        "trap '' TERM; echo $$ > {}; echo 'READY ordermanager orders=127.0.0.1:3'; \
         while :; do sleep 0.05; done",
        pid_file.display()
    );
    let specs = vec![
        ready(Role::Gateway, "md=127.0.0.1:1 news=127.0.0.1:2", &stops),
        ready(Role::Orderbook, "", &stops),
        fake(Role::Strategy, "echo READY strategy; exit 0"),
        fake(Role::Ordermanager, &stubborn),
    ];
    supervise_in_thread(config(dir.path(), false, &[]), specs, None).unwrap();
    let pid = std::fs::read_to_string(pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the child that ignored SIGTERM was killed"
    );
}

#[test]
fn a_live_writer_of_the_table_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false, &[]);
    let name = cfg.orderbook.shared_memory_name.clone();
    let table = crate::shm::PriceTable::create(&name, &cfg.symbols, 2).unwrap();
    table.heartbeat(crate::clock::unix_now_ns());
    let marker = dir.path().join("started");
    let specs = vec![fake(Role::Gateway, &format!("touch {}", marker.display()))];
    let err = supervise(cfg, specs, discard(), Supervision::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is being written by a live orderbook (pid "),
        "{err}"
    );
    assert!(!marker.exists(), "no child was started");
    table.unlink().unwrap();
}

#[test]
fn a_stopped_writer_of_the_table_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false, &[]);
    let name = cfg.orderbook.shared_memory_name.clone();
    // A writer that exists but beats no heart (SIGSTOP, or hung) still owns
    // the table: our orderbook could never create it.
    let table = crate::shm::PriceTable::create(&name, &cfg.symbols, 2).unwrap();
    table.heartbeat(0);
    let marker = dir.path().join("started");
    let specs = vec![fake(Role::Gateway, &format!("touch {}", marker.display()))];
    let err = supervise(cfg, specs, discard(), Supervision::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "is being written by a live orderbook (pid {}, though its heartbeat is stale",
            std::process::id()
        )),
        "{err}"
    );
    assert!(!marker.exists(), "no child was started");
    let reader = crate::shm::PriceTableReader::attach(&name).unwrap();
    assert_eq!(
        reader.generation(),
        table.generation(),
        "the table is untouched"
    );
    table.unlink().unwrap();
}

/// A finite run whose orderbook (a fake) waits for `go` before its READY
/// line, so that the test can put a table under the name mid-run, after the
/// start-up check; `by_orderbook` says whose pid the table's header names.
/// Returns whether the table survived the run's end.
fn table_made_mid_run_survives(by_orderbook: bool) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (stops, pid_file, go) = (
        dir.path().join("stops"),
        dir.path().join("ob.pid"),
        dir.path().join("go"),
    );
    let orderbook = format!(
        "trap 'echo orderbook >> {s}; exit 0' TERM; echo $$ > {p}.tmp; mv {p}.tmp {p}; \
         while [ ! -e {go} ]; do sleep 0.02; done; echo READY orderbook; \
         while :; do sleep 0.05; done",
        s = stops.display(),
        p = pid_file.display(),
        go = go.display()
    );
    let specs = vec![
        ready(Role::Gateway, "md=127.0.0.1:1 news=127.0.0.1:2", &stops),
        fake(Role::Orderbook, &orderbook),
        fake(Role::Strategy, "echo READY strategy; exit 0"),
        ready(Role::Ordermanager, "orders=127.0.0.1:3", &stops),
    ];
    let cfg = config(dir.path(), false, &[]);
    let name = cfg.orderbook.shared_memory_name.clone();
    let symbols = cfg.symbols.clone();
    let run = std::thread::spawn(move || supervise_in_thread(cfg, specs, None));
    wait_for_file(&pid_file);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let table = crate::shm::PriceTable::create(&name, &symbols, 2).unwrap();
    if by_orderbook {
        let child = crate::shm::ProcessIdentity::of(pid).unwrap();
        crate::shm::testutil::poke_writer(&name, child);
    }
    std::fs::write(&go, b"").unwrap();
    run.join().unwrap().unwrap();
    let survived = crate::shm::segment_owner(&name)
        .unwrap()
        .is_some_and(|o| o.generation == table.generation());
    let _ = crate::shm::unlink_segment(&name);
    survived
}

#[test]
fn the_end_of_a_run_removes_the_table_its_orderbook_created() {
    assert!(!table_made_mid_run_survives(true));
}

#[test]
fn the_end_of_a_run_leaves_a_table_another_process_created() {
    assert!(table_made_mid_run_survives(false));
}
