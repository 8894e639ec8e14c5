//! Exit statuses: the one table every process of the stack exits by.
//!
//! | status | [`Exit`] | meaning | supervisor (`--all`) |
//! |---|---|---|---|
//! | 0 | [`Exit::Ok`] | finished (a finite run's end, or asked to stop) | not restarted |
//! | 1 | [`Exit::Failure`] | unexpected failure (also death by a signal) | restarted, within the budget |
//! | 2 | [`Exit::Config`] | bad command line or configuration (clap uses 2 too) | run stopped |
//! | 3 | [`Exit::Journal`] | the order journal cannot be opened, read back or written | run stopped |
//! | 4 | [`Exit::Environment`] | the machine refuses: a port in use, the shm table's name taken | run stopped |
//! | 5 | [`Exit::Data`] | an input file is missing, unreadable or malformed (the market data CSV) | run stopped |
//!
//! Statuses 2 to 5 are *fatal*: a restart would hit the same wall, so the
//! supervisor stops the whole run at once and prints the child's own last
//! error line instead of restarting it (see [`crate::supervisor`]).

use std::fmt;

/// A process exit status of the table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: finished.
    Ok = 0,
    /// 1: anything unexpected; restarting may help.
    Failure = 1,
    /// 2: bad command line or configuration.
    Config = 2,
    /// 3: the order journal cannot be opened, read back or written.
    Journal = 3,
    /// 4: the environment refuses (port in use, shm name taken).
    Environment = 4,
    /// 5: an input data file is missing, unreadable or malformed.
    Data = 5,
}

impl Exit {
    /// The status as the process exits with it.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The entry for a status a child exited with; `None` for one outside
    /// the table (then it counts as an unexpected failure).
    pub fn from_code(code: i32) -> Option<Exit> {
        [
            Exit::Ok,
            Exit::Failure,
            Exit::Config,
            Exit::Journal,
            Exit::Environment,
            Exit::Data,
        ]
        .into_iter()
        .find(|e| i32::from(e.code()) == code)
    }

    /// Whether restarting the process cannot help: the supervisor stops the
    /// run instead of restarting into the same wall.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            Exit::Config | Exit::Journal | Exit::Environment | Exit::Data
        )
    }

    /// A few words for messages: `exit status 3: journal failed`.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "finished",
            Exit::Failure => "unexpected failure",
            Exit::Config => "configuration",
            Exit::Journal => "journal failed",
            Exit::Environment => "environment",
            Exit::Data => "data file",
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}: {}", self.code(), self.meaning())
    }
}

/// Why a process cannot run, by the kind that decides its exit status.
///
/// Roles wrap a start-up (or, for the journal, a run-time) failure in the
/// variant of its kind; `main` exits with [`CannotRun::exit`], and the
/// supervisor, seeing a fatal status, does not restart. Each variant keeps
/// the whole context chain of the failure for its message.
#[derive(Debug, thiserror::Error)]
pub enum CannotRun {
    /// The configuration cannot be used ([`Exit::Config`]).
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// The order journal cannot be opened or written ([`Exit::Journal`]).
    #[error("{0:#}")]
    Journal(anyhow::Error),
    /// A port is in use, the shm name is taken ([`Exit::Environment`]).
    #[error("{0:#}")]
    Environment(anyhow::Error),
    /// An input data file is missing or malformed ([`Exit::Data`]).
    #[error("{0:#}")]
    Data(anyhow::Error),
    /// A supervised child exited with a fatal status: the run stops with it.
    #[error("{role} cannot run: {line}")]
    Child {
        /// The child's role name.
        role: &'static str,
        /// Its exit status.
        exit: Exit,
        /// Its own last error line (or what is known of its end).
        line: String,
    },
}

impl CannotRun {
    /// The exit status this failure means.
    pub fn exit(&self) -> Exit {
        match self {
            CannotRun::Config(_) => Exit::Config,
            CannotRun::Journal(_) => Exit::Journal,
            CannotRun::Environment(_) => Exit::Environment,
            CannotRun::Data(_) => Exit::Data,
            CannotRun::Child { exit, .. } => *exit,
        }
    }
}

/// The exit status for any error a role or the supervisor returned: that of
/// a [`CannotRun`] or [`ConfigError`](crate::config::ConfigError) anywhere
/// in its chain, else [`Exit::Failure`].
pub fn exit_for(error: &anyhow::Error) -> Exit {
    error
        .chain()
        .find_map(|e| {
            if let Some(c) = e.downcast_ref::<CannotRun>() {
                Some(c.exit())
            } else {
                e.downcast_ref::<crate::config::ConfigError>()
                    .map(|_| Exit::Config)
            }
        })
        .unwrap_or(Exit::Failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn codes_round_trip_and_only_the_wall_kinds_are_fatal() {
        for code in 0..=5 {
            assert_eq!(i32::from(Exit::from_code(code).unwrap().code()), code);
        }
        assert_eq!(Exit::from_code(6), None);
        assert_eq!(Exit::from_code(-1), None);
        let fatal: Vec<u8> = (0..=5)
            .filter_map(Exit::from_code)
            .filter(|e| e.is_fatal())
            .map(Exit::code)
            .collect();
        assert_eq!(fatal, [2, 3, 4, 5]);
        assert_eq!(Exit::Journal.to_string(), "exit status 3: journal failed");
    }

    #[test]
    fn the_status_is_found_under_added_context() {
        let bind = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e: anyhow::Error = Err::<(), _>(bind)
            .context("binding market data on 127.0.0.1:8000 (gateway.md_port)")
            .map_err(CannotRun::Environment)
            .context("starting the gateway")
            .unwrap_err();
        assert_eq!(exit_for(&e), Exit::Environment);
        assert!(format!("{e:#}").contains("(gateway.md_port): address in use"));
        let plain = anyhow::anyhow!("something else");
        assert_eq!(exit_for(&plain), Exit::Failure);
        let config = crate::config::ConfigError::MissingFile("x.toml".into());
        assert_eq!(exit_for(&anyhow::Error::from(config)), Exit::Config);
    }
}
