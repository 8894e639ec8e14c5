//! The ordermanager role (being built).
use crate::lifecycle::RoleContext;

/// Runs the ordermanager until it is asked to stop.
pub fn run(_ctx: RoleContext) -> anyhow::Result<()> {
    anyhow::bail!("the ordermanager role is not built yet")
}
