//! Configuration: one TOML file, environment overrides, validated up front.
//!
//! The built-in `config/default.toml` is the base layer, so a file given with
//! `--config` only needs the keys it changes; then environment variables of
//! the form `TRADING__SECTION__KEY` override single keys (`TRADING__SYMBOLS`
//! takes a comma-separated list). Unknown keys are errors, so a typo cannot
//! silently leave a default in force. Every error names the key at fault.

use std::path::PathBuf;

use serde::Deserialize;
use thiserror::Error;

use crate::signals::{SignalParams, Strategy};

mod load;
#[cfg(test)]
mod tests;
mod validate;

pub use load::{ConfigFile, ValueSource, DEFAULT_FILE};
pub(crate) use validate::{signal_problem, Problem};

/// The built-in defaults, the same text as `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "TRADING";

/// Why the configuration could not be used; start-up stops with this message.
///
/// Every variant that concerns one key names the key in full, its value and
/// where that value came from ([`ValueSource`]), so the user knows which file
/// line or environment variable to change.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist.
    #[error("configuration file {0} not found")]
    MissingFile(PathBuf),
    /// The file is not valid TOML.
    #[error("configuration file {path}: {message}")]
    Syntax {
        /// The file, as the user gave it.
        path: PathBuf,
        /// The parser's account, with line and column.
        message: String,
    },
    /// A key no section has: a typo would otherwise leave a default in force.
    #[error("unknown configuration key `{key}` (from {from}); {allowed}")]
    UnknownKey {
        /// Dotted key, e.g. `gateway.ratee`.
        key: String,
        /// Where it was written.
        from: ValueSource,
        /// The keys its section does have.
        allowed: String,
    },
    /// A value of the wrong kind (text for a number, a port above 65535).
    #[error("configuration key `{key}` = {value} (from {from}): expected {expected}")]
    WrongType {
        /// Dotted key.
        key: String,
        /// The value as written.
        value: String,
        /// Where it was written.
        from: ValueSource,
        /// What the key takes.
        expected: String,
    },
    /// A value parsed but is outside what the system can run with.
    #[error("configuration key `{key}` = {value} (from {from}): {problem}")]
    Invalid {
        /// Dotted key, e.g. `strategy.long_window`.
        key: &'static str,
        /// The value in force.
        value: String,
        /// Where that value came from.
        from: ValueSource,
        /// What is wrong with it and what is allowed.
        problem: String,
    },
    /// Anything else the `config` crate reports.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
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
    /// The live web view and `/metrics` of an `--all` run.
    pub dashboard: DashboardConfig,
    /// The file this configuration was read from, if any: logged first by
    /// every process and handed by the supervisor to its children.
    #[serde(skip)]
    pub file: ConfigFile,
    /// `[strategies.<kind>]`: each strategy kind's own settings, checked
    /// by that kind (see `signals::registry`), so adding a kind does not
    /// touch this file.
    pub strategies: std::collections::BTreeMap<String, config::Value>,
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
    /// In a finite replay to our strategy (`send_time = true`), one news
    /// item before every this many ticks, tagged with its tick (`#TICK,N*`)
    /// instead of paced by the clock, so a replay trades the same every
    /// time; 0 = by the clock (`news_rate`) as in a looping run.
    pub news_every_ticks: u64,
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
    /// Port of this role's own Prometheus `/metrics` on `host`: -1 = off,
    /// 0 = an ephemeral port (announced on the READY line as `metrics=`).
    pub metrics_port: i32,
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
    /// Gateway market data port; 0 in the file means `gateway.md_port`, so
    /// that moving the listener moves its one client too.
    pub md_port: u16,
    /// Name of the segment under /dev/shm.
    pub shared_memory_name: String,
    /// Ticks the ring keeps (power of two).
    pub ring_capacity: usize,
    /// Period of the throughput log line.
    pub stats_interval_ms: u64,
    /// A finite replay waits for its first ring reader (the strategy) to
    /// register before reading the feed, so the lossless ring covers the
    /// replay from tick 0; false replays into a table nobody reads yet.
    pub await_ring_reader: bool,
    /// Port of this role's own Prometheus `/metrics` on loopback: -1 =
    /// off, 0 = an ephemeral port (announced on the READY line as `metrics=`).
    pub metrics_port: i32,
}

