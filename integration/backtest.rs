//! `trading-stack backtest` against the live system: the same CSV and
//! settings must give the same orders, positions and realised P&L.

mod common;

use common::*;
use trading::ordermanager::{JournalRecord, Outcome, PositionBook};
use trading::price::Price;

/// An order as both sides can state it: symbol, side, quantity, price, outcome.
type Row = (String, String, u64, Price, String);

fn journal_rows(journal: &[JournalRecord]) -> Vec<Row> {
    journal
        .iter()
        .map(|r| {
            let outcome = match r.outcome {
                Outcome::Accepted => "FILLED".to_string(),
                Outcome::Rejected => r.reason.map_or("?", |x| x.as_str()).to_string(),
            };
            let side = r.side.unwrap().as_str().to_string();
            (
                r.symbol.clone().unwrap(),
                side,
                r.quantity.unwrap(),
                r.price.unwrap(),
                outcome,
            )
        })
        .collect()
}

fn backtest_rows(orders_csv: &str) -> Vec<Row> {
    orders_csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 7, "{l}");
            let price = Price::parse(f[4]).unwrap();
            (
                f[1].into(),
                f[2].into(),
                f[3].parse().unwrap(),
                price,
                f[6].into(),
            )
        })
        .collect()
}

/// (symbol, net, realised) from summary.md's per-symbol table.
fn summary_positions(summary: &str) -> Vec<(String, i64, Price)> {
    summary
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            let sym = *f.get(1)?;
            SYMBOLS.contains(&sym).then(|| {
                (
                    sym.to_string(),
                    f[4].parse().unwrap(),
                    Price::parse(f[7]).unwrap(),
                )
            })
        })
        .collect()
}

/// A finite `--all` replay and a backtest of the same CSV with `env`; asserts parity.
fn live_and_backtest_agree(tag: &str, env: &[(&'static str, String)]) -> Vec<Row> {
    let dir = TestDir::new();
    let shm = ShmName::new(tag);
    let (csv, _) = wavy_csv(1_200);
    let csv_path = dir.write("wavy.csv", &csv);
    let config = dir.config(&shm, "");
    let mut all_env = finite_env(&csv_path, 0);
    all_env.extend(env.iter().cloned());
    let mut live = spawn(
        &dir,
        &["--all", "--config", config.to_str().unwrap()],
        &all_env,
    );
    let status = live.wait();
    assert!(status.success(), "live run: exit status {status}");
    let journal = dir.journal();

    let out = dir.path().join("bt");
    let mut bt = spawn(
        &dir,
        &[
            "backtest",
            "--data",
            csv_path.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &all_env,
    );
    let status = bt.wait();
    assert!(
        status.success(),
        "backtest: exit status {status}: {:?}",
        all_stderr(&bt)
    );

    let live_rows = journal_rows(&journal);
    let bt_rows = backtest_rows(&std::fs::read_to_string(out.join("orders.csv")).unwrap());
    assert!(
        live_rows.len() >= 10,
        "the data should trade often: {}",
        live_rows.len()
    );
    assert_eq!(
        bt_rows, live_rows,
        "the backtest made exactly the live orders, in order, with the same answers"
    );

    let book = PositionBook::from_records(&journal);
    let want: Vec<_> = SYMBOLS
        .iter()
        .map(|s| {
            let p = book.by_symbol.get(*s).copied().unwrap_or_default();
            (s.to_string(), p.net, p.realized())
        })
        .collect();
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(summary_positions(&summary), want, "{summary}");
    assert!(out.join("equity.svg").is_file());
    live_rows
}

#[test]
fn the_crossover_backtest_gives_exactly_the_live_orders_and_books() {
    // MAX_NOTIONAL at 10,000 refuses the orders priced above 100.00 (×100
    // shares): live and backtest must refuse the same ones.
    let env = [
        (
            "TRADING__ORDERMANAGER__MAX_ORDER_NOTIONAL",
            "10000".to_string(),
        ),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".to_string(),
        ),
    ];
    let rows = live_and_backtest_agree("btx", &env);
    let refused = rows.iter().filter(|r| r.4 == "MAX_NOTIONAL").count();
    assert!(
        refused > 0 && refused < rows.len(),
        "some but not all refused: {refused} of {}",
        rows.len()
    );
}

/// With news: a finite replay's news is paced by its ticks, and the
/// backtest draws the same items for the same ticks.
#[test]
fn with_news_the_backtest_gives_exactly_the_live_orders_and_books() {
    let env = [
        ("TRADING__STRATEGY__USE_NEWS", "true".to_string()),
        ("TRADING__GATEWAY__NEWS_EVERY_TICKS", "5".to_string()),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".to_string(),
        ),
    ];
    live_and_backtest_agree("btnews", &env);
}

#[test]
fn a_mean_reversion_backtest_gives_exactly_the_live_orders_and_books() {
    let env = [
        ("TRADING__STRATEGY__KIND", "mean_reversion".to_string()),
        (
            "TRADING__STRATEGIES__MEAN_REVERSION__WINDOW",
            "12".to_string(),
        ),
        (
            "TRADING__STRATEGIES__MEAN_REVERSION__ENTRY_Z",
            "1.5".to_string(),
        ),
        (
            "TRADING__STRATEGIES__MEAN_REVERSION__EXIT_Z",
            "0.25".to_string(),
        ),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".to_string(),
        ),
    ];
    live_and_backtest_agree("btm", &env);
}

