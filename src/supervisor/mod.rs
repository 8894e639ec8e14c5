//! The supervisor role (being built).
use crate::lifecycle::RoleContext;

/// Runs the supervisor until it is asked to stop.
pub fn run(_ctx: RoleContext) -> anyhow::Result<()> {
    anyhow::bail!("the supervisor role is not built yet")
}
