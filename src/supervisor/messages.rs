//! What the [`SupervisorActor`] and its [`ChildActor`]s say to each other:
//! how a child is started, the events it reports and the questions the
//! supervisor asks. Stopping one is the shared [`Stop`].
//!
//! [`SupervisorActor`]: super::SupervisorActor
//! [`ChildActor`]: super::ChildActor
//! [`Stop`]: crate::lifecycle::Stop

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Message;

use crate::lifecycle::{Exit, Role};
use crate::shm::ProcessIdentity;

/// How to start a child: the program and its arguments. The supervisor uses
/// its own executable with `--role NAME`; tests substitute `sh -c '…'`.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Which role the child plays: names it in logs, events and summaries.
    pub role: Role,
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Whether a restart is told its dead predecessor (`--replaces
    /// PID:STARTTIME`): for a role that continues what that one left, the
    /// orderbook's table.
    pub names_predecessor: bool,
}

/// Environment overrides every start of every child gets: the resolved
/// ports, shared so that a restart sees ports announced after its first start.
pub type SharedEnv = Arc<Mutex<Vec<(String, String)>>>;

/// What a child reports to the supervisor.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum ChildEvent {
    /// It printed its READY line (endpoints by name): later starts may go.
    Ready(Role, Vec<(String, SocketAddr)>),
    /// It died and is restarted after `delay`; `restarts` counts them all.
    Restarting {
        /// The child.
        role: Role,
        /// The backoff before the new start.
        delay: Duration,
        /// Restarts of this child so far, this one included.
        restarts: u32,
    },
    /// It exited 0: finished, not restarted.
    Finished(Role),
    /// It cannot go on (restart budget spent, no READY in time, cannot be
    /// started): the run must end with this error.
    Failed(Role, String),
    /// It exited with a fatal status (see [`Exit::is_fatal`]): restarting
    /// cannot help, the run must end and say why on the terminal.
    CannotRun {
        /// The child.
        role: Role,
        /// Its exit status.
        exit: Exit,
        /// Its own last error line; `None` if it printed none.
        line: Option<String>,
    },
}

/// Start the child (the first start; restarts are the actor's own business).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartChild;

/// Restarts so far, for the summary.
#[derive(Message)]
#[rtype(result = "u32")]
pub struct GetRestarts;

/// Every process this actor started (pid and start time), in order: what
/// tells a table the run's own orderbook created from one another process
/// created under the same name, so that only the former is removed.
#[derive(Message)]
#[rtype(result = "Vec<ProcessIdentity>")]
pub struct GetStarted;
