//! `site.*`: create, delete, enable, disable, info, list, set_php. Every step converges when
//! re-run, and the registry is written last.

use crate::beneath::{self, Perm};
use crate::registry::{Registry, SiteRecord};
use crate::runner::{Runner, must};
use crate::{Context, fsx, nginx_hash, templates};
use chom_agent_protocol::{
    AgentError, Domain, ErrorCode, PhpVersion, SiteNames, SiteSpec, SiteType,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;
use std::path::Path;

/// Directories a site gets, by type (relative to the site directory).
pub(super) fn directories(site_type: SiteType) -> &'static [&'static str] {
    match site_type {
        SiteType::Wordpress => &[
            "public",
            "logs",
            "tmp",
            "sessions",
            "public/wp-content/uploads",
        ],
        SiteType::Laravel => &[
            "public",
            "logs",
            "tmp",
            "sessions",
            "storage/framework/cache",
            "storage/framework/sessions",
            "storage/framework/views",
            "storage/logs",
            "bootstrap/cache",
        ],
        SiteType::Html => &["public", "logs", "tmp", "sessions"],
    }
}

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
pub(super) fn nginx_test(ctx: &Context) -> Result<(), AgentError> {
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

/// Reloads a service (not in sandbox mode: there is no daemon to reload).
pub(super) fn reload(ctx: &Context, unit: &str) -> Result<&'static str, AgentError> {
    if ctx.layout.sandbox() {
        return Ok("skipped (sandbox)");
    }
    must(ctx.runner.as_ref(), "systemctl", &["reload", unit], None)?;
    Ok("reloaded")
}

/// Applies a vhost change: test, and on failure restore what was there before.
pub(super) fn apply_nginx(
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

pub(super) fn db_client_args() -> Vec<String> {
    let mut args = vec!["--batch".to_owned(), "--skip-column-names".to_owned()];
    for (var, flag) in [
        ("CHOM_AGENT_DB_HOST", "--host"),
        ("CHOM_AGENT_DB_PORT", "--port"),
        ("CHOM_AGENT_DB_USER", "--user"),
    ] {
        if let Ok(v) = std::env::var(var) {
            args.push(format!("{flag}={v}"));
        }
    }
    args
}

/// Runs SQL through the MariaDB client on stdin (never as an argument, never through a shell).
pub(super) fn sql(runner: &dyn Runner, statements: &str) -> Result<String, AgentError> {
    let args = db_client_args();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = runner.run("mariadb", &argv, Some(statements))?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("mariadb: {}", out.stderr.trim()),
        ))
    }
}

/// Creates (or converges) the database and its user; returns a fresh password, set now.
fn ensure_database(runner: &dyn Runner, names: &SiteNames) -> Result<String, AgentError> {
    // Names are derived identifiers ([a-z0-9_]) and the password is alphanumeric: nothing here
    // can break out of the quotes.
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let (db, user) = (&names.database, &names.database_user);
    sql(
        runner,
        &format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n\
             CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';\n\
             ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'localhost';\n"
        ),
    )?;
    Ok(password)
}

fn drop_database(runner: &dyn Runner, names: &SiteNames) -> Result<(), AgentError> {
    sql(
        runner,
        &format!(
            "DROP DATABASE IF EXISTS `{}`;\nDROP USER IF EXISTS '{}'@'localhost';\n",
            names.database, names.database_user
        ),
    )
    .map(drop)
}

/// Who owns what the agent makes in a site's tree (`None` in sandbox mode: no site users).
#[derive(Debug, Clone, Copy)]
pub(super) struct Owners {
    /// The site user and its own group: private files (configuration, database exports).
    pub user: (u32, u32),
    /// The site user and www-data's group: what nginx reads.
    pub web: (u32, u32),
}

/// The site's owners, looked up by name (`None` in sandbox mode).
///
/// # Errors
/// `COMMAND_FAILED` (no such user).
pub(super) fn owners(ctx: &Context, names: &SiteNames) -> Result<Option<Owners>, AgentError> {
    if ctx.layout.sandbox() {
        return Ok(None);
    }
    let r = ctx.runner.as_ref();
    let number = |args: &[&str]| -> Result<u32, AgentError> {
        let out = must(r, "id", args, None)?;
        out.stdout.trim().parse().map_err(|_| {
            AgentError::new(
                ErrorCode::CommandFailed,
                format!("id {}: {:?}", args.join(" "), out.stdout),
            )
        })
    };
    let user = names.system_user.as_str();
    let uid = number(&["-u", user])?;
    let gid = number(&["-g", user])?;
    let www = number(&["-g", "www-data"])?;
    Ok(Some(Owners {
        user: (uid, gid),
        web: (uid, www),
    }))
}

