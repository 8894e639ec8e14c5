//! `trading-stack bench --quick`: the command runs end to end against real
//! processes and writes a complete report. Behaviour only: the figures and
//! the PASS/MISS of the targets depend on the machine and are never asserted
//! here (tests must stay correct on a slow machine).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn quick_bench_writes_every_section_and_loses_no_tick() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(common::binary())
        .args(["bench", "--quick", "--ticks", "20000", "--out"])
        .arg(out.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bench");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "bench exited with {status}");

    let report = std::fs::read_to_string(out.path().join("bench.md")).expect("bench.md");
    for section in [
        "| CPU |",
        "## Targets",
        "## Floors",
        "loopback TCP round trip",
        "the same, each after 2 ms idle",
        "its floor is the idle round trip",
        "read + split + parse",
        "`O_DSYNC`",
        "## Feed throughput, rate = 0",
        "through the orderbook",
        "to the strategy's last tick",
        "## Latency",
        "tick → order, 1000 ticks/s",
        "tick → order, 10000 ticks/s",
        "tick → order, one tick in flight",
        "tick → ACK (fsync), 1000 ticks/s",
        "## Memory",
        "| orderbook |",
        "| strategy |",
        "| ordermanager |",
        "Shared-memory segment",
        "## Memory by input size",
        "| 20000 ticks | 200000 ticks |",
        "| gateway |",
        "| supervisor |",
    ] {
        assert!(
            report.contains(section),
            "report lacks {section:?}:\n{report}"
        );
    }
    assert!(
        report.contains(
            "20000 ticks sent as fast as TCP takes them; the strategy read 20000, lost 0 \
             (sent minus read)"
        ),
        "every tick reached the strategy:\n{report}"
    );
    assert!(
        report.contains("| ticks lost = 0 (all scenarios) | 0 |"),
        "{report}"
    );
    for plot in ["latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(out.path().join(plot)).expect(plot);
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{plot}");
    }
    // Nothing of the run is left behind: no segment, no process, no scratch
    // directory of this bench process (its children's command lines name
    // its scratch directory, `trading-bench-<pid>-…`).
    let pid = child.id();
    let names = |dir: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let segment = format!("_{pid}_");
    let segments: Vec<_> = names("/dev/shm")
        .into_iter()
        .filter(|n| n.starts_with("bench_") && n.contains(&segment))
        .collect();
    assert!(segments.is_empty(), "segments left: {segments:?}");
    let scratch = format!("trading-bench-{pid}-");
    let dirs: Vec<_> = names(std::env::temp_dir().to_str().unwrap())
        .into_iter()
        .filter(|n| n.starts_with(&scratch))
        .collect();
    assert!(dirs.is_empty(), "scratch directories left: {dirs:?}");
    let procs: Vec<_> = names("/proc")
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&scratch))
        })
        .collect();
    assert!(procs.is_empty(), "processes left: {procs:?}");
}
