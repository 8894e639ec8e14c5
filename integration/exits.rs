//! Fatal exits under `--all` and `--role`: a child that cannot run is not
//! restarted, the run stops at once with the child's own error line on the
//! terminal and the child's exit status (see `trading::lifecycle::exit`).

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Bound on how long a run that cannot go on may take to end.
const PROMPT: Duration = Duration::from_secs(30);

/// Ephemeral ports, a random walk, no news: a run that needs no data file.
fn run_env() -> Vec<(&'static str, String)> {
    let mut env = TestDir::ports_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "random_walk".to_string()),
        ("TRADING__GATEWAY__RATE", "5000".into()),
        ("TRADING__STRATEGY__USE_NEWS", "false".into()),
        ("TRADING__STRATEGY__SHORT_WINDOW", "2".into()),
        ("TRADING__STRATEGY__LONG_WINDOW", "4".into()),
        ("TRADING__SUPERVISOR__STOP_TIMEOUT_MS", "5000".into()),
    ]);
    env
}

/// What a finished `--all` run showed: its status, its stderr, its stdout.
struct Ended {
    code: Option<i32>,
    elapsed: Duration,
    stderr: Vec<String>,
    stdout: Vec<String>,
}

fn wait_for_end(mut run: Proc, started: Instant) -> Ended {
    let status = run.wait();
    let elapsed = started.elapsed();
    Ended {
        code: status.code(),
        elapsed,
        stderr: all_stderr(&run),
        stdout: std::iter::from_fn(|| run.stdout.recv_timeout(TIMEOUT).ok()).collect(),
    }
}

