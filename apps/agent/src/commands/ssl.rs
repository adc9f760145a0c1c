//! `ssl.issue`, `ssl.renew`, `ssl.status`: ACME HTTP-01 through certbot's webroot mode, then
//! the vhost switches to HTTPS, checked by `nginx -t` before any reload.
//!
//! certbot runs as root and writes (and chowns) the challenge directories and files by path, so
//! its webroot is root's own (`/var/www/chom-acme`, which every vhost serves for
//! `/.well-known/acme-challenge/`), never the site's `public/`, which its tenant controls.

use super::site::{apply_nginx, ensure_site_logs, existing_site, owners, render_vhost};
use crate::layout::{cert_name, server_names};
use crate::registry::Registry;
use crate::runner::Runner;
use crate::{Context, fsx};
use chom_agent_protocol::{AgentError, Domain, ErrorCode, SslRequest};
use serde_json::json;

const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// certbot's webroot options for `domain` and its `www.` name: the agent's own webroot. The map
/// form, because `certbot renew` keeps a certificate's stored map (an older agent's was the
/// site's `public/`) unless the map itself is given.
fn webroot_args(ctx: &Context, domain: &Domain) -> Vec<String> {
    let root = ctx.layout.acme_webroot().display().to_string();
    let map: serde_json::Map<String, serde_json::Value> = server_names(domain)
        .into_iter()
        .map(|n| (n, json!(root)))
        .collect();
    let map = serde_json::Value::Object(map);
    vec!["--webroot".to_owned(), format!("--webroot-map={map}")]
}

/// The agent's ACME webroot, and in sandbox mode a link to it from the site's document root:
/// there the web server answering the ACME server is a stand-in serving each site's `public/`
/// (no nginx runs), while on a real server nginx serves the webroot itself and the site's tree
/// is not touched at all.
fn prepare_webroot(ctx: &Context, domain: &Domain) -> Result<(), AgentError> {
    let challenges = ctx.layout.acme_webroot().join(".well-known/acme-challenge");
    fsx::ensure_dir(&challenges)?;
    if ctx.layout.sandbox() {
        existing_site(ctx, domain)?
            .ensure_dir("public/.well-known", 0o755)?
            .symlink(&challenges, "acme-challenge")?;
    }
    Ok(())
}

fn certbot_dirs(ctx: &Context) -> Vec<String> {
    let (work, logs) = ctx.layout.letsencrypt_work();
    vec![
        format!("--config-dir={}", ctx.layout.letsencrypt().display()),
        format!("--work-dir={}", work.display()),
        format!("--logs-dir={}", logs.display()),
    ]
}

fn certbot(runner: &dyn Runner, args: &[String]) -> Result<(), AgentError> {
    // A private CA (a staging or test ACME server) is trusted through the agent's environment,
    // never through the request.
    let mut full: Vec<&str> = Vec::new();
    let bundle = std::env::var("CHOM_AGENT_ACME_CA_BUNDLE").ok();
    let env_arg = bundle.as_ref().map(|b| format!("REQUESTS_CA_BUNDLE={b}"));
    let program = if let Some(e) = &env_arg {
        full.push(e);
        full.push("certbot");
        "env"
    } else {
        "certbot"
    };
    full.extend(args.iter().map(String::as_str));
    let out = runner.run(program, &full, None)?;
    if out.success {
        Ok(())
    } else {
        Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("certbot: {}{}", out.stderr.trim(), out.stdout.trim()),
        ))
    }
}

fn valid_email(e: &str) -> bool {
    let e = e.trim();
    e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !e.contains(char::is_whitespace)
                && e.chars().all(|c| c.is_ascii_graphic())
        })
}

