//! `site.delete`: everything of a site removed (vhost, pools, database, certificate, files, user,
//! registry entry), converging for a site the registry no longer knows.

use super::database::drop_database;
use super::nginx::nginx_test;
use super::php::pool_paths;
use super::reload;
use crate::registry::Registry;
use crate::runner::must;
use crate::{Context, fsx};
use chom_agent_protocol::{AgentError, Domain};
use serde_json::json;

/// `site.delete`: removes the vhost, pools, database, user, files and registry entry. Also
/// converges for a site the registry no longer knows (a crash between steps).
///
/// # Errors
/// `COMMAND_FAILED`, `IO`.
pub fn delete(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let names = domain.names();
    let registry_path = ctx.layout.registry();
    let mut registry = Registry::load(&registry_path)?;
    let existed = registry.sites.contains_key(domain);

    fsx::remove_file(&ctx.layout.vhost_link(domain))?;
    fsx::remove_file(&ctx.layout.vhost(domain))?;
    nginx_test(ctx)?;
    reload(ctx, "nginx")?;
    let mut versions = Vec::new();
    for (v, path) in pool_paths(ctx, &names) {
        if path.exists() {
            fsx::remove_file(&path)?;
            versions.push(v);
        }
    }
    for v in versions {
        reload(ctx, &format!("php{}-fpm", v.as_str()))?;
    }
    drop_database(ctx.runner.as_ref(), &names)?;
    if ctx.layout.live(domain).exists() {
        let (work, logs) = ctx.layout.letsencrypt_work();
        must(
            ctx.runner.as_ref(),
            "certbot",
            &[
                "delete",
                "--non-interactive",
                &format!("--cert-name={}", crate::layout::cert_name(domain)),
                &format!("--config-dir={}", ctx.layout.letsencrypt().display()),
                &format!("--work-dir={}", work.display()),
                &format!("--logs-dir={}", logs.display()),
            ],
            None,
        )?;
    }
    // std's remove_dir_all does not follow symlinks: it opens each directory with O_NOFOLLOW
    // relative to its parent and unlinks a symlink itself (Rust ≥ 1.58.1, CVE-2022-21658).
    fsx::remove_dir_all(&ctx.layout.site_dir(domain))?;
    fsx::remove_dir_all(&ctx.layout.site_logs(domain))?;
    if !ctx.layout.sandbox()
        && ctx
            .runner
            .run("id", &["-u", &names.system_user], None)?
            .success
    {
        must(ctx.runner.as_ref(), "userdel", &[&names.system_user], None)?;
    }
    registry.sites.remove(domain);
    registry.save(&registry_path)?;
    Ok(json!({"domain": domain, "existed": existed}))
}
