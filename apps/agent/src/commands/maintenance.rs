//! `db.export`, `db.optimize`, `cache.clear`, `stats`, `security.audit`.

use super::site::{db_tool_args, existing_site, owners, sql};
use crate::Context;
use crate::beneath::Perm;
use crate::registry::Registry;
use crate::runner::must;
use chom_agent_protocol::{AgentError, Domain, ErrorCode, SiteType};
use serde_json::json;

/// `db.export`: `mariadb-dump --single-transaction` into `<site>/backups/export_<time>.sql`.
///
/// The tenant owns `backups/`'s parent and may have planted symlinks there (at `backups`, or at
/// the predictable file name). So `backups` is opened without following a symlink
/// (`UNSAFE_PATH` when it is one), the export file is created with `O_EXCL | O_NOFOLLOW` (a
/// name already taken, a symlink included, is skipped for the next free one), root's and 0600
/// while the dump streams into its descriptor, and handed to the site's user through that
/// same descriptor (`fchown`) once complete.
///
/// # Errors
/// `SITE_NOT_FOUND`, `UNSAFE_PATH`, `COMMAND_FAILED`, `IO`.
pub fn db_export(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(domain)?;
    let owners = owners(ctx, &site.names)?;
    let dir = existing_site(ctx, domain)?.ensure_dir("backups", 0o750)?;
    dir.set_perm(Perm::new(owners.map(|o| o.user), 0o750))?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let candidates = std::iter::once(format!("export_{stamp}.sql"))
        .chain((1..100).map(|n| format!("export_{stamp}_{n}.sql")));
    let (name, file) = dir.create_first_free(candidates, 0o600)?;
    let path = dir.path().join(&name);
    let io = |e: std::io::Error| AgentError::new(ErrorCode::Io, format!("{}: {e}", path.display()));
    let args = db_tool_args(&[
        "--single-transaction",
        "--quick",
        "--routines",
        &site.names.database,
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let dumped = file
        .try_clone()
        .map_err(io)
        .and_then(|out| ctx.runner.run_into_file("mariadb-dump", &argv, out));
    match dumped {
        Ok(out) if out.success => {}
        failed => {
            // The name is in the tenant's directory: unlinkat removes whatever is there now,
            // following nothing.
            let _ = dir.remove_file(&name);
            return Err(match failed {
                Ok(out) => AgentError::new(
                    ErrorCode::CommandFailed,
                    format!(
                        "mariadb-dump {}: {}",
                        site.names.database,
                        out.stderr.trim()
                    ),
                ),
                Err(e) => e,
            });
        }
    }
    file.sync_all().map_err(io)?;
    dir.set_file_perm(&file, &name, Perm::new(owners.map(|o| o.user), 0o600))?;
    let size = file.metadata().map_err(io)?.len();
    Ok(
        json!({"domain": domain, "database": site.names.database, "export_file": path, "size_bytes": size}),
    )
}

/// `db.optimize`: `OPTIMIZE TABLE` then `ANALYZE TABLE` on each table, by name (valid SQL).
///
/// # Errors
/// `SITE_NOT_FOUND`, `COMMAND_FAILED`.
pub fn db_optimize(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let db = registry.get(domain)?.names.database.clone();
    let tables_out = sql(
        ctx.runner.as_ref(),
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' AND table_type = 'BASE TABLE';\n"
        ),
    )?;
    let tables: Vec<&str> = tables_out
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let mut optimized = Vec::new();
    for table in &tables {
        // Table names come from the server's own catalogue; backquotes inside are doubled.
        let t = table.replace('`', "``");
        sql(
            ctx.runner.as_ref(),
            &format!("OPTIMIZE TABLE `{db}`.`{t}`;\nANALYZE TABLE `{db}`.`{t}`;\n"),
        )?;
        optimized.push(*table);
    }
    Ok(json!({"domain": domain, "database": db, "tables": optimized}))
}

/// `cache.clear`: Laravel's caches through `artisan`, run as the site's user (never as root),
/// and stale temporary files. In sandbox mode nothing runs as another user.
///
/// # Errors
/// `SITE_NOT_FOUND`, `COMMAND_FAILED`, `IO`.
pub fn cache_clear(ctx: &Context, domain: &Domain) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(domain)?;
    let dir = ctx.layout.site_dir(domain);
    let tree = existing_site(ctx, domain)?;
    let mut cleared = Vec::new();
    let artisan = dir.join("artisan");
    // artisan itself runs as the site's user: what it reads is the user's business.
    if site.site_type == SiteType::Laravel && tree.exists("artisan")? {
        if ctx.layout.sandbox() {
            cleared.push("laravel: skipped (sandbox: no site user)".to_owned());
        } else {
            let artisan_path = artisan.display().to_string();
            for sub in ["cache:clear", "config:clear", "view:clear", "route:clear"] {
                must(
                    ctx.runner.as_ref(),
                    "runuser",
                    &[
                        "-u",
                        &site.names.system_user,
                        "--",
                        "php",
                        &artisan_path,
                        sub,
                    ],
                    None,
                )?;
                cleared.push(format!("laravel {sub}"));
            }
        }
    }
    // `tmp` is opened without following a symlink (`UNSAFE_PATH` when it is one), and only
    // the regular files directly in it go (unlinkat on its descriptor: a symlink in it is
    // neither followed nor removed).
    let removed = match tree.open_dir("tmp", None)? {
        Some(tmp) => tmp.remove_stale_files(
            std::time::SystemTime::now() - std::time::Duration::from_secs(86_400),
        )?,
        None => 0,
    };
    cleared.push(format!("tmp: {removed} stale file(s)"));
    Ok(json!({"domain": domain, "cleared": cleared}))
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `stats`: uptime, processes, sites, network and disk counters (from /proc).
///
/// # Errors
/// `IO` (unreadable registry).
pub fn stats(ctx: &Context) -> Result<serde_json::Value, AgentError> {
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .as_deref()
        .and_then(first_number);
    let processes = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0);
    let (mut rx, mut tx) = (0_u64, 0_u64);
    for line in std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
    {
        if let Some((iface, rest)) = line.split_once(':')
            && iface.trim() != "lo"
        {
            let cols: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect();
            rx += cols.first().copied().unwrap_or(0);
            tx += cols.get(8).copied().unwrap_or(0);
        }
    }
    let (mut reads, mut writes) = (0_u64, 0_u64);
    for line in std::fs::read_to_string("/proc/diskstats")
        .unwrap_or_default()
        .lines()
    {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Whole devices only (those under /sys/block), not partitions, and not loop/ram devices.
        if let Some(name) = cols.get(2)
            && !name.starts_with("loop")
            && !name.starts_with("ram")
            && std::path::Path::new("/sys/block").join(name).exists()
        {
            reads += cols.get(3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            writes += cols.get(7).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    let sites = Registry::load(&ctx.layout.registry())?.sites.len();
    Ok(json!({
        "uptime_seconds": uptime,
        "process_count": processes,
        "sites_count": sites,
        "network": {"rx_bytes": rx, "tx_bytes": tx},
        "disk_io": {"reads": reads, "writes": writes},
    }))
}

/// `security.audit`: a score out of the checks passed; a failing probe is a failed check, never
/// an error.
///
/// # Errors
/// None in practice.
pub fn security_audit(ctx: &Context) -> Result<serde_json::Value, AgentError> {
    let r = ctx.runner.as_ref();
    let ok = |program: &str, args: &[&str]| r.run(program, args, None).is_ok_and(|o| o.success);
    let sshd = r
        .run("sshd", &["-T"], None)
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut checks = vec![
        (
            "ssh: root login without a password is off",
            sshd.lines()
                .any(|l| l == "permitrootlogin no" || l == "permitrootlogin prohibit-password"),
        ),
        (
            "ssh: password authentication is off",
            sshd.lines().any(|l| l == "passwordauthentication no"),
        ),
        (
            "firewall (ufw) is active",
            r.run("ufw", &["status"], None)
                .is_ok_and(|o| o.stdout.contains("Status: active")),
        ),
        (
            "fail2ban is running",
            ok("pgrep", &["-x", "fail2ban-server"]),
        ),
        (
            "unattended upgrades are installed",
            std::path::Path::new("/usr/bin/unattended-upgrade").exists(),
        ),
    ];
    // Every enabled site keeps the hardening headers.
    let enabled = ctx.layout.root().join("etc/nginx/sites-enabled");
    let vhosts: Vec<String> = std::fs::read_dir(&enabled)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|t| t.contains("chom-agent"))
                .collect()
        })
        .unwrap_or_default();
    checks.push((
        "every enabled site sends X-Frame-Options",
        vhosts.iter().all(|v| v.contains("X-Frame-Options")),
    ));
    let passed = checks.iter().filter(|(_, ok)| *ok).count();
    let score = passed * 100 / checks.len();
    let status = if score >= 70 {
        "good"
    } else if score >= 50 {
        "warning"
    } else {
        "critical"
    };
    Ok(json!({
        "status": status,
        "score": score,
        "checks_passed": passed,
        "checks_total": checks.len(),
        "checks": checks.iter().map(|(name, ok)| json!({"check": name, "passed": ok})).collect::<Vec<_>>(),
        "issues": checks.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect::<Vec<_>>(),
    }))
}
