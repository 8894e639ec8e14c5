//! Configuration: one TOML file, environment overrides, validated up front.
//!
//! The built-in `config/default.toml` is the base layer, so a file given with
//! `--config` only needs the keys it changes; then environment variables of
//! the form `TRADING__SECTION__KEY` override single keys (`TRADING__SYMBOLS`
//! takes a comma-separated list). Unknown keys are errors, so a typo cannot
//! silently leave a default in force. Every error names the key at fault.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::protocol::validate_symbol;
use crate::signals::{SignalEngine, SignalError, SignalParams};

/// The built-in defaults, the same text as `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "TRADING";

/// Why the configuration could not be used; start-up stops with this message.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist.
    #[error("configuration file {0} not found")]
    MissingFile(PathBuf),
    /// The file or an environment override does not parse or has a wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value parsed but is outside what the system can run with.
    #[error("configuration key `{key}`: {problem}")]
    Invalid {
        /// Dotted key, e.g. `strategy.long_window`.
        key: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
}

/// The whole configuration of every role; each role reads its own section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Symbols in table order: the shm directory and every symbol check use it.
    pub symbols: Vec<String>,
    /// Market data and news source.
    pub gateway: GatewayConfig,
    /// Market data consumer and shm writer.
    pub orderbook: OrderbookConfig,
    /// Signal generation and order sending.
    pub strategy: StrategyConfig,
    /// Order validation, risk, execution and journal.
    pub ordermanager: OrderManagerConfig,
    /// Child process supervision under `--all`.
    pub supervisor: SupervisorConfig,
    /// Where and how much each process logs.
    pub logs: LogConfig,
    /// Limits shared by every TCP reader.
    pub protocol: ProtocolConfig,
}

/// Where the gateway's market data comes from; spelled `csv` or `random_walk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketSource {
    /// Replay `gateway.data_path`.
    Csv,
    /// Generate prices: reproducible from `gateway.walk_seed`.
    RandomWalk,
}

/// `[gateway]`: see `config/default.toml` for what each key does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Interface both listeners bind; loopback unless deliberately exposed.
    pub host: String,
    /// Market data listener port (0 = ephemeral, announced on stdout).
    pub md_port: u16,
    /// News listener port (0 = ephemeral, announced on stdout).
    pub news_port: u16,
    /// CSV replay or random walk.
    #[serde(deserialize_with = "exact_variant")]
    pub source: MarketSource,
    /// CSV with columns `timestamp,symbol,price`.
    pub data_path: PathBuf,
    /// Replay forever, or once and then close the md stream.
    #[serde(rename = "loop")]
    pub loop_replay: bool,
    /// Ticks per second; 0 = as fast as subscribers take them.
    pub rate: u64,
    /// News frames per second; 0 = none.
    pub news_rate: u64,
    /// Seed of the news generator, for reproducible runs.
    pub news_seed: u64,
    /// Seed of the random walk, for reproducible runs.
    pub walk_seed: u64,
    /// Whether md frames carry SEND_NS (off for three-field peers).
    pub send_time: bool,
    /// Batches a subscriber may have queued before it counts as stalled.
    pub subscriber_queue: usize,
    /// With rate 0, how long a stalled subscriber may hold the feed back.
    pub max_stall_ms: u64,
    /// Subscribers held at once per stream; the excess is refused, so
    /// idle connections cannot exhaust the gateway's file descriptors.
    pub max_subscribers: usize,
}

/// An enum setting and the one key it is read from, so that a bad value's
/// message can name the key (the `config` crate does not add it to messages
/// of this kind).
trait EnumSetting: serde::de::DeserializeOwned {
    /// Dotted key, e.g. `gateway.source`.
    const KEY: &'static str;
}

impl EnumSetting for MarketSource {
    const KEY: &'static str = "gateway.source";
}

impl EnumSetting for Durability {
    const KEY: &'static str = "ordermanager.durability";
}