#[test]
fn bad_data_names_file_and_line_and_exits_as_a_data_error() {
    let dir = TestDir::new();
    let config = dir.write("c.toml", "symbols = [\"AAA\"]\n");
    let backtest = |csv: &std::path::Path| {
        let args = [
            "backtest",
            "--data",
            csv.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--out",
            "o",
        ];
        let mut bt = spawn(&dir, &args, &[]);
        let code = bt.wait().code();
        (code, all_stderr(&bt).join("\n"))
    };
    let bad = dir.write(
        "bad.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAA,1\n2024-01-02 09:30:01,AAA,x\n",
    );
    let (code, err) = backtest(&bad);
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("bad.csv:3: price \"x\" is not a decimal greater than zero"),
        "{err}"
    );
    let (code, err) = backtest(&dir.write("empty.csv", ""));
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("empty.csv:1: no `timestamp` column"), "{err}");
    let (code, err) = backtest(&dir.write(
        "other.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:00,ZZZ,1\n",
    ));
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("other.csv: no ticks (1 rows skipped for symbols not in `symbols`)"),
        "{err}"
    );
    let odd = dir.write(
        "odd.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:05,AAA,1\n2024-01-02 09:30:00,ZZZ,1\n2024-01-02 09:30:01,AAA,2\n",
    );
    let (code, err) = backtest(&odd);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("1 rows of symbols not in `symbols` skipped"),
        "{err}"
    );
    assert!(
        err.contains("(first at ") && err.contains("odd.csv:4)"),
        "{err}"
    );
}

#[test]
fn a_recorded_live_run_with_news_replays_to_the_same_orders() {
    let dir = TestDir::new();
    let shm = ShmName::new("btr");
    let (csv, _) = wavy_csv(1_200);
    let csv_path = dir.write("wavy.csv", &csv);
    let config = dir.config(&shm, "");
    let recording = dir.path().join("inputs.rec");
    let mut env = finite_env(&csv_path, 4_000);
    env.extend([
        ("TRADING__STRATEGY__USE_NEWS", "true".to_string()),
        ("TRADING__GATEWAY__NEWS_RATE", "2000".to_string()),
        (
            "TRADING__STRATEGY__RECORD_PATH",
            recording.display().to_string(),
        ),
        (
            "TRADING__ORDERMANAGER__MAX_ORDERS_PER_SEC",
            "1000000".to_string(),
        ),
    ]);
    let mut live = spawn(&dir, &["--all", "--config", config.to_str().unwrap()], &env);
    let status = live.wait();
    assert!(status.success(), "live run: exit status {status}");
    let live_rows = journal_rows(&dir.journal());
    assert!(
        live_rows.len() >= 5,
        "news should let some crossovers trade: {}",
        live_rows.len()
    );

    let out = dir.path().join("replay");
    let args = [
        "backtest",
        "--replay",
        recording.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let mut bt = spawn(&dir, &args, &env);
    let status = bt.wait();
    assert!(
        status.success(),
        "replay: exit status {status}: {:?}",
        all_stderr(&bt)
    );
    let replayed = backtest_rows(&std::fs::read_to_string(out.join("orders.csv")).unwrap());
    assert_eq!(
        replayed, live_rows,
        "the replay made exactly the live orders, in order"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| ticks | 1200 |"), "{summary}");
}

#[test]
fn without_config_a_backtest_outside_the_repository_uses_the_built_in_defaults() {
    // The test's folder has no config/default.toml, as a user's data folder.
    let dir = TestDir::new();
    let csv = dir.write(
        "ticks.csv",
        "timestamp,symbol,price\n2024-01-02 09:30:00,AAPL,100\n2024-01-02 09:30:01,AAPL,101\n",
    );
    let mut bt = spawn(
        &dir,
        &["backtest", "--data", csv.to_str().unwrap(), "--out", "o"],
        &[],
    );
    let status = bt.wait();
    assert!(status.success(), "{status}: {:?}", all_stderr(&bt));
    assert!(dir.path().join("o/summary.md").is_file());
}
