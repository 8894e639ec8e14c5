//! Loading: which file, the three layers, where each value came from, and
//! what relative paths mean.
//!
//! Layers, lowest first: the built-in defaults (the text of
//! `config/default.toml`, compiled in), the configuration file, then
//! `TRADING__SECTION__KEY` environment variables. Without `--config` the file
//! is `config/default.toml` in the working directory when there is one, so an
//! installed binary runs anywhere on its built-in defaults.
//!
//! A relative path is read against the folder of what wrote it: a file's
//! paths against that file's folder, the built-in defaults' as if they sat in
//! `config/default.toml` under the working directory (the same place as the
//! real file), an environment variable's against the working directory.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::{Config, ConfigError, DEFAULT_TOML, ENV_PREFIX};

/// Where the configuration file is looked for when `--config` is not given.
pub const DEFAULT_FILE: &str = "config/default.toml";

/// The configuration file a process runs with, said in its first log line so
/// that "which settings am I running?" has a one-line answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigFile {
    /// No file: the built-in defaults and the environment only.
    #[default]
    BuiltIn,
    /// The file named with `--config`, as given.
    Given(PathBuf),
    /// [`DEFAULT_FILE`], found in the working directory without `--config`.
    Found(PathBuf),
}

impl ConfigFile {
    /// `--config` if given, else [`DEFAULT_FILE`] if it exists here, else none.
    pub fn choose(given: Option<&Path>) -> ConfigFile {
        match given {
            Some(path) => ConfigFile::Given(path.to_path_buf()),
            None if Path::new(DEFAULT_FILE).is_file() => ConfigFile::Found(DEFAULT_FILE.into()),
            None => ConfigFile::BuiltIn,
        }
    }

    /// The file, if there is one: what the supervisor passes to its children.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigFile::BuiltIn => None,
            ConfigFile::Given(p) | ConfigFile::Found(p) => Some(p),
        }
    }

    /// A phrase for the first log line.
    pub fn describe(&self) -> String {
        match self {
            ConfigFile::Given(p) => format!("{} (--config)", p.display()),
            ConfigFile::Found(p) => format!("{} (found in the working directory)", p.display()),
            ConfigFile::BuiltIn => format!("built-in defaults (no {DEFAULT_FILE} here)"),
        }
    }

    /// An [`ConfigError::Invalid`] for a check made after loading, with the
    /// value's source looked up again in this file and the process's
    /// environment.
    pub(crate) fn invalid(&self, key: &'static str, problem: String) -> ConfigError {
        match Layers::read(self, None) {
            Ok(layers) => layers.invalid(key, problem),
            Err(e) => e,
        }
    }
}

/// Where one value came from: where the user goes to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// Set nowhere: the built-in default.
    Default,
    /// The configuration file, path as given.
    File(PathBuf),
    /// An environment variable, by its full name.
    Env(String),
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::Default => write!(f, "the built-in defaults"),
            ValueSource::File(p) => write!(f, "file {}", p.display()),
            ValueSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// The name of the environment variable that sets `key`.
fn env_var(key: &str) -> String {
    let mut name = ENV_PREFIX.to_string();
    for part in key.split('.') {
        name.push_str("__");
        name.push_str(&part.to_ascii_uppercase());
    }
    name
}

/// The layers of one load, kept so that an error can say where a value came
/// from.
struct Layers<'a> {
    file: &'a ConfigFile,
    /// The file alone: does it set a key?
    file_layer: Option<config::Config>,
    /// The environment as given to a test; `None` reads the process's.
    env: Option<config::Map<String, String>>,
    defaults: config::Config,
    merged: config::Config,
}

