//! Loading, layering, errors and paths of the configuration.
use super::*;
use std::io::Write;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Option<config::Map<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn error_of(path: Option<&Path>, vars: &[(&str, &str)]) -> String {
    Config::load_with_env(path, env(vars))
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_load_and_match_the_original_layout() {
    let c = Config::load_with_env(None, env(&[])).unwrap();
    assert_eq!(c.symbols, ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN"]);
    assert_eq!(c.gateway.md_port, 8000);
    assert_eq!(c.gateway.news_port, 8001);
    assert_eq!(c.ordermanager.port, 9000);
    assert_eq!(c.gateway.host, "127.0.0.1");
    assert!(c.gateway.loop_replay);
    assert_eq!(c.gateway.source, MarketSource::Csv);
    assert_eq!(c.ordermanager.durability, Durability::Group);
}

#[test]
fn a_file_overrides_only_the_keys_it_names() {
    let f = file("[gateway]\nloop = false\nrate = 0\n[strategy]\nuse_news = false\n");
    let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
    assert!(!c.gateway.loop_replay);
    assert_eq!(c.gateway.rate, 0);
    assert!(!c.strategy.use_news);
    assert_eq!(c.strategy.long_window, 20);
}

#[test]
fn environment_overrides_the_file() {
    let f = file("[gateway]\nmd_port = 7000\n");
    let c = Config::load_with_env(
        Some(f.path()),
        env(&[
            ("TRADING__GATEWAY__MD_PORT", "7100"),
            ("TRADING__SYMBOLS", "AAPL,MSFT"),
            ("TRADING__STRATEGY__USE_NEWS", "false"),
        ]),
    )
    .unwrap();
    assert_eq!(c.gateway.md_port, 7100);
    assert_eq!(c.symbols, ["AAPL", "MSFT"]);
    assert!(!c.strategy.use_news);
}

#[test]
fn a_missing_file_is_named() {
    let e = error_of(Some(Path::new("/nonexistent/x.toml")), &[]);
    assert_eq!(e, "configuration file /nonexistent/x.toml not found");
}

#[test]
fn an_out_of_range_port_names_the_key() {
    let e = error_of(None, &[("TRADING__GATEWAY__MD_PORT", "70000")]);
    assert!(e.contains("gateway.md_port"), "{e}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let f = file("[strategy]\nshort_window = \"five\"\n");
    let e = error_of(Some(f.path()), &[]);
    assert!(e.contains("strategy.short_window"), "{e}");
}

#[test]
fn an_unknown_key_is_an_error() {
    let f = file("[gateway]\nmd_prot = 8000\n");
    let e = error_of(Some(f.path()), &[]);
    assert!(e.contains("md_prot"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "TRADING__STRATEGY__SHORT_WINDOW",
            "30",
            "strategy.short_window",
        ),
        (
            "TRADING__STRATEGY__BEARISH_THRESHOLD",
            "90",
            "strategy.bearish_threshold",
        ),
        ("TRADING__SYMBOLS", "AAPL,BAD SYMBOL", "symbols"),
        (
            "TRADING__ORDERBOOK__RING_CAPACITY",
            "1000",
            "orderbook.ring_capacity",
        ),
        ("TRADING__STRATEGY__QUANTITY", "0", "strategy.quantity"),
        (
            "TRADING__STRATEGY__CLIENT_NAME",
            "bad name",
            "strategy.client_name",
        ),
        ("TRADING__SYMBOLS", "AAPL,AAPL", "symbols"),
        ("TRADING__LOGS__LEVEL", "loud", "logs.level"),
        ("TRADING__GATEWAY__SOURCE", "ftp", "gateway.source"),
        (
            "TRADING__ORDERMANAGER__DURABILITY",
            "never",
            "ordermanager.durability",
        ),
        (
            "TRADING__ORDERMANAGER__MIN_PRICE",
            "-1",
            "ordermanager.min_price",
        ),
        (
            "TRADING__ORDERMANAGER__MAX_PRICE",
            "0",
            "ordermanager.max_price",
        ),
        (
            "TRADING__ORDERMANAGER__MAX_ORDER_NOTIONAL",
            "-5",
            "ordermanager.max_order_notional",
        ),
        (
            "TRADING__ORDERMANAGER__MAX_REPLY_BACKLOG",
            "10",
            "ordermanager.max_reply_backlog",
        ),
        (
            "TRADING__ORDERMANAGER__AUTH_TOKEN",
            "has*star",
            "ordermanager.auth_token",
        ),
        (
            "TRADING__ORDERMANAGER__MAX_FRAMES_PER_TURN",
            "0",
            "ordermanager.max_frames_per_turn",
        ),
        (
            "TRADING__STRATEGY__AUTH_TOKEN",
            "a,b",
            "strategy.auth_token",
        ),
    ];
    for (k, v, key) in cases {
        let e = error_of(None, &[(k, v)]);
        assert!(e.contains(key), "{k}={v}: {e}");
    }
}

#[test]
fn auth_is_required_by_default_and_needs_a_token_to_start() {
    let c = Config::load_with_env(None, env(&[])).unwrap();
    assert!(c.ordermanager.require_auth);
    let e = c.ordermanager_token().unwrap_err().to_string();
    assert!(e.contains("ordermanager.auth_token"), "{e}");
    let c = Config::load_with_env(None, env(&[("TRADING__ORDERMANAGER__AUTH_TOKEN", "t0k")]));
    assert_eq!(c.unwrap().ordermanager_token().unwrap(), Some("t0k"));
    let open = [("TRADING__ORDERMANAGER__REQUIRE_AUTH", "false")];
    let c = Config::load_with_env(None, env(&open)).unwrap();
    assert_eq!(c.ordermanager_token().unwrap(), None);
}

#[test]
fn the_default_sanity_band_admits_the_default_data() {
    let c = Config::load_with_env(None, env(&[])).unwrap();
    let om = &c.ordermanager;
    // The default CSV and random walk stay around 100-400.
    assert!(om.min_price <= 1.0 && om.max_price >= 10_000.0);
    assert!(om.max_order_notional >= om.max_order_quantity as f64 * 1_000.0);
    assert_eq!(om.max_position_global, 0, "off by default");
    assert_eq!(om.max_reply_backlog, 256 * 1024);
}

#[test]
fn enum_keys_take_exactly_their_documented_spellings() {
    let load = |k: &str, v: &str| Config::load_with_env(None, env(&[(k, v)]));
    let source = |v| load("TRADING__GATEWAY__SOURCE", v).map(|c| c.gateway.source);
    assert_eq!(source("csv").unwrap(), MarketSource::Csv);
    assert_eq!(source("random_walk").unwrap(), MarketSource::RandomWalk);
    let durability =
        |v| load("TRADING__ORDERMANAGER__DURABILITY", v).map(|c| c.ordermanager.durability);
    assert_eq!(durability("every").unwrap(), Durability::Every);
    assert_eq!(durability("group").unwrap(), Durability::Group);
    for bad in ["Every", "GROUP", "random-walk", "RandomWalk"] {
        assert!(durability(bad).is_err() && source(bad).is_err(), "{bad}");
    }
    let e = error_of(None, &[("TRADING__ORDERMANAGER__DURABILITY", "never")]);
    assert!(e.contains("every") && e.contains("group"), "{e}");
}

#[test]
fn errors_name_the_key_its_value_its_source_and_what_is_allowed() {
    let f = file("[gateway]\nmd_port = 70000\n");
    let shown = f.path().display().to_string();
    let e = error_of(Some(f.path()), &[]);
    assert_eq!(
        e,
        format!(
            "configuration key `gateway.md_port` = 70000 (from file {shown}): \
             expected a whole number from 0 to 65535"
        )
    );
    let e = error_of(None, &[("TRADING__GATEWAY__RATEE", "5")]);
    assert!(
        e.starts_with(
            "unknown configuration key `gateway.ratee` \
             (from environment variable TRADING__GATEWAY__RATEE); [gateway] has: data_path,"
        ),
        "{e}"
    );
    let f = file("[gateway]\nratee = 5\n");
    let e = error_of(Some(f.path()), &[]);
    assert!(
        e.contains(&format!(
            "`gateway.ratee` (from file {shown}",
            shown = f.path().display()
        )),
        "{e}"
    );
    let e = error_of(None, &[("TRADING__STRATEGY__SHORT_WINDOW", "30")]);
    assert!(
        e.starts_with(
            "configuration key `strategy.short_window` = 30 \
             (from environment variable TRADING__STRATEGY__SHORT_WINDOW): "
        ),
        "{e}"
    );
    let e = error_of(None, &[("TRADING__GATEWAY__SOURCE", "ftp")]);
    assert!(e.ends_with("= \"ftp\" (from environment variable TRADING__GATEWAY__SOURCE): expected `csv` or `random_walk`"), "{e}");
    let f = file("[strategy]\nquantity = 0\n");
    let e = error_of(Some(f.path()), &[]);
    assert!(
        e.contains(&format!("= 0 (from file {})", f.path().display())),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_toml_is_named_as_given() {
    let f = file("[gateway\n");
    let e = error_of(Some(f.path()), &[]);
    assert!(
        e.starts_with(&format!("configuration file {}: ", f.path().display())),
        "{e}"
    );
}

#[test]
fn relative_paths_are_read_against_the_folder_of_what_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    std::fs::write(
        &path,
        "[gateway]\ndata_path = \"ticks.csv\"\n[logs]\ndir = \"../logs\"\n",
    )
    .unwrap();
    let c = Config::load_with_env(
        Some(&path),
        env(&[("TRADING__ORDERMANAGER__JOURNAL_PATH", "j/orders.journal")]),
    )
    .unwrap();
    assert_eq!(c.gateway.data_path, dir.path().join("ticks.csv"));
    assert_eq!(c.logs.dir, dir.path().parent().unwrap().join("logs"));
    assert_eq!(c.ordermanager.journal_path, Path::new("j/orders.journal"));
    // Keys the file leaves out keep the defaults' meaning: the working directory's data/.
    let c = Config::load_with_env(Some(&path), env(&[])).unwrap();
    assert_eq!(
        c.ordermanager.journal_path,
        Path::new("data/orders.journal")
    );
    let c = Config::load_with_env(None, env(&[])).unwrap();
    assert_eq!(c.gateway.data_path, Path::new("data/market_data.csv"));
    assert_eq!(c.logs.dir, Path::new("logs"));
    assert_eq!(c.file, ConfigFile::BuiltIn);
}

#[test]
fn resolving_folds_parent_steps_but_keeps_leading_ones() {
    use super::load::resolve;
    assert_eq!(
        resolve(Path::new("config"), Path::new("../data/x")),
        Path::new("data/x")
    );
    assert_eq!(resolve(Path::new(""), Path::new("../x")), Path::new("../x"));
    assert_eq!(
        resolve(Path::new("a/b"), Path::new("./c")),
        Path::new("a/b/c")
    );
    assert_eq!(
        resolve(Path::new("a"), Path::new("/abs/x")),
        Path::new("/abs/x")
    );
}

#[test]
fn without_config_the_file_in_the_working_directory_is_used_if_there() {
    // `cargo test` runs in the package root, which has config/default.toml.
    assert_eq!(
        ConfigFile::choose(None),
        ConfigFile::Found(DEFAULT_FILE.into())
    );
    let given = ConfigFile::choose(Some(Path::new("x.toml")));
    assert_eq!(given.path(), Some(Path::new("x.toml")));
    assert!(ConfigFile::BuiltIn
        .describe()
        .starts_with("built-in defaults"));
}

#[test]
fn client_ports_follow_their_listener_unless_set() {
    let f = file("[gateway]\nmd_port = 7000\nnews_port = 7001\n[ordermanager]\nport = 7100\n");
    let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
    assert_eq!(c.orderbook.md_port, 7000);
    assert_eq!(c.strategy.news_port, 7001);
    assert_eq!(c.strategy.order_manager_port, 7100);
    let c = Config::load_with_env(
        Some(f.path()),
        env(&[("TRADING__ORDERBOOK__MD_PORT", "7500")]),
    )
    .unwrap();
    assert_eq!(c.orderbook.md_port, 7500, "a port set explicitly is kept");
}

#[test]
fn metrics_ports_are_off_by_default_and_checked() {
    let c = Config::load_with_env(None, env(&[])).unwrap();
    assert_eq!(
        (
            c.gateway.metrics_port,
            c.orderbook.metrics_port,
            c.strategy.metrics_port,
            c.ordermanager.metrics_port
        ),
        (-1, -1, -1, -1)
    );
    for (var, key) in [
        ("TRADING__GATEWAY__METRICS_PORT", "gateway.metrics_port"),
        ("TRADING__ORDERBOOK__METRICS_PORT", "orderbook.metrics_port"),
        ("TRADING__STRATEGY__METRICS_PORT", "strategy.metrics_port"),
        (
            "TRADING__ORDERMANAGER__METRICS_PORT",
            "ordermanager.metrics_port",
        ),
    ] {
        for bad in ["70000", "-2"] {
            let e = error_of(None, &[(var, bad)]);
            assert!(e.contains(key) && e.contains("-1 (off)"), "{e}");
        }
        let ok = Config::load_with_env(None, env(&[(var, "0")]));
        assert!(ok.is_ok(), "{var}=0 is an ephemeral port");
    }
}
