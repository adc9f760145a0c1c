//! `site.*`: create, delete, enable, disable, info, list, set_php. Every step converges when
//! re-run, and the registry is written last.
//!
//! Each command has its own file, beside the parts of a site they share: its tree and owners,
//! its database, its PHP pool and its nginx vhost.

mod create;
mod database;
mod delete;
mod info;
mod nginx;
mod php;
mod serving;
mod tree;

pub use create::create;
pub(super) use create::{crash_point, slow_point};
pub use delete::delete;
pub use info::{info, list};
pub use php::set_php;
pub use serving::set_enabled;

pub(super) use database::{db_client_args, db_tool_args, sql};
pub(super) use nginx::{apply_nginx, nginx_test, render_vhost};
pub(super) use tree::{Owners, ensure_site_logs, existing_site, owners};

use crate::Context;
use crate::runner::must;
use chom_agent_protocol::AgentError;

/// Reloads a service (not in sandbox mode: there is no daemon to reload).
pub(super) fn reload(ctx: &Context, unit: &str) -> Result<&'static str, AgentError> {
    if ctx.layout.sandbox() {
        return Ok("skipped (sandbox)");
    }
    must(ctx.runner.as_ref(), "systemctl", &["reload", unit], None)?;
    Ok("reloaded")
}