/// The run stopped promptly, with `status`, one terminal line saying that
/// `role` cannot run and containing every one of `words`, no restart of any
/// child, and every child gone.
fn assert_cannot_run(dir: &TestDir, end: &Ended, status: i32, role: &str, words: &[&str]) {
    assert_eq!(end.code, Some(status), "stderr: {:?}", end.stderr);
    assert!(end.elapsed < PROMPT, "took {:?}", end.elapsed);
    let said: Vec<&String> = end
        .stderr
        .iter()
        .filter(|l| l.contains("cannot run"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {:?}", end.stderr);
    assert!(
        said[0].starts_with(&format!("error: {role} cannot run: ")),
        "{}",
        said[0]
    );
    for w in words {
        assert!(said[0].contains(w), "{w:?} missing from {}", said[0]);
    }
    assert!(
        end.stdout.iter().any(|l| l.starts_with("restarts        ")
            && l.contains(&format!("{role}=0"))
            && !l.contains(|c: char| c.is_ascii_digit() && c != '0')),
        "restarts: {:?}",
        end.stdout
    );
    let main_log = dir.read("logs/main.log");
    assert_eq!(
        child_pids(&main_log, role).len(),
        1,
        "started once: {main_log}"
    );
    for r in ["gateway", "orderbook", "strategy", "ordermanager"] {
        for pid in child_pids(&main_log, r) {
            assert!(!alive(pid), "{r} (pid {pid}) is still running");
        }
    }
}

#[test]
fn a_journal_that_cannot_be_opened_stops_the_run_with_status_3() {
    let dir = TestDir::new();
    let shm = ShmName::new("exit_jopen");
    let config = dir.config(&shm, "");
    let mut env = run_env();
    env.push(("TRADING__ORDERMANAGER__JOURNAL_PATH", "/dev/full".into()));
    let started = Instant::now();
    let run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    let end = wait_for_end(run, started);
    assert_cannot_run(
        &dir,
        &end,
        3,
        "ordermanager",
        &[
            "journal",
            "/dev/full is not a regular file",
            "exit status 3",
        ],
    );
    assert!(!shm.exists());
}

/// Whether this machine lets us mount a tmpfs in a private mount namespace.
fn can_mount_tmpfs(dir: &TestDir) -> bool {
    let probe = dir.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::process::Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=4k tmpfs \"$1\"",
            "sh",
        ])
        .arg(&probe)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_full_journal_disk_stops_the_run_and_nothing_is_acked() {
    let dir = TestDir::new();
    if !can_mount_tmpfs(&dir) {
        eprintln!("SKIPPED: no private mount namespace with tmpfs here (needs root)");
        return;
    }
    let shm = ShmName::new("exit_jfull");
    let config = dir.config(&shm, "");
    let full = dir.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let mut env = run_env();
    env.push((
        "TRADING__ORDERMANAGER__JOURNAL_PATH",
        full.join("orders.journal").display().to_string(),
    ));
    // The tester's set-up: the journal on a 256 KiB tmpfs, here filled up
    // before the run, in a mount namespace of the run's own (gone with it).
    let script = "mount -t tmpfs -o size=256k tmpfs \"$1\" && \
                  { dd if=/dev/zero of=\"$1/filler\" bs=64k 2>/dev/null; \
                  exec \"$2\" --all --config \"$3\"; }";
    let started = Instant::now();
    let run = spawn_program(
        &dir,
        "unshare",
        &[
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            full.to_str().unwrap(),
            binary(),
            config.to_str().unwrap(),
        ],
        &env,
    );
    let end = wait_for_end(run, started);
    assert_cannot_run(
        &dir,
        &end,
        3,
        "ordermanager",
        &["journal could not be written", "exit status 3"],
    );
    let om_log = dir.read("logs/order_manager.log");
    assert!(
        om_log.contains("journal write failed") && om_log.contains("No space left"),
        "{om_log}"
    );
    let strategy_log = dir.read("logs/strategy.log");
    let last = strategy_log
        .lines()
        .rev()
        .find(|l| l.contains("final counts"));
    assert!(
        last.is_some_and(|l| l.contains(" acked: 0,") && !l.contains(" sent: 0,")),
        "orders sent, none acknowledged: {last:?}"
    );
    assert!(!shm.exists());
}

#[test]
fn a_bad_csv_row_stops_the_run_naming_file_and_line() {
    let dir = TestDir::new();
    let shm = ShmName::new("exit_csv");
    let config = dir.config(&shm, "");
    let csv = dir.write(
        "bad.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,1.5\n2024-01-02 09:30:01,AAPL,abc\n",
    );
    let mut env = run_env();
    env.extend([
        ("TRADING__GATEWAY__SOURCE", "csv".to_string()),
        ("TRADING__GATEWAY__DATA_PATH", csv.display().to_string()),
    ]);
    let started = Instant::now();
    let run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    let end = wait_for_end(run, started);
    let at = format!("{}:3: price \"abc\"", csv.display());
    assert_cannot_run(&dir, &end, 5, "gateway", &[&at, "gateway.data_path"]);
}

#[test]
fn a_taken_market_data_port_stops_the_run_naming_port_and_key() {
    let dir = TestDir::new();
    let shm = ShmName::new("exit_port");
    let config = dir.config(&shm, "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut env = run_env();
    env.push(("TRADING__GATEWAY__MD_PORT", port.clone()));
    let started = Instant::now();
    let run = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    let end = wait_for_end(run, started);
    let addr = format!("127.0.0.1:{port} (gateway.md_port)");
    assert_cannot_run(&dir, &end, 4, "gateway", &[&addr, "in use"]);
    drop(taken);
}

#[test]
fn a_role_prints_its_error_once() {
    let dir = TestDir::new();
    let shm = ShmName::new("exit_role");
    let config = dir.config(&shm, "");
    let cfg = config.to_str().unwrap();
    // A bad configuration value: refused before anything starts, status 2.
    let env = [("TRADING__GATEWAY__RATE", "fast".to_string())];
    let mut role = spawn(&dir, &["--role", "gateway", "--config", cfg], &env);
    assert_eq!(role.wait().code(), Some(2));
    let stderr = all_stderr(&role);
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with("error: ") && stderr[0].contains("rate"),
        "{stderr:?}"
    );
    // A failure of the running role (a bad CSV row, status 5): the log file
    // has the CRIT line, the terminal one `error:` line, not both.
    let csv = dir.write(
        "bad.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,-1\n",
    );
    let env = [
        ("TRADING__GATEWAY__SOURCE", "csv".to_string()),
        ("TRADING__GATEWAY__DATA_PATH", csv.display().to_string()),
    ];
    let mut role = spawn(&dir, &["--role", "gateway", "--config", cfg], &env);
    assert_eq!(role.wait().code(), Some(5));
    let stderr = all_stderr(&role);
    let said: Vec<&String> = stderr.iter().filter(|l| l.contains("\"-1\"")).collect();
    assert_eq!(said.len(), 1, "{stderr:?}");
    assert!(
        said[0].starts_with("error: loading market data"),
        "{stderr:?}"
    );
    let log = dir.read("logs/gateway.log");
    assert!(
        log.lines()
            .any(|l| l.contains("CRIT stopped with an error") && l.contains("exit_status: 5")),
        "{log}"
    );
}

#[test]
fn a_journal_failing_at_the_final_flush_of_a_stop_still_exits_3() {
    let dir = TestDir::new();
    if !can_mount_tmpfs(&dir) {
        eprintln!("SKIPPED: no private mount namespace with tmpfs here (needs root)");
        return;
    }
    let shm = ShmName::new("exit_jstop");
    let config = dir.config(&shm, "");
    let full = dir.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let env = [
        ("TRADING__ORDERMANAGER__PORT", "0".to_string()),
        (
            "TRADING__ORDERMANAGER__JOURNAL_PATH",
            full.join("orders.journal").display().to_string(),
        ),
        // The commit would come long after the stop: the stop's flush is
        // the first write.
        ("TRADING__ORDERMANAGER__GROUP_COMMIT_MS", "60000".into()),
        ("TRADING__ORDERMANAGER__AUTH_TOKEN", TOKEN.into()),
    ];
    let script = "mount -t tmpfs -o size=256k tmpfs \"$1\" && \
                  { dd if=/dev/zero of=\"$1/filler\" bs=64k 2>/dev/null; \
                  exec \"$2\" --role ordermanager --config \"$3\"; }";
    let mut om = spawn_program(
        &dir,
        "unshare",
        &[
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            full.to_str().unwrap(),
            binary(),
            config.to_str().unwrap(),
        ],
        &env,
    );
    let orders = Proc::endpoint(&om.ready(), "orders");
    // An unknown symbol: decided (and logged) at once, journaled, not yet committed.
    let mut client = connect_as(orders, "t", b"1732512345.1,BUY,100,ZZZZ,1.5,id-1*");
    wait_until("the order decided", || {
        dir.read("logs/order_manager.log")
            .contains("order rejected")
    });
    om.terminate();
    assert_eq!(om.wait().code(), Some(3), "stderr: {:?}", all_stderr(&om));
    // Nothing was answered: the record never reached the disk.
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut client, &mut answer);
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
}