impl<'a> Layers<'a> {
    fn read(
        file: &'a ConfigFile,
        env: Option<config::Map<String, String>>,
    ) -> Result<Layers<'a>, ConfigError> {
        let defaults_source = config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml);
        let defaults = config::Config::builder()
            .add_source(defaults_source.clone())
            .build()?;
        let mut builder = config::Config::builder().add_source(defaults_source);
        let mut file_layer = None;
        if let Some(path) = file.path() {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            let source = config::File::from(path).format(config::FileFormat::Toml);
            let alone = config::Config::builder()
                .add_source(source.clone())
                .build()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: match e {
                        config::ConfigError::FileParse { cause, .. } => cause.to_string(),
                        other => other.to_string(),
                    },
                })?;
            file_layer = Some(alone);
            builder = builder.add_source(source);
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("symbols")
            .source(env.clone());
        let merged = builder.add_source(environment).build()?;
        Ok(Layers {
            file,
            file_layer,
            env,
            defaults,
            merged,
        })
    }

    fn source_of(&self, key: &str) -> ValueSource {
        let var = env_var(key);
        let in_env = match &self.env {
            Some(map) => map.contains_key(&var),
            None => std::env::var_os(&var).is_some(),
        };
        if in_env {
            return ValueSource::Env(var);
        }
        match (&self.file_layer, self.file.path()) {
            (Some(layer), Some(path)) if layer.get::<config::Value>(key).is_ok() => {
                ValueSource::File(path.to_path_buf())
            }
            _ => ValueSource::Default,
        }
    }

    /// The value in force, as written (text quoted).
    fn value_of(&self, key: &str) -> String {
        match self.merged.get::<config::Value>(key) {
            Ok(v) => match v.kind {
                config::ValueKind::String(s) => format!("{s:?}"),
                other => other.to_string(),
            },
            Err(_) => "(unset)".into(),
        }
    }

    fn invalid(&self, key: &'static str, problem: String) -> ConfigError {
        ConfigError::Invalid {
            key,
            value: self.value_of(key),
            from: self.source_of(key),
            problem,
        }
    }

    fn wrong_type(&self, key: String, expected: String) -> ConfigError {
        ConfigError::WrongType {
            value: self.value_of(&key),
            from: self.source_of(&key),
            expected,
            key,
        }
    }

    /// Every key given must be one the defaults have: the defaults list every
    /// key there is, so this names a typo with its section and source.
    fn check_known_keys(&self) -> Result<(), ConfigError> {
        type Table = config::Map<String, config::Value>;
        let known: Table = self.defaults.clone().try_deserialize()?;
        let given: Table = self.merged.clone().try_deserialize()?;
        let mut given: Vec<_> = given.into_iter().collect();
        given.sort_by(|a, b| a.0.cmp(&b.0));
        let listing = |keys: &mut Vec<&String>, what: &str| {
            keys.sort();
            let names: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            format!("{what}: {}", names.join(", "))
        };
        for (section, value) in given {
            let Some(known_value) = known.get(&section) else {
                return Err(ConfigError::UnknownKey {
                    from: self.source_of(&section),
                    allowed: listing(&mut known.keys().collect(), "the top-level keys are"),
                    key: section,
                });
            };
            let (Ok(known_keys), Ok(keys)) =
                (known_value.clone().into_table(), value.clone().into_table())
            else {
                continue;
            };
            let mut keys: Vec<_> = keys.into_keys().collect();
            keys.sort();
            if let Some(bad) = keys.into_iter().find(|k| !known_keys.contains_key(k)) {
                let key = format!("{section}.{bad}");
                return Err(ConfigError::UnknownKey {
                    from: self.source_of(&key),
                    allowed: listing(
                        &mut known_keys.keys().collect(),
                        &format!("[{section}] has"),
                    ),
                    key,
                });
            }
        }
        Ok(())
    }

    /// A deserialisation error, restated with the key's value and source.
    fn explain(&self, e: config::ConfigError) -> ConfigError {
        match e {
            config::ConfigError::Type {
                expected,
                key: Some(key),
                ..
            } => self.wrong_type(key, plain_expected(expected)),
            // `exact_variant` errors read "`key`: unknown variant `x`, expected ...".
            config::ConfigError::Message(m) if m.starts_with('`') => {
                match m[1..].split_once("`: ") {
                    Some((key, rest)) => {
                        let expected = rest.split_once("expected ").map_or(rest, |(_, e)| e);
                        self.wrong_type(key.to_string(), expected.to_string())
                    }
                    None => ConfigError::Load(config::ConfigError::Message(m)),
                }
            }
            other => ConfigError::Load(other),
        }
    }

    /// Resolves each path key against the folder of what set it.
    fn resolve_paths(&self, cfg: &mut Config) {
        let paths = [
            ("gateway.data_path", &mut cfg.gateway.data_path),
            (
                "ordermanager.journal_path",
                &mut cfg.ordermanager.journal_path,
            ),
            ("logs.dir", &mut cfg.logs.dir),
        ];
        for (key, path) in paths {
            let base = match self.source_of(key) {
                ValueSource::File(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
                ValueSource::Default => PathBuf::from("config"),
                ValueSource::Env(_) => PathBuf::new(),
            };
            *path = resolve(&base, path);
        }
    }
}

/// The `serde` wording of a number kind, in the user's terms.
fn plain_expected(expected: &str) -> String {
    match expected {
        "an unsigned 16 bit integer" => "a whole number from 0 to 65535".into(),
        "an unsigned 32 bit integer" => "a whole number from 0 to 4294967295".into(),
        "an unsigned 64 bit integer" => "a whole number of 0 or more".into(),
        other => other.into(),
    }
}

/// `path` read against `base`, with `x/..` pairs folded away so that the
/// logged path is the one a person would write.
pub(crate) fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Config {
    /// A client port left at 0 takes its listener's port.
    fn follow_listener_ports(&mut self) {
        let follow = |port: &mut u16, listener: u16| {
            if *port == 0 {
                *port = listener;
            }
        };
        follow(&mut self.orderbook.md_port, self.gateway.md_port);
        follow(&mut self.strategy.news_port, self.gateway.news_port);
        follow(
            &mut self.strategy.order_manager_port,
            self.ordermanager.port,
        );
    }

    /// Loads the defaults, then the file ([`ConfigFile::choose`] of `given`),
    /// then `TRADING__*` variables, and validates.
    pub fn load(given: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(ConfigFile::choose(given), None)
    }

    /// Like [`Config::load`] with an explicit file (`None`: the built-in
    /// defaults alone) and environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Config, ConfigError> {
        let file = path.map_or(ConfigFile::BuiltIn, |p| ConfigFile::Given(p.into()));
        Self::load_from(file, env)
    }

    fn load_from(
        file: ConfigFile,
        env: Option<config::Map<String, String>>,
    ) -> Result<Config, ConfigError> {
        let layers = Layers::read(&file, env)?;
        layers.check_known_keys()?;
        let mut cfg: Config = layers
            .merged
            .clone()
            .try_deserialize()
            .map_err(|e| layers.explain(e))?;
        layers.resolve_paths(&mut cfg);
        cfg.follow_listener_ports();
        cfg.validate()
            .map_err(|(key, problem)| layers.invalid(key, problem))?;
        cfg.file = file.clone();
        Ok(cfg)
    }
}
