//! [`ChildActor`] driven on its own: fake children (`sh -c` scripts) and a
//! recording actor standing in for the supervisor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler};
use tokio::sync::mpsc;

use super::child::*;
use super::messages::*;
use crate::config::SupervisorConfig;
use crate::lifecycle::{Exit, Role, Stop};
use crate::logging::discard;

/// Bound on any single wait of these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Stands in for the supervisor: forwards every event to the test.
struct Recorder(mpsc::UnboundedSender<ChildEvent>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<ChildEvent> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: ChildEvent, _: &mut Context<Self>) {
        let _ = self.0.send(msg);
    }
}

fn limits(initial: u64, max: u64, max_restarts: u32) -> SupervisorConfig {
    SupervisorConfig {
        backoff_initial_ms: initial,
        backoff_max_ms: max,
        max_restarts,
        restart_window_s: 60,
        stop_timeout_ms: 200,
    }
}

/// A started [`ChildActor`] running `script` under `sh -c`, and its events.
fn start(
    role: Role,
    script: &str,
    limits: SupervisorConfig,
    ready_timeout: Duration,
) -> (Addr<ChildActor>, mpsc::UnboundedReceiver<ChildEvent>) {
    start_spec(sh(role, script), limits, ready_timeout)
}

/// The spec of a fake child of `role` running `script` under `sh -c`.
fn sh(role: Role, script: &str) -> ChildSpec {
    ChildSpec {
        role,
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script.into()],
        names_predecessor: false,
    }
}

/// A started [`ChildActor`] for `spec`, and its events.
fn start_spec(
    spec: ChildSpec,
    limits: SupervisorConfig,
    ready_timeout: Duration,
) -> (Addr<ChildActor>, mpsc::UnboundedReceiver<ChildEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let parent = Recorder(tx).start().recipient();
    let child = ChildActor::new(
        spec,
        SharedEnv::default(),
        limits,
        ready_timeout,
        parent,
        discard(),
    )
    .start();
    child.do_send(StartChild);
    (child, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ChildEvent>) -> ChildEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no child event in time")
        .expect("the recorder is gone")
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// Counts its starts in `counter` and fails the first `failures` of them.
fn flaky(counter: &Path, failures: u32, then: &str) -> String {
    format!(
        "echo start >> {c}; if [ $(wc -l < {c}) -le {failures} ]; then exit 7; fi; {then}",
        c = counter.display()
    )
}

#[actix_rt::test]
async fn a_dying_child_is_restarted_with_doubling_capped_delays_until_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    let script = flaky(
        &counter,
        3,
        "echo 'READY gateway md=127.0.0.1:5000'; exec sleep 30",
    );
    let (child, mut rx) = start(Role::Gateway, &script, limits(10, 25, 5), WAIT);
    for (ms, n) in [(10, 1), (20, 2), (25, 3)] {
        assert_eq!(
            next(&mut rx).await,
            ChildEvent::Restarting {
                role: Role::Gateway,
                delay: Duration::from_millis(ms),
                restarts: n
            }
        );
    }
    assert_eq!(
        next(&mut rx).await,
        ChildEvent::Ready(
            Role::Gateway,
            vec![("md".into(), "127.0.0.1:5000".parse().unwrap())]
        )
    );
    child.send(Stop).await.unwrap();
    assert_eq!(child.send(GetRestarts).await.unwrap(), 3);
    assert_eq!(lines(&counter), 4);
}

#[actix_rt::test]
async fn a_restart_names_its_dead_predecessor_where_the_role_continues_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (counter, args) = (dir.path().join("starts"), dir.path().join("args"));
    // `sh -c SCRIPT A B` runs SCRIPT with $0 = A and $1 = B.
    let script = format!(
        "echo \"$0 $1\" >> {}; {}",
        args.display(),
        flaky(&counter, 1, "echo 'READY orderbook'; exec sleep 30")
    );
    let spec = ChildSpec {
        names_predecessor: true,
        ..sh(Role::Orderbook, &script)
    };
    let (child, mut rx) = start_spec(spec, limits(1, 1, 5), WAIT);
    assert!(matches!(
        next(&mut rx).await,
        ChildEvent::Restarting { restarts: 1, .. }
    ));
    assert!(matches!(
        next(&mut rx).await,
        ChildEvent::Ready(Role::Orderbook, _)
    ));
    let started = child.send(GetStarted).await.unwrap();
    child.send(Stop).await.unwrap();
    assert_eq!(started.len(), 2);
    let seen = std::fs::read_to_string(&args).unwrap();
    let seen: Vec<&str> = seen.lines().collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        !seen[0].contains("--replaces"),
        "a first start replaces nobody: {seen:?}"
    );
    assert_eq!(seen[1], format!("--replaces {}", started[0]));
}