/// Reads a string and matches it exactly against the variant names of `T`.
///
/// The `config` crate matches enum variants ignoring case; going through a
/// plain string keeps the accepted spellings to the documented ones.
fn exact_variant<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: EnumSetting,
{
    use serde::de::{value, Error, IntoDeserializer};
    let text = String::deserialize(d)?;
    let text: value::StringDeserializer<value::Error> = text.into_deserializer();
    T::deserialize(text).map_err(|e| D::Error::custom(format_args!("`{}`: {e}", T::KEY)))
}

/// `[orderbook]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderbookConfig {
    /// Gateway host to subscribe to.
    pub md_host: String,
    /// Gateway market data port.
    pub md_port: u16,
    /// Name of the segment under /dev/shm.
    pub shared_memory_name: String,
    /// Ticks the ring keeps (power of two).
    pub ring_capacity: usize,
    /// Period of the throughput log line.
    pub stats_interval_ms: u64,
}

/// `[strategy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Segment to read prices and ticks from.
    pub shared_memory_name: String,
    /// Where orders go.
    pub order_manager_host: String,
    /// Ordermanager port.
    pub order_manager_port: u16,
    /// Gateway host for the news stream.
    pub news_host: String,
    /// Gateway news port.
    pub news_port: u16,
    /// Short moving-average window, in ticks.
    pub short_window: usize,
    /// Long moving-average window, in ticks.
    pub long_window: usize,
    /// Sentiment strictly above this is a BUY view.
    pub bullish_threshold: u8,
    /// Sentiment strictly below this is a SELL view.
    pub bearish_threshold: u8,
    /// false: every crossover is an order at once.
    pub use_news: bool,
    /// Shares per order.
    pub quantity: u64,
    /// Prefix of client order ids, unique per strategy.
    pub client_name: String,
    /// Send ids and track answers; false speaks the original five-field protocol.
    pub order_ids: bool,
    /// When an unanswered order is reported as in doubt.
    pub order_timeout_ms: u64,
    /// Ticks older than this (since the gateway sent them) trade no more;
    /// 0 = off. Applies to live feeds only (looping, rate > 0).
    pub max_tick_age_ms: u64,
    /// Token sent in the AUTH frame on every (re)connect; empty: no AUTH
    /// (for an ordermanager with `require_auth = false` or the original
    /// server). `--all` sets it to the run's own token.
    pub auth_token: String,
}

/// How hard the journal pushes records to disk before acknowledging them;
/// spelled `every` or `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// fsync after every record.
    Every,
    /// One fsync for every group of records that arrive together.
    Group,
}

/// `[ordermanager]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderManagerConfig {
    /// Interface the order listener binds.
    pub host: String,
    /// Order listener port (0 = ephemeral, announced on stdout).
    pub port: u16,
    /// The durable record of every order.
    pub journal_path: PathBuf,
    /// fsync policy of the journal.
    #[serde(deserialize_with = "exact_variant")]
    pub durability: Durability,
    /// Longest a group commit waits for more records.
    pub group_commit_ms: u64,
    /// MAX_QUANTITY limit.
    pub max_order_quantity: u64,
    /// MAX_POSITION limit (absolute net shares per symbol).
    pub max_position: u64,
    /// RATE_LIMIT per client (authenticated name, or address).
    pub max_orders_per_sec: u64,
    /// GLOBAL_POSITION: absolute net shares per symbol over every client; 0 = off.
    pub max_position_global: u64,
    /// MAX_NOTIONAL: largest price × quantity of one order; 0 = off. Holds
    /// with or without the shm table, unlike the price band.
    pub max_order_notional: f64,
    /// PRICE_RANGE: lowest price accepted for any symbol.
    pub min_price: f64,
    /// PRICE_RANGE: highest price accepted for any symbol.
    pub max_price: f64,
    /// The shared secret order clients present in their AUTH frame; `--all`
    /// generates one per run when this is empty.
    pub auth_token: String,
    /// true: a connection must AUTH first or is refused. false also lets
    /// unauthenticated clients trade (the original client), keyed by address.
    pub require_auth: bool,
    /// Answer bytes a client may leave unread before it is disconnected.
    pub max_reply_backlog: usize,
    /// Malformed frames a client may send in a row, without a valid order
    /// between them, before it is disconnected; 0 = never.
    pub max_malformed_in_a_row: u64,
    /// PRICE_BAND half-width in percent of the last shm price; 0 = off.
    pub price_band_pct: f64,
    /// Segment holding the last prices for the band check.
    pub shared_memory_name: String,
    /// Period of the positions log; 0 = only on shutdown.
    pub positions_interval_ms: u64,
    /// Client connections held at once; the excess is refused, so one
    /// client cannot exhaust the process's file descriptors.
    pub max_connections: usize,
    /// A client silent this long is disconnected (0 = never); it may
    /// reconnect, and its unanswered orders are resent.
    pub idle_timeout_ms: u64,
    /// A frame left incomplete this long closes the connection (0 = never):
    /// a slow-loris client must not hold a place for ever.
    pub partial_frame_timeout_ms: u64,
    /// Most frames of one client decided in one turn of the ordermanager
    /// before the other clients' frames get theirs: what one flooding
    /// client can make a well-behaved one wait.
    pub max_frames_per_turn: usize,
}