/// `ssl.issue`.
///
/// # Errors
/// `SITE_NOT_FOUND`, `INVALID_REQUEST` (e-mail, directory), `COMMAND_FAILED` (certbot),
/// `CONFIG_TEST_FAILED`.
pub fn issue(ctx: &Context, req: &SslRequest) -> Result<serde_json::Value, AgentError> {
    let domain = &req.domain;
    let registry_path = ctx.layout.registry();
    let mut registry = Registry::load(&registry_path)?;
    let site = registry.get(domain)?.clone();
    if !valid_email(&req.email) {
        return Err(AgentError::new(
            ErrorCode::InvalidRequest,
            "an ACME contact e-mail is required",
        ));
    }
    let directory = req
        .directory_url
        .clone()
        .unwrap_or_else(|| LETS_ENCRYPT.to_owned());
    if !directory.starts_with("https://") || directory.contains(char::is_whitespace) {
        return Err(AgentError::new(
            ErrorCode::InvalidRequest,
            "the ACME directory must be an https:// URL",
        ));
    }
    prepare_webroot(ctx, domain)?;
    let mut args = vec![
        "certonly".to_owned(),
        "--non-interactive".to_owned(),
        "--agree-tos".to_owned(),
        "--no-eff-email".to_owned(),
        "--keep-until-expiring".to_owned(),
        format!("--email={}", req.email.trim()),
        format!("--server={directory}"),
        format!("--cert-name={}", cert_name(domain)),
        format!("--domains={}", server_names(domain).join(",")),
    ];
    args.extend(webroot_args(ctx, domain));
    args.extend(certbot_dirs(ctx));
    certbot(ctx.runner.as_ref(), &args)?;

    ensure_site_logs(ctx, domain, owners(ctx, &site.names)?)?;
    let vhost = ctx.layout.vhost(domain);
    let old = std::fs::read_to_string(&vhost).ok();
    let linked = ctx.layout.vhost_link(domain).exists();
    fsx::write_atomic(&vhost, &render_vhost(ctx, domain, &site.names, true))?;
    let nginx = apply_nginx(ctx, domain, old, linked)?;
    if let Some(s) = registry.sites.get_mut(domain) {
        s.ssl = true;
    }
    registry.save(&registry_path)?;
    let mut answer = status(ctx, domain)?;
    answer["nginx"] = json!(nginx);
    Ok(answer)
}

/// `ssl.renew`: renews now (forced) and reloads nginx.
///
/// # Errors
/// `SITE_NOT_FOUND`, `COMMAND_FAILED`.
pub fn renew(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    if !registry.get(domain)?.ssl {
        return Err(AgentError::new(
            ErrorCode::SiteNotFound,
            format!("{domain} has no certificate: use ssl.issue"),
        ));
    }
    let mut args = vec![
        "renew".to_owned(),
        "--non-interactive".to_owned(),
        // The control plane schedules renewals itself (and spreads them): no extra random
        // sleep of up to 8 minutes inside the command.
        "--no-random-sleep-on-renew".to_owned(),
        "--force-renewal".to_owned(),
        format!("--cert-name={}", cert_name(domain)),
    ];
    prepare_webroot(ctx, domain)?;
    args.extend(webroot_args(ctx, domain));
    args.extend(certbot_dirs(ctx));
    certbot(ctx.runner.as_ref(), &args)?;
    super::site::nginx_test(ctx)?;
    let nginx = super::site::reload(ctx, "nginx")?;
    let mut answer = status(ctx, domain)?;
    answer["nginx"] = json!(nginx);
    Ok(answer)
}

/// `ssl.status`: the certificate's issuer and expiry, or `ssl_enabled: false`.
///
/// # Errors
/// `SITE_NOT_FOUND`.
pub fn status(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    Registry::load(&ctx.layout.registry())?.get(domain)?;
    let cert = ctx.layout.live(domain).join("cert.pem");
    if !cert.exists() {
        return Ok(json!({"domain": domain, "ssl_enabled": false}));
    }
    let path = cert.display().to_string();
    let out = ctx.runner.run(
        "openssl",
        &[
            "x509", "-noout", "-enddate", "-issuer", "-serial", "-in", &path,
        ],
        None,
    )?;
    if !out.success {
        return Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("openssl: {}", out.stderr.trim()),
        ));
    }
    let field = |key: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    };
    let not_after = field("notAfter=").unwrap_or_default();
    let days_left = ctx
        .runner
        .run(
            "openssl",
            &["x509", "-noout", "-checkend", "0", "-in", &path],
            None,
        )
        .ok()
        .map(|o| o.success);
    let expires = parse_openssl_date(&not_after);
    let now = time::OffsetDateTime::now_utc();
    Ok(json!({
        "domain": domain,
        "ssl_enabled": true,
        "issuer": field("issuer="),
        "serial": field("serial="),
        "expires_at": expires.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "days_remaining": expires.map(|t| (t - now).whole_days()),
        "valid": days_left.unwrap_or(false),
        "cert_path": cert,
    }))
}

/// `Nov 25 23:00:00 2026 GMT`.
fn parse_openssl_date(s: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}
