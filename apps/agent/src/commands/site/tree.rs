//! The site's system user, its owners and its directory tree, made and opened beneath the sites
//! root one component at a time through descriptors, never following a symlink.

use crate::Context;
use crate::beneath::{self, Perm};
use crate::runner::must;
use chom_agent_protocol::{AgentError, Domain, ErrorCode, SiteNames, SiteType};
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

/// Who owns what the agent makes in a site's tree (`None` in sandbox mode: no site users).
#[derive(Debug, Clone, Copy)]
pub(in crate::commands) struct Owners {
    /// The site user and its own group: private files (configuration, database exports).
    pub user: (u32, u32),
    /// The site user and www-data's group: what nginx reads.
    pub web: (u32, u32),
}

/// The site's owners, looked up by name (`None` in sandbox mode).
///
/// # Errors
/// `COMMAND_FAILED` (no such user).
pub(in crate::commands) fn owners(
    ctx: &Context,
    names: &SiteNames,
) -> Result<Option<Owners>, AgentError> {
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
pub(in crate::commands) fn existing_site(
    ctx: &Context,
    domain: &Domain,
) -> Result<beneath::Dir, AgentError> {
    open_site(ctx, domain, false)?.ok_or_else(|| {
        AgentError::new(
            ErrorCode::SiteNotFound,
            format!("the directory of {domain} is missing: re-run site.create"),
        )
    })
}

/// The system user (real mode only), made before anything in the tree so every directory and
/// file gets its owner through its own descriptor as it is made.
pub(super) fn ensure_user(
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
pub(super) fn ensure_tree(
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
pub(in crate::commands) fn ensure_site_logs(
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
