//! The site's nginx vhost: rendering it, sizing the server-names hash, testing the
//! configuration, and applying a change with the previous vhost restored on failure.

use super::reload;
use crate::{Context, fsx, nginx_hash, templates};
use chom_agent_protocol::{AgentError, Domain, ErrorCode, SiteNames};

/// Sizes nginx's server-names hash for the names of the enabled vhosts (`conf.d/chom-hash.conf`;
/// removed when there are none, or when the administrator's `nginx.conf` sets the sizes itself,
/// as a second setting would be a duplicate directive).
fn write_hash_conf(ctx: &Context) -> Result<(), AgentError> {
    let path = ctx.layout.nginx_hash_conf();
    let own_setting = !ctx.layout.sandbox()
        && std::fs::read_to_string(ctx.layout.nginx_conf()).is_ok_and(|conf| {
            conf.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("server_names_hash_bucket_size")
                    || l.starts_with("server_names_hash_max_size")
            })
        });
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(ctx.layout.sites_enabled()) {
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                names.extend(nginx_hash::server_names(&text));
            }
        }
    }
    if own_setting || names.is_empty() {
        return fsx::remove_file(&path);
    }
    let sizes = nginx_hash::sizes(names.iter().map(String::as_str));
    fsx::write_atomic(&path, &nginx_hash::conf(&sizes)).map(drop)
}

/// Tests the nginx configuration (the sandbox's own `nginx.conf` in sandbox mode).
pub(in crate::commands) fn nginx_test(ctx: &Context) -> Result<(), AgentError> {
    write_hash_conf(ctx)?;
    let out = if ctx.layout.sandbox() {
        let root = ctx.layout.root();
        fsx::write_atomic(
            &ctx.layout.nginx_conf(),
            &templates::sandbox_nginx_conf(root),
        )?;
        fsx::ensure_dir(&root.join("run"))?;
        fsx::ensure_dir(&root.join("var/log/nginx"))?;
        fsx::ensure_dir(&root.join("etc/nginx/sites-enabled"))?;
        let prefix = format!("{}/", root.display());
        let conf = ctx.layout.nginx_conf().display().to_string();
        let log = ctx.layout.nginx_error_log().display().to_string();
        ctx.runner.run(
            "nginx",
            &["-t", "-q", "-p", &prefix, "-c", &conf, "-e", &log],
            None,
        )?
    } else {
        ctx.runner.run("nginx", &["-t", "-q"], None)?
    };
    if out.success {
        Ok(())
    } else {
        Err(AgentError::new(
            ErrorCode::ConfigTestFailed,
            format!("nginx -t: {}", out.stderr.trim()),
        ))
    }
}

/// Applies a vhost change: test, and on failure restore what was there before.
pub(in crate::commands) fn apply_nginx(
    ctx: &Context,
    domain: &Domain,
    previous: Option<String>,
    was_linked: bool,
) -> Result<&'static str, AgentError> {
    if let Err(e) = nginx_test(ctx) {
        let vhost = ctx.layout.vhost(domain);
        match previous {
            Some(text) => {
                fsx::write_atomic(&vhost, &text)?;
            }
            None => fsx::remove_file(&vhost)?,
        }
        let link = ctx.layout.vhost_link(domain);
        if was_linked {
            fsx::symlink(&vhost, &link)?;
        } else {
            fsx::remove_file(&link)?;
        }
        return Err(e);
    }
    reload(ctx, "nginx")
}

/// The site's vhost, with TLS when it has a certificate.
pub(in crate::commands) fn render_vhost(
    ctx: &Context,
    domain: &Domain,
    names: &SiteNames,
    ssl: bool,
) -> String {
    let site_dir = ctx.layout.site_dir(domain);
    let socket = ctx.layout.pool_socket(&names.pool);
    let log_dir = ctx.layout.site_logs(domain);
    let acme_root = ctx.layout.acme_webroot();
    let live = ctx.layout.live(domain);
    let (cert, key) = (live.join("fullchain.pem"), live.join("privkey.pem"));
    let tls = templates::Tls {
        certificate: &cert,
        key: &key,
    };
    let paths = templates::VhostPaths {
        site_dir: &site_dir,
        socket: &socket,
        log_dir: &log_dir,
        acme_root: &acme_root,
    };
    templates::vhost(domain, &paths, ssl.then_some(&tls))
}
