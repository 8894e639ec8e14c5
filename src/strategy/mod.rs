//! The strategy role (being built).
use crate::lifecycle::RoleContext;

/// Runs the strategy until it is asked to stop.
pub fn run(_ctx: RoleContext) -> anyhow::Result<()> {
    anyhow::bail!("the strategy role is not built yet")
}
