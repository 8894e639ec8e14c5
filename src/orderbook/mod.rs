//! The orderbook role (being built).
use crate::lifecycle::RoleContext;

/// Runs the orderbook until it is asked to stop.
pub fn run(_ctx: RoleContext) -> anyhow::Result<()> {
    anyhow::bail!("the orderbook role is not built yet")
}