/// `[supervisor]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// First restart delay.
    pub backoff_initial_ms: u64,
    /// Ceiling of the doubling restart delay.
    pub backoff_max_ms: u64,
    /// Restarts allowed within the window before the run gives up.
    pub max_restarts: u32,
    /// Window of the restart budget.
    pub restart_window_s: u64,
    /// Grace period before a stopping child is killed.
    pub stop_timeout_ms: u64,
}

/// `[logs]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Directory of the per-process log files.
    pub dir: PathBuf,
    /// Minimum level written.
    pub level: String,
}

/// `[protocol]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Longest frame accepted without its `*`.
    pub max_frame: usize,
}

impl Config {
    /// Loads defaults, then `path` (if given), then `TRADING__*` variables, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, None)
    }

    /// Like [`Config::load`] but with an explicit environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("symbols")
            .source(env);
        let cfg: Config = builder.add_source(environment).build()?.try_deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The strategy's signal settings in the form the signal library takes.
    pub fn signal_params(&self) -> SignalParams {
        SignalParams {
            short_window: self.strategy.short_window,
            long_window: self.strategy.long_window,
            bullish_threshold: self.strategy.bullish_threshold,
            bearish_threshold: self.strategy.bearish_threshold,
            use_news: self.strategy.use_news,
        }
    }

    /// What the ordermanager's client sessions enforce.
    pub fn order_session_limits(&self) -> crate::net::SessionLimits {
        let om = &self.ordermanager;
        let ms = |v: u64| (v > 0).then(|| std::time::Duration::from_millis(v));
        crate::net::SessionLimits {
            max_connections: om.max_connections,
            read: crate::net::ReadLimits {
                max_frame: self.protocol.max_frame,
                idle: ms(om.idle_timeout_ms),
                partial: ms(om.partial_frame_timeout_ms),
                frames_per_turn: om.max_frames_per_turn,
            },
        }
    }

    /// The token the ordermanager checks, or `None` when auth is off; an
    /// error when auth is required but no token is set, because then no
    /// client could ever trade. Checked when the ordermanager starts, not at
    /// load: `--all` loads the same file and supplies the token itself.
    pub fn ordermanager_token(&self) -> Result<Option<&str>, ConfigError> {
        let om = &self.ordermanager;
        match (om.require_auth, om.auth_token.is_empty()) {
            (true, true) => Err(ConfigError::Invalid {
                key: "ordermanager.auth_token",
                problem: "require_auth is on but no token is set (set it, or \
                          TRADING__ORDERMANAGER__AUTH_TOKEN, or require_auth = false)"
                    .into(),
            }),
            (_, true) => Ok(None),
            (_, false) => Ok(Some(om.auth_token.as_str())),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        if self.symbols.is_empty() {
            return invalid("symbols", "at least one symbol is needed".into());
        }
        for (i, s) in self.symbols.iter().enumerate() {
            if let Err(e) = validate_symbol(s) {
                return invalid("symbols", e.to_string());
            }
            if self.symbols[..i].contains(s) {
                return invalid("symbols", format!("{s:?} is listed twice"));
            }
        }
        if let Err(e) = SignalEngine::new(self.symbols.len(), &self.signal_params()) {
            let key = match e {
                SignalError::Windows { .. } => "strategy.short_window",
                SignalError::WindowTooLong(_) => "strategy.long_window",
                SignalError::Thresholds { .. } => "strategy.bearish_threshold",
            };
            return invalid(key, e.to_string());
        }
        let cap = self.orderbook.ring_capacity;
        if cap < 2 || !cap.is_power_of_two() {
            return invalid(
                "orderbook.ring_capacity",
                format!("{cap} is not a power of two of at least 2"),
            );
        }
        if self.strategy.quantity == 0 {
            return invalid("strategy.quantity", "must be greater than zero".into());
        }
        let name = &self.strategy.client_name;
        if name.is_empty()
            || name.len() > 6
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return invalid(
                "strategy.client_name",
                format!("{name:?} must be 1-6 letters, digits or '_' (it prefixes order ids)"),
            );
        }
        if self.gateway.subscriber_queue == 0 {
            return invalid("gateway.subscriber_queue", "must be at least 1".into());
        }
        if self.gateway.max_subscribers == 0 {
            return invalid("gateway.max_subscribers", "must be at least 1".into());
        }
        if self.ordermanager.max_connections == 0 {
            return invalid("ordermanager.max_connections", "must be at least 1".into());
        }
        if self.protocol.max_frame < 16 {
            return invalid("protocol.max_frame", "must be at least 16 bytes".into());
        }
        let band = self.ordermanager.price_band_pct;
        if !(0.0..=1000.0).contains(&band) {
            return invalid(
                "ordermanager.price_band_pct",
                format!("{band} is not between 0 and 1000"),
            );
        }
        self.validate_order_limits()?;
        if crate::logging::parse_level(&self.logs.level).is_none() {
            return invalid(
                "logs.level",
                format!(
                    "{:?} is not one of critical, error, warning, info, debug, trace",
                    self.logs.level
                ),
            );
        }
        Ok(())
    }
}

