//! The gateway role (being built).
use crate::lifecycle::RoleContext;

/// Runs the gateway until it is asked to stop.
pub fn run(_ctx: RoleContext) -> anyhow::Result<()> {
    anyhow::bail!("the gateway role is not built yet")
}

/// Writes a random-walk CSV (being built).
pub fn write_random_walk_csv(
    _config: &crate::config::Config,
    _path: &std::path::Path,
    _ticks: u64,
) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
