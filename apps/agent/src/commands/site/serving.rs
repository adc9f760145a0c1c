//! `site.enable` / `site.disable`: the vhost linked or unlinked, and nginx tested and reloaded.

use super::nginx::apply_nginx;
use crate::registry::Registry;
use crate::{Context, fsx};
use chom_agent_protocol::{AgentError, Domain, ErrorCode};
use serde_json::json;

/// `site.enable` / `site.disable`.
///
/// # Errors
/// `SITE_NOT_FOUND`, `CONFIG_TEST_FAILED`, `IO`.
pub fn set_enabled(
    ctx: &Context,
    domain: &Domain,
    enabled: bool,
) -> Result<serde_json::Value, AgentError> {
    let registry_path = ctx.layout.registry();
    let mut registry = Registry::load(&registry_path)?;
    registry.get(domain)?;
    let vhost = ctx.layout.vhost(domain);
    let link = ctx.layout.vhost_link(domain);
    let was_linked = link.exists();
    if enabled {
        if !vhost.exists() {
            return Err(AgentError::new(
                ErrorCode::SiteNotFound,
                format!("the vhost of {domain} is missing: re-run site.create"),
            ));
        }
        fsx::symlink(&vhost, &link)?;
    } else {
        fsx::remove_file(&link)?;
    }
    let old = std::fs::read_to_string(&vhost).ok();
    let nginx = apply_nginx(ctx, domain, old, was_linked)?;
    if let Some(site) = registry.sites.get_mut(domain) {
        site.enabled = enabled;
    }
    registry.save(&registry_path)?;
    Ok(json!({"domain": domain, "enabled": enabled, "nginx": nginx}))
}