/// The site's directory, opened beneath the sites root without following a symlink
/// (`create`: made if missing). `None` when it does not exist and `create` is false.
///
/// # Errors
/// `UNSAFE_PATH`, `IO`.
pub(super) fn open_site(
    ctx: &Context,
    domain: &Domain,
    create: bool,
) -> Result<Option<beneath::Dir>, AgentError> {
    beneath::Dir::open_trusted(&ctx.layout.sites_root())?
        .open_dir(domain.as_str(), create.then_some(0o750))
}

/// The site's directory, which must exist.
///
/// # Errors
/// `SITE_NOT_FOUND` (registered, but its directory is gone: re-run `site.create`),
/// `UNSAFE_PATH`, `IO`.
pub(super) fn existing_site(ctx: &Context, domain: &Domain) -> Result<beneath::Dir, AgentError> {
    open_site(ctx, domain, false)?.ok_or_else(|| {
        AgentError::new(
            ErrorCode::SiteNotFound,
            format!("the directory of {domain} is missing: re-run site.create"),
        )
    })
}

/// The system user (real mode only), made before anything in the tree so every directory and
/// file gets its owner through its own descriptor as it is made.
fn ensure_user(
    ctx: &Context,
    names: &SiteNames,
    site_dir: &Path,
) -> Result<Option<Owners>, AgentError> {
    if ctx.layout.sandbox() {
        return Ok(None);
    }
    let r = ctx.runner.as_ref();
    let user = names.system_user.as_str();
    if !r.run("id", &["-u", user], None)?.success {
        let home = site_dir.display().to_string();
        must(
            r,
            "useradd",
            &[
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                &home,
                "--shell",
                "/usr/sbin/nologin",
                user,
            ],
            None,
        )?;
    }
    owners(ctx, names)
}

/// The site's directory and those of its type, made or converged beneath the sites root one
/// component at a time, never following what the tenant planted (a symlink answers
/// `UNSAFE_PATH`). The site user owns them, with www-data's group so nginx can traverse and
/// read; nobody else may look in (the site root is 0750); the writable ones are 0770. Only the
/// agent's own directories are re-owned (through their descriptors), never the tenant's files.
fn ensure_tree(
    ctx: &Context,
    domain: &Domain,
    site_type: SiteType,
    owners: Option<Owners>,
) -> Result<beneath::Dir, AgentError> {
    let site = open_site(ctx, domain, true)?.ok_or_else(|| {
        AgentError::new(
            ErrorCode::Internal,
            format!("the directory of {domain} was not made"),
        )
    })?;
    let web = owners.map(|o| o.web);
    site.set_perm(Perm::new(web, 0o750))?;
    let mut done = std::collections::BTreeSet::new();
    for dir in directories(site_type) {
        let mut prefix = String::new();
        for part in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !done.insert(prefix.clone()) {
                continue;
            }
            let made = site.ensure_dir(&prefix, 0o755)?;
            if prefix == *dir && *dir != "public" && *dir != "logs" {
                made.set_perm(Perm::new(web, 0o770))?;
            } else {
                made.set_owner(web)?;
            }
        }
    }
    Ok(site)
}

/// The site's log directory of root's daemons (`/var/log/chom-sites/<domain>`): root's, and
/// readable by the site's group.
pub(super) fn ensure_site_logs(
    ctx: &Context,
    domain: &Domain,
    owners: Option<Owners>,
) -> Result<(), AgentError> {
    let dir = beneath::Dir::open_trusted(&ctx.layout.site_logs(domain))?;
    if let Some(o) = owners {
        dir.set_perm(Perm::new(Some((0, o.user.1)), 0o750))?;
    }
    Ok(())
}

fn pool_paths(ctx: &Context, names: &SiteNames) -> Vec<(PhpVersion, std::path::PathBuf)> {
    PhpVersion::ALL
        .iter()
        .map(|v| (*v, ctx.layout.pool_file(*v, &names.pool)))
        .collect()
}

/// Writes the pool in its version's directory and removes it from the others.
fn write_pool(
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

fn reload_php(ctx: &Context, versions: &[PhpVersion]) -> Result<(), AgentError> {
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
    super::app::write_config(domain, &names, spec.site_type, &password, &site, owners)?;
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

/// The site's vhost, with TLS when it has a certificate.
pub(super) fn render_vhost(ctx: &Context, domain: &Domain, names: &SiteNames, ssl: bool) -> String {
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

/// Test hook (debug builds only): `CHOM_AGENT_CRASH_AFTER=<step>` kills the process after that
/// step of `site.create`, as `kill -9` would, so tests can prove a re-run converges.
fn crash_point(step: &str) {
    if cfg!(debug_assertions) && std::env::var("CHOM_AGENT_CRASH_AFTER").is_ok_and(|s| s == step) {
        std::process::exit(137);
    }
}

/// Test hook (debug builds only): `CHOM_AGENT_SLOW_MS=<ms>` pauses `site.create` after the
/// database step, so tests can kill the control plane in the middle of a provisioning.
fn slow_point() {
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
