//! Strategy kinds by name: what `strategy.kind` may say.
//!
//! `crossover` (the default, today's strategy) reads its settings from
//! `[strategy]` itself, as it always has. Every other kind reads its own
//! section `[strategies.<kind>]`, whose keys are its parameter struct's
//! fields (unknown keys are errors). Registering a kind is one line in
//! [`KINDS`] (see README "Adding a strategy").

use serde::de::DeserializeOwned;

use super::{MeanReversion, MeanReversionParams, SignalEngine, Strategy, Streak};
use crate::config::{Config, Problem};

/// The kind whose settings live in `[strategy]` (windows, thresholds, news).
pub const CROSSOVER: &str = "crossover";

/// A strategy that can be built from a configuration section.
pub trait Configured: Strategy + Sized + 'static {
    /// The section's keys; derive `Deserialize` with `deny_unknown_fields`.
    type Params: DeserializeOwned;

    /// The strategy for symbols `0..symbols`, or why the params cannot work.
    fn configure(symbols: usize, params: &Self::Params) -> Result<Self, String>;
}

/// One registered kind.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The name `strategy.kind` uses, and the section `[strategies.<name>]`.
    pub name: &'static str,
    /// One line for `--help` and errors.
    pub about: &'static str,
    /// Builds it from its section.
    pub build: fn(usize, config::Value) -> Result<Box<dyn Strategy>, String>,
}

/// A [`Kind`] entry for `S`.
pub const fn kind<S: Configured>(name: &'static str, about: &'static str) -> Kind {
    Kind {
        name,
        about,
        build: build_kind::<S>,
    }
}

/// Reads `S::Params` from a section and builds `S`.
fn build_kind<S: Configured>(
    symbols: usize,
    section: config::Value,
) -> Result<Box<dyn Strategy>, String> {
    let params: S::Params = section.try_deserialize().map_err(|e| e.to_string())?;
    Ok(Box::new(S::configure(symbols, &params)?))
}

/// Every kind besides [`CROSSOVER`], in the order `--help` lists them.
pub const KINDS: &[Kind] = &[
    kind::<MeanReversion>(
        "mean_reversion",
        "rolling z-score: enter beyond entry_z, exit back inside exit_z",
    ),
    kind::<Streak>(
        "streak",
        "follow `run` rises or falls in a row (README's worked example)",
    ),
];

/// The registered kind called `name`.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// Every kind name, `crossover` first, for messages and `--help`.
pub fn names() -> Vec<&'static str> {
    std::iter::once(CROSSOVER)
        .chain(KINDS.iter().map(|k| k.name))
        .collect()
}

/// The strategy `cfg` configures (`strategy.kind`), after checking every
/// `[strategies.<kind>]` section present, so a typo in a section of a kind
/// not in use is caught too. Errors name the key or section at fault;
/// [`Config::build_strategy`] adds the value and where it came from.
pub fn build(cfg: &Config) -> Result<Box<dyn Strategy>, Problem> {
    for (name, section) in &cfg.strategies {
        let Some(kind) = find(name) else {
            return Err((
                "strategies",
                format!(
                    "[strategies.{name}]: no strategy kind {name:?} (kinds with a section: {})",
                    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        (kind.build)(cfg.symbols.len(), section.clone())
            .map_err(|problem| ("strategies", format!("[strategies.{name}]: {problem}")))?;
    }
    let kind = cfg.strategy.kind.as_str();
    if kind == CROSSOVER {
        let engine = SignalEngine::new(cfg.symbols.len(), &cfg.signal_params())
            .map_err(crate::config::signal_problem)?;
        return Ok(Box::new(engine));
    }
    let registered = find(kind).ok_or_else(|| {
        (
            "strategy.kind",
            format!("{kind:?} is not one of {}", names().join(", ")),
        )
    })?;
    let section = cfg.strategies.get(kind).cloned().ok_or_else(|| {
        (
            "strategies",
            format!("kind {kind:?} needs a [strategies.{kind}] section"),
        )
    })?;
    (registered.build)(cfg.symbols.len(), section)
        .map_err(|problem| ("strategies", format!("[strategies.{kind}]: {problem}")))
}

impl Configured for MeanReversion {
    type Params = MeanReversionParams;

    fn configure(symbols: usize, params: &MeanReversionParams) -> Result<Self, String> {
        MeanReversion::new(symbols, params).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> config::Value {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .cache
    }

    #[test]
    fn kinds_build_from_their_section_and_refuse_unknown_keys() {
        let mr = find("mean_reversion").unwrap();
        assert!((mr.build)(2, section("window = 20\nentry_z = 2.0\nexit_z = 0.5")).is_ok());
        let err = (mr.build)(
            2,
            section("window = 20\nentry_z = 2.0\nexit_z = 0.5\nwindw = 3"),
        )
        .err()
        .unwrap();
        assert!(err.contains("windw"), "{err}");
        let err = (mr.build)(2, section("window = 2\nentry_z = 2.0\nexit_z = 0.5"))
            .err()
            .unwrap();
        assert!(err.contains("window (2)"), "{err}");
        assert!(find("nope").is_none());
        assert_eq!(names(), ["crossover", "mean_reversion", "streak"]);
    }

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<crate::config::Config, String> {
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), toml).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::config::Config::load_with_env(Some(file.path()), Some(env))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_configuration_selects_a_kind_by_name() {
        let cfg = load("[strategy]\nkind = \"mean_reversion\"\n", &[]).unwrap();
        assert!(cfg.build_strategy().is_ok());
        let cfg = load("", &[("TRADING__STRATEGY__KIND", "streak")]).unwrap();
        assert_eq!(cfg.strategy.kind, "streak");
        let err = load("[strategy]\nkind = \"martingale\"\n", &[]).unwrap_err();
        assert!(
            err.starts_with("configuration key `strategy.kind` = \"martingale\" (from file ")
                && err
                    .ends_with(": \"martingale\" is not one of crossover, mean_reversion, streak"),
            "{err}"
        );
    }

    #[test]
    fn a_kind_section_with_an_unknown_or_bad_key_is_refused_by_name() {
        let err = load("[strategies.streak]\nrun = 2\nrunn = 3\n", &[]).unwrap_err();
        assert!(
            err.contains("[strategies.streak]") && err.contains("runn"),
            "{err}"
        );
        let err = load("", &[("TRADING__STRATEGIES__MEAN_REVERSION__WINDOW", "1")]).unwrap_err();
        assert!(
            err.contains("[strategies.mean_reversion]: window (1)"),
            "{err}"
        );
        // A section of no kind is an unknown key like any other.
        let err = load("[strategies.martingale]\nx = 1\n", &[]).unwrap_err();
        assert!(
            err.starts_with("unknown configuration key `strategies.martingale` (from file ")
                && err.ends_with("; [strategies] has: mean_reversion, streak"),
            "{err}"
        );
    }

    #[test]
    fn the_readme_shows_the_worked_example_as_it_is() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(include_str!("streak.rs")),
            "README \"Adding a strategy\" must show src/signals/streak.rs verbatim"
        );
        assert!(readme.contains(r#"    kind::<Streak>("#));
    }
}
