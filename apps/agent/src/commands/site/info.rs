//! `site.info` and `site.list`: what the registry knows, with whether a site is served and its
//! disk usage.

use crate::Context;
use crate::registry::{Registry, SiteRecord};
use crate::runner::Runner;
use chom_agent_protocol::{AgentError, Domain};
use serde_json::json;
use std::path::Path;

/// `du` only reads metadata and, with `-P` (its default, spelt out), never follows a symlink;
/// `-x` keeps it on the site's file system.
fn disk_usage(runner: &dyn Runner, dir: &Path) -> Option<u64> {
    let out = runner
        .run(
            "du",
            &["-s", "-b", "-P", "-x", "--", &dir.display().to_string()],
            None,
        )
        .ok()?;
    out.stdout.split_whitespace().next()?.parse().ok()
}

/// `site.info`.
///
/// # Errors
/// `SITE_NOT_FOUND`.
pub fn info(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(domain)?;
    let dir = ctx.layout.site_dir(domain);
    Ok(json!({
        "site": site,
        "site_root": dir,
        "serving": ctx.layout.vhost_link(domain).exists(),
        "disk_usage_bytes": disk_usage(ctx.runner.as_ref(), &dir),
    }))
}

/// `site.list`.
///
/// # Errors
/// `IO` (unreadable registry).
pub fn list(ctx: &Context) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let sites: Vec<&SiteRecord> = registry.sites.values().collect();
    Ok(json!({"sites": sites, "count": sites.len()}))
}
