//! The application of a site: its configuration (written by `site.create` with the database
//! credentials it just set) and `app.install` (WordPress core through wp-cli when the server has
//! it, the Laravel layout, the static placeholder). Both converge when repeated.

use crate::registry::Registry;
use crate::{Context, fsx};
use chom_agent_protocol::{AgentError, Domain, ErrorCode, SiteNames, SiteType};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;
use std::path::Path;

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// The file holding the application's database settings, outside the document root.
pub(super) fn config_path(site_dir: &Path, site_type: SiteType) -> Option<std::path::PathBuf> {
    match site_type {
        SiteType::Wordpress => Some(site_dir.join("wp-config.php")),
        SiteType::Laravel => Some(site_dir.join(".env")),
        SiteType::Html => None,
    }
}

/// Writes the application's configuration with the database credentials (the password is
/// alphanumeric and the names are `[a-z0-9_]`: nothing can break out of the quotes).
///
/// # Errors
/// `IO`.
pub(super) fn write_config(
    ctx: &Context,
    domain: &Domain,
    names: &SiteNames,
    site_type: SiteType,
    password: &str,
    site_dir: &Path,
) -> Result<(), AgentError> {
    let Some(path) = config_path(site_dir, site_type) else {
        return Ok(());
    };
    let (db, user) = (&names.database, &names.database_user);
    let text = match site_type {
        SiteType::Wordpress => {
            let salts: String = [
                "AUTH_KEY",
                "SECURE_AUTH_KEY",
                "LOGGED_IN_KEY",
                "NONCE_KEY",
                "AUTH_SALT",
                "SECURE_AUTH_SALT",
                "LOGGED_IN_SALT",
                "NONCE_SALT",
            ]
            .iter()
            .map(|k| format!("define('{k}', '{}');\n", random(64)))
            .collect();
            format!(
                "<?php\n// Written by chom-agent for {domain}; rewritten when the site is re-provisioned.\n\
                 define('DB_NAME', '{db}');\ndefine('DB_USER', '{user}');\ndefine('DB_PASSWORD', '{password}');\n\
                 define('DB_HOST', 'localhost');\ndefine('DB_CHARSET', 'utf8mb4');\ndefine('DB_COLLATE', '');\n\
                 {salts}$table_prefix = 'wp_';\ndefine('WP_DEBUG', false);\n\
                 if (!defined('ABSPATH')) {{\n    define('ABSPATH', __DIR__ . '/public/');\n}}\n\
                 require_once ABSPATH . 'wp-settings.php';\n"
            )
        }
        SiteType::Laravel => format!(
            "# Written by chom-agent for {domain}; rewritten when the site is re-provisioned.\n\
             APP_NAME={domain}\nAPP_ENV=production\nAPP_DEBUG=false\nAPP_URL=https://{domain}\n\
             APP_KEY=base64:{}\nDB_CONNECTION=mysql\nDB_HOST=localhost\nDB_PORT=3306\n\
             DB_DATABASE={db}\nDB_USERNAME={user}\nDB_PASSWORD={password}\n",
            data_key()
        ),
        SiteType::Html => return Ok(()),
    };
    fsx::write_atomic(&path, &text)?;
    protect(ctx, &path, &names.system_user)
}

/// 32 random bytes, base64 (Laravel's `APP_KEY` format).
fn data_key() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    data_encoding::BASE64.encode(&bytes)
}

/// Only the site's user may read a file holding its secrets (real mode).
fn protect(ctx: &Context, path: &Path, user: &str) -> Result<(), AgentError> {
    if ctx.layout.sandbox() {
        return Ok(());
    }
    let file = path.display().to_string();
    crate::runner::must(
        ctx.runner.as_ref(),
        "chown",
        &[&format!("{user}:{user}"), &file],
        None,
    )?;
    crate::runner::must(ctx.runner.as_ref(), "chmod", &["0600", &file], None)?;
    Ok(())
}

/// `app.install`.
///
/// # Errors
/// `SITE_NOT_FOUND`, `COMMAND_FAILED` (wp-cli failed), `IO`.
pub fn install(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(domain)?.clone();
    let site_dir = ctx.layout.site_dir(domain);
    let public = site_dir.join("public");
    let installed = match site.site_type {
        SiteType::Wordpress => {
            if public.join("wp-settings.php").exists() {
                "wordpress core present".to_owned()
            } else if ctx
                .runner
                .run("wp", &["--version", "--allow-root"], None)
                .is_ok_and(|o| o.success)
            {
                let path = format!("--path={}", public.display());
                let out = if ctx.layout.sandbox() {
                    ctx.runner
                        .run("wp", &["core", "download", &path, "--allow-root"], None)?
                } else {
                    let user = site.names.system_user.as_str();
                    ctx.runner.run(
                        "runuser",
                        &["-u", user, "--", "wp", "core", "download", &path],
                        None,
                    )?
                };
                if !out.success {
                    return Err(AgentError::new(
                        ErrorCode::CommandFailed,
                        format!("wp core download: {}", out.stderr.trim()),
                    ));
                }
                "wordpress core downloaded".to_owned()
            } else {
                "wp-cli not found: placeholder page kept".to_owned()
            }
        }
        SiteType::Laravel => {
            let index = public.join("index.php");
            if !index.exists() {
                fsx::write_atomic(
                    &index,
                    "<?php\n// Placeholder: deploy the Laravel application into this site's directory.\nhttp_response_code(503);\necho 'Application not deployed yet';\n",
                )?;
            }
            "laravel layout ready".to_owned()
        }
        SiteType::Html => "static placeholder".to_owned(),
    };
    Ok(json!({
        "domain": domain,
        "site_type": site.site_type,
        "installed": installed,
        "config_file": config_path(&site_dir, site.site_type),
    }))
}