impl Config {
    /// The ordermanager's static sanity limits and tokens.
    fn validate_order_limits(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        let om = &self.ordermanager;
        if !(om.min_price.is_finite() && om.min_price >= 0.0) {
            return invalid(
                "ordermanager.min_price",
                format!("{} is not >= 0", om.min_price),
            );
        }
        if !(om.max_price.is_finite() && om.max_price > om.min_price && om.max_price <= 9.0e10) {
            return invalid(
                "ordermanager.max_price",
                format!("{} is not above min_price and at most 9e10", om.max_price),
            );
        }
        if !(om.max_order_notional.is_finite() && om.max_order_notional >= 0.0) {
            return invalid(
                "ordermanager.max_order_notional",
                format!("{} is not >= 0", om.max_order_notional),
            );
        }
        if om.max_frames_per_turn == 0 {
            return invalid(
                "ordermanager.max_frames_per_turn",
                "must be at least 1".into(),
            );
        }
        if om.max_reply_backlog < 1024 {
            return invalid(
                "ordermanager.max_reply_backlog",
                "must be at least 1024 bytes".into(),
            );
        }
        for (key, token) in [
            ("ordermanager.auth_token", &om.auth_token),
            ("strategy.auth_token", &self.strategy.auth_token),
        ] {
            if !token.is_empty() && !crate::protocol::valid_token(token) {
                return invalid(
                    key,
                    "must be 1-256 bytes of printable ASCII without ',' '*' or space".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
                "TRADING__ORDERMANAGER__MAX_FRAMES_PER_TURN",
                "0",
                "ordermanager.max_frames_per_turn",
            ),
            (
                "TRADING__ORDERMANAGER__AUTH_TOKEN",
                "has*star",
                "ordermanager.auth_token",
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
}
