//! `site.create`: user, tree, database, configuration, pool and vhost, each step converging
//! when re-run; the registry written last. With the debug-build test hooks that crash or slow
//! it between steps.

use super::database::ensure_database;
use super::nginx::{apply_nginx, render_vhost};
use super::php::{reload_php, write_pool};
use super::tree::{ensure_site_logs, ensure_tree, ensure_user};
use crate::beneath::Perm;
use crate::registry::{Registry, SiteRecord};
use crate::{Context, fsx};
use chom_agent_protocol::{AgentError, SiteSpec};
use serde_json::json;

/// `site.create`.
///
/// # Errors
/// `CONFIG_TEST_FAILED`, `COMMAND_FAILED`, `IO`.
pub fn create(ctx: &Context, spec: &SiteSpec) -> Result<serde_json::Value, AgentError> {
    let domain = &spec.domain;
    let names = domain.names();
    let registry_path = ctx.layout.registry();
    let mut registry = Registry::load(&registry_path)?;
    let previous = registry.sites.get(domain).cloned();
    let site_dir = ctx.layout.site_dir(domain);

    let owners = ensure_user(ctx, &names, &site_dir)?;
    let site = ensure_tree(ctx, domain, spec.site_type, owners)?;
    crash_point("directories");
    let public = site.ensure_dir("public", 0o755)?;
    if !public.exists("index.html")? {
        public.write_atomic(
            "index.html",
            &format!("<!doctype html><title>{domain}</title><h1>Welcome to {domain}</h1>\n"),
            Perm::new(owners.map(|o| o.web), 0o644),
        )?;
    }
    ensure_site_logs(ctx, domain, owners)?;
    crash_point("user");
    let password = ensure_database(ctx.runner.as_ref(), &names)?;
    crate::commands::app::write_config(domain, &names, spec.site_type, &password, &site, owners)?;
    crash_point("database");
    slow_point();
    let php = write_pool(ctx, domain, &names, spec.php_version, &site_dir)?;
    reload_php(ctx, &php)?;
    crash_point("pool");

    let vhost_path = ctx.layout.vhost(domain);
    let old_vhost = std::fs::read_to_string(&vhost_path).ok();
    let link = ctx.layout.vhost_link(domain);
    let was_linked = link.exists();
    let enabled = previous.as_ref().is_none_or(|p| p.enabled);
    fsx::write_atomic(
        &vhost_path,
        &render_vhost(
            ctx,
            domain,
            &names,
            previous.as_ref().is_some_and(|p| p.ssl),
        ),
    )?;
    if enabled {
        fsx::symlink(&vhost_path, &link)?;
    }
    let nginx = apply_nginx(ctx, domain, old_vhost, was_linked)?;
    crash_point("vhost");

    let record = SiteRecord {
        domain: domain.clone(),
        site_type: spec.site_type,
        php_version: spec.php_version,
        enabled,
        names: names.clone(),
        ssl: previous.as_ref().is_some_and(|p| p.ssl),
        created_at: previous.map_or_else(now, |p| p.created_at),
    };
    registry.sites.insert(domain.clone(), record);
    registry.save(&registry_path)?;
    Ok(json!({
        "domain": domain,
        "site_root": site_dir,
        "document_root": site_dir.join("public"),
        "site_type": spec.site_type,
        "php_version": spec.php_version,
        "enabled": enabled,
        "system_user": names.system_user,
        "php_pool": names.pool,
        "nginx": nginx,
        "database": {"name": names.database, "user": names.database_user, "password": password, "host": "localhost"},
    }))
}

/// Test hook (debug builds only): `CHOM_AGENT_CRASH_AFTER=<step>` kills the process after that
/// step of `site.create` (or of `backup.create`, `backup.restore`), as `kill -9` would, so tests can prove a re-run converges.
pub(in crate::commands) fn crash_point(step: &str) {
    if cfg!(debug_assertions) && std::env::var("CHOM_AGENT_CRASH_AFTER").is_ok_and(|s| s == step) {
        std::process::exit(137);
    }
}

/// Test hook (debug builds only): `CHOM_AGENT_SLOW_MS=<ms>` pauses `site.create` after the
/// database step, `backup.create` after the files part and `backup.restore` after staging the
/// files, so tests can kill the control plane in the middle of each.
pub(in crate::commands) fn slow_point() {
    if cfg!(debug_assertions)
        && let Some(ms) = std::env::var("CHOM_AGENT_SLOW_MS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
