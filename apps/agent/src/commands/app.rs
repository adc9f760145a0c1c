//! The application of a site: its configuration (written by `site.create` with the database
//! credentials it just set) and `app.install` (WordPress core through wp-cli when the server has
//! it, the Laravel layout, the static placeholder). Both converge when repeated.

use super::site::{Owners, existing_site, owners};
use crate::Context;
use crate::beneath::{Dir, Perm};
use crate::registry::Registry;
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

/// The file (in the site's directory, outside the document root) holding the application's
/// database settings.
fn config_name(site_type: SiteType) -> Option<&'static str> {
    match site_type {
        SiteType::Wordpress => Some("wp-config.php"),
        SiteType::Laravel => Some(".env"),
        SiteType::Html => None,
    }
}

/// Its path.
pub(super) fn config_path(site_dir: &Path, site_type: SiteType) -> Option<std::path::PathBuf> {
    config_name(site_type).map(|name| site_dir.join(name))
}

/// Writes the application's configuration with the database credentials (the password is
/// alphanumeric and the names are `[a-z0-9_]`: nothing can break out of the quotes). Only the
/// site's user may read it (0600, set on the new file's descriptor before it takes the name,
/// which replaces whatever the tenant left there, a symlink included, without following it).
///
/// # Errors
/// `UNSAFE_PATH`, `IO`.
pub(super) fn write_config(
    domain: &Domain,
    names: &SiteNames,
    site_type: SiteType,
    password: &str,
    site: &Dir,
    owners: Option<Owners>,
) -> Result<(), AgentError> {
    let Some(name) = config_name(site_type) else {
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
    site.write_atomic(name, &text, Perm::new(owners.map(|o| o.user), 0o600))
        .map(drop)
}

/// 32 random bytes, base64 (Laravel's `APP_KEY` format).
fn data_key() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    data_encoding::BASE64.encode(&bytes)
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
    let tree = existing_site(ctx, domain)?
        .open_dir("public", None)?
        .ok_or_else(|| {
            AgentError::new(
                ErrorCode::SiteNotFound,
                format!("{} is missing: re-run site.create", public.display()),
            )
        })?;
    let installed = match site.site_type {
        SiteType::Wordpress => {
            if tree.exists("wp-settings.php")? {
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
            if !tree.exists("index.php")? {
                let web = owners(ctx, &site.names)?.map(|o| o.web);
                tree.write_atomic(
                    "index.php",
                    "<?php\n// Placeholder: deploy the Laravel application into this site's directory.\nhttp_response_code(503);\necho 'Application not deployed yet';\n",
                    Perm::new(web, 0o644),
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
