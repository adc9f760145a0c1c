//! The site's PHP-FPM pool: written in its version's directory (removed from the others) and
//! the touched versions reloaded; `site.set_php`.

use super::reload;
use super::tree::{ensure_site_logs, owners};
use crate::registry::Registry;
use crate::runner::must;
use crate::{Context, fsx, templates};
use chom_agent_protocol::{AgentError, Domain, ErrorCode, PhpVersion, SiteNames};
use serde_json::json;
use std::path::Path;

pub(super) fn pool_paths(
    ctx: &Context,
    names: &SiteNames,
) -> Vec<(PhpVersion, std::path::PathBuf)> {
    PhpVersion::ALL
        .iter()
        .map(|v| (*v, ctx.layout.pool_file(*v, &names.pool)))
        .collect()
}

/// Writes the pool in its version's directory and removes it from the others.
pub(super) fn write_pool(
    ctx: &Context,
    domain: &Domain,
    names: &SiteNames,
    version: PhpVersion,
    site_dir: &Path,
) -> Result<Vec<PhpVersion>, AgentError> {
    let socket = ctx.layout.pool_socket(&names.pool);
    let mut touched = vec![version];
    fsx::write_atomic(
        &ctx.layout.pool_file(version, &names.pool),
        &templates::pool(
            domain,
            names,
            version,
            site_dir,
            &socket,
            &ctx.layout.site_logs(domain),
        ),
    )?;
    for (v, path) in pool_paths(ctx, names) {
        if v != version && path.exists() {
            fsx::remove_file(&path)?;
            touched.push(v);
        }
    }
    Ok(touched)
}

pub(super) fn reload_php(ctx: &Context, versions: &[PhpVersion]) -> Result<(), AgentError> {
    for v in versions {
        if !ctx.layout.sandbox() {
            must(
                ctx.runner.as_ref(),
                &format!("php-fpm{}", v.as_str()),
                &["-t"],
                None,
            )
            .map_err(|e| AgentError::new(ErrorCode::ConfigTestFailed, e.message))?;
        }
        reload(ctx, &format!("php{}-fpm", v.as_str()))?;
    }
    Ok(())
}

/// `site.set_php`: the pool moves to the new version's directory.
///
/// # Errors
/// `SITE_NOT_FOUND`, `CONFIG_TEST_FAILED`, `IO`.
pub fn set_php(
    ctx: &Context,
    domain: &Domain,
    version: PhpVersion,
) -> Result<serde_json::Value, AgentError> {
    let registry_path = ctx.layout.registry();
    let mut registry = Registry::load(&registry_path)?;
    let site = registry.get(domain)?.clone();
    ensure_site_logs(ctx, domain, owners(ctx, &site.names)?)?;
    let touched = write_pool(
        ctx,
        domain,
        &site.names,
        version,
        &ctx.layout.site_dir(domain),
    )?;
    reload_php(ctx, &touched)?;
    if let Some(s) = registry.sites.get_mut(domain) {
        s.php_version = version;
    }
    registry.save(&registry_path)?;
    Ok(
        json!({"domain": domain, "php_version": version, "pool_file": ctx.layout.pool_file(version, &site.names.pool)}),
    )
}