#[actix_rt::test]
async fn a_spent_restart_budget_fails_the_child_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    let script = flaky(&counter, 100, "exit 0");
    let (child, mut rx) = start(Role::Orderbook, &script, limits(1, 4, 2), WAIT);
    assert!(matches!(
        next(&mut rx).await,
        ChildEvent::Restarting { restarts: 1, .. }
    ));
    assert!(matches!(
        next(&mut rx).await,
        ChildEvent::Restarting { restarts: 2, .. }
    ));
    assert_eq!(
        next(&mut rx).await,
        ChildEvent::Failed(
            Role::Orderbook,
            "orderbook died more than 2 times within 60 s (last: exit status: 7)".into()
        )
    );
    // Failed means no further start: the stop finds nothing running.
    child.send(Stop).await.unwrap();
    assert_eq!(lines(&counter), 3);
}

#[actix_rt::test]
async fn a_fatal_exit_is_reported_with_the_last_stderr_line_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    for (code, exit) in [
        (2, Exit::Config),
        (3, Exit::Journal),
        (4, Exit::Environment),
        (5, Exit::Data),
    ] {
        let script = format!(
            "echo start >> {}; echo noise >&2; echo 'error: data.csv:3: bad price' >&2; exit {code}",
            counter.display()
        );
        let (child, mut rx) = start(Role::Gateway, &script, limits(1, 1, 5), WAIT);
        assert_eq!(
            next(&mut rx).await,
            ChildEvent::CannotRun {
                role: Role::Gateway,
                exit,
                line: Some("data.csv:3: bad price".into()),
            }
        );
        child.send(Stop).await.unwrap();
        assert_eq!(child.send(GetRestarts).await.unwrap(), 0);
    }
    assert_eq!(lines(&counter), 4, "one start each, no restart");
}

#[actix_rt::test]
async fn a_child_exiting_zero_is_finished_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    let script = format!(
        "echo start >> {}; echo READY strategy; exit 0",
        counter.display()
    );
    let (child, mut rx) = start(Role::Strategy, &script, limits(1, 1, 5), WAIT);
    // The READY line always comes before the exit that follows it.
    assert_eq!(
        next(&mut rx).await,
        ChildEvent::Ready(Role::Strategy, vec![])
    );
    assert_eq!(next(&mut rx).await, ChildEvent::Finished(Role::Strategy));
    assert_eq!(child.send(GetRestarts).await.unwrap(), 0);
    assert_eq!(lines(&counter), 1);
}

#[actix_rt::test]
async fn a_child_that_never_gets_ready_fails_the_run() {
    let (child, mut rx) = start(
        Role::Strategy,
        "exec sleep 30",
        limits(1, 1, 5),
        Duration::from_millis(200),
    );
    assert_eq!(
        next(&mut rx).await,
        ChildEvent::Failed(
            Role::Strategy,
            "strategy printed no READY line within 0.2 s".into()
        )
    );
    tokio::time::timeout(WAIT, child.send(Stop))
        .await
        .expect("the stop is bounded")
        .unwrap();
}

#[actix_rt::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "trap '' TERM; echo $$ > {}; echo 'READY ordermanager orders=127.0.0.1:9'; \
         while :; do sleep 0.05; done",
        pid_file.display()
    );
    let (child, mut rx) = start(Role::Ordermanager, &script, limits(1, 1, 5), WAIT);
    assert!(matches!(
        next(&mut rx).await,
        ChildEvent::Ready(Role::Ordermanager, _)
    ));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    tokio::time::timeout(WAIT, child.send(Stop))
        .await
        .expect("the stop is bounded")
        .unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "pid {pid} survived"
    );
    // Stopped is not died: nothing more is reported.
    assert!(rx.try_recv().is_err());
}

#[actix_rt::test]
async fn a_program_that_cannot_start_fails_the_child() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let parent = Recorder(tx).start().recipient();
    let spec = ChildSpec {
        role: Role::Gateway,
        program: PathBuf::from("/nonexistent/trading-stack"),
        args: vec![],
        names_predecessor: false,
    };
    let child = ChildActor::new(
        spec,
        SharedEnv::default(),
        limits(1, 1, 5),
        WAIT,
        parent,
        discard(),
    )
    .start();
    child.do_send(StartChild);
    match next(&mut rx).await {
        ChildEvent::Failed(Role::Gateway, why) => assert!(
            why.starts_with("gateway cannot be started (/nonexistent/trading-stack): "),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}
