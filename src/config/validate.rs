//! Checks of values that parse but that the system cannot run with. Each
//! names its key; the loader adds the value and where it came from.

use super::Config;
use crate::protocol::validate_symbol;
use crate::signals::{SignalEngine, SignalError};

/// A key and what is wrong with its value; the loader (or
/// [`super::ConfigFile::invalid`] after loading) adds the value and its source.
pub(crate) type Problem = (&'static str, String);

/// A crossover setting's error, naming the key at fault.
pub(crate) fn signal_problem(e: SignalError) -> Problem {
    let key = match e {
        SignalError::Windows { .. } => "strategy.short_window",
        SignalError::WindowTooLong(_) => "strategy.long_window",
        SignalError::Thresholds { .. } => "strategy.bearish_threshold",
    };
    (key, e.to_string())
}

impl Config {
    /// Every check, first failure wins.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let invalid = |key, problem: String| Err((key, problem));
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
            return Err(signal_problem(e));
        }
        crate::signals::registry::build(self)?;
        let cap = self.orderbook.ring_capacity;
        if cap < 2 || !cap.is_power_of_two() {
            return invalid(
                "orderbook.ring_capacity",
                format!("{cap} is not a power of two of at least 2"),
            );
        }
        if self.strategy.max_unanswered == 0 {
            return invalid("strategy.max_unanswered", "must be at least 1".into());
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
        self.validate_counts()?;
        for (key, port) in [
            ("gateway.metrics_port", self.gateway.metrics_port),
            ("orderbook.metrics_port", self.orderbook.metrics_port),
            ("strategy.metrics_port", self.strategy.metrics_port),
            ("ordermanager.metrics_port", self.ordermanager.metrics_port),
        ] {
            if !(-1..=i32::from(u16::MAX)).contains(&port) {
                return invalid(key, format!("{port} is not a port (0-65535) or -1 (off)"));
            }
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
        if self.logs.max_file_mb == 0 {
            return invalid("logs.max_file_mb", "must be at least 1".into());
        }
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

    /// Sizes and counts that must be at least 1.
    fn validate_counts(&self) -> Result<(), Problem> {
        let (gw, om) = (&self.gateway, &self.ordermanager);
        let counts = [
            ("gateway.subscriber_queue", gw.subscriber_queue as u64),
            ("gateway.max_subscribers", gw.max_subscribers as u64),
            ("ordermanager.max_connections", om.max_connections as u64),
            ("ordermanager.commit_lanes", om.commit_lanes as u64),
        ];
        match counts.into_iter().find(|&(_, count)| count == 0) {
            Some((key, _)) => Err((key, "must be at least 1".into())),
            None => Ok(()),
        }
    }

    /// The ordermanager's static sanity limits and tokens.
    fn validate_order_limits(&self) -> Result<(), Problem> {
        let invalid = |key, problem: String| Err((key, problem));
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