/// `[strategy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Which strategy trades: `crossover` (the windows and thresholds
    /// below) or a kind registered in `signals::registry::KINDS`.
    pub kind: String,
    /// Segment to read prices and ticks from.
    pub shared_memory_name: String,
    /// Where orders go.
    pub order_manager_host: String,
    /// Ordermanager port; 0 in the file means `ordermanager.port`.
    pub order_manager_port: u16,
    /// Gateway host for the news stream.
    pub news_host: String,
    /// Gateway news port; 0 in the file means `gateway.news_port`.
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
    /// Orders without an answer at which the strategy stops reading ticks
    /// until half are answered: bounds its memory when the ordermanager
    /// lags (the lossless ring holds the feed back meanwhile).
    pub max_unanswered: usize,
    /// File to append every input the strategy acts on (ticks and news,
    /// in order) for `backtest --replay`; empty: no recording.
    pub record_path: String,
    /// Token sent in the AUTH frame on every (re)connect; empty: no AUTH
    /// (for an ordermanager with `require_auth = false` or the original
    /// server). `--all` sets it to the run's own token.
    pub auth_token: String,
    /// Port of this role's own Prometheus `/metrics` on loopback: -1 =
    /// off, 0 = an ephemeral port (announced on the READY line as `metrics=`).
    pub metrics_port: i32,
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
    /// How far ahead of its records the journal file is extended, zero-filled,
    /// so commits write in place and their fdatasync need not commit the
    /// filesystem's metadata (KiB; 0 = plain appends).
    pub journal_reserve_kib: u64,
    /// Group commits that may be on their way to disk at once (at least 1):
    /// with 2, a client's order need not wait for a flooder's commit.
    pub commit_lanes: usize,
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
    /// A client cut for garbage or unread answers is held this long, unread,
    /// before its connection is closed (0 = at once): an attacker that
    /// reconnects in a loop then costs a connection per linger, not the
    /// CPU of one per millisecond.
    pub cut_linger_ms: u64,
    /// Most frames of one client decided in one turn of the ordermanager
    /// before the other clients' frames get theirs: what one flooding
    /// client can make a well-behaved one wait.
    pub max_frames_per_turn: usize,
    /// Port of this role's own Prometheus `/metrics` on `host`: -1 = off,
    /// 0 = an ephemeral port (announced on the READY line as `metrics=`).
    pub metrics_port: i32,
}

impl OrderManagerConfig {
    /// The risk limits these settings set: built in this one place for the
    /// ordermanager and for tests that judge orders as it would.
    pub fn risk_limits(&self) -> crate::ordermanager::risk::RiskLimits {
        crate::ordermanager::risk::RiskLimits {
            max_order_quantity: self.max_order_quantity,
            max_position: self.max_position,
            max_position_global: self.max_position_global,
            price_band_pct: self.price_band_pct,
            max_order_notional: self.max_order_notional,
            min_price: self.min_price,
            max_price: self.max_price,
        }
    }
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
    /// Size at which a log file is rotated, in MiB: a long or fast run
    /// must not fill the disk.
    pub max_file_mb: u64,
    /// Rotated files kept per process; older ones are deleted.
    pub keep_files: usize,
}

/// `[dashboard]`: where an `--all` run serves its live view and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Off switch: the view only observes, so a run without it trades the same.
    pub enabled: bool,
    /// Interface to bind; loopback by default, since the page shows positions.
    pub host: String,
    /// Listening port; 0 is an ephemeral one, as for every listener here.
    pub port: u16,
}

/// `[protocol]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Longest frame accepted without its `*`.
    pub max_frame: usize,
}

impl Config {
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

    /// The configured strategy (`strategy.kind`), built and checked: an
    /// unknown kind, an unknown section or a bad key names itself.
    pub fn build_strategy(&self) -> Result<Box<dyn Strategy>, ConfigError> {
        crate::signals::registry::build(self)
            .map_err(|(key, problem)| self.file.invalid(key, problem))
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
            cut_linger: std::time::Duration::from_millis(om.cut_linger_ms),
        }
    }

    /// The token the ordermanager checks, or `None` when auth is off; an
    /// error when auth is required but no token is set, because then no
    /// client could ever trade. Checked when the ordermanager starts, not at
    /// load: `--all` loads the same file and supplies the token itself.
    pub fn ordermanager_token(&self) -> Result<Option<&str>, ConfigError> {
        let om = &self.ordermanager;
        match (om.require_auth, om.auth_token.is_empty()) {
            (true, true) => Err(self.file.invalid(
                "ordermanager.auth_token",
                "require_auth is on but no token is set (set it, or \
                 TRADING__ORDERMANAGER__AUTH_TOKEN, or require_auth = false)"
                    .into(),
            )),
            (_, true) => Ok(None),
            (_, false) => Ok(Some(om.auth_token.as_str())),
        }
    }
}
