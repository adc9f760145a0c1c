//! `backup.create`, `backup.list`, `backup.restore`: a site's files and database as snapshots
//! in its restic repository (ADR 0008).
//!
//! A backup is committed by its manifest, written last: the `files` and `database` snapshots it
//! names, every file's SHA-256 and each table's row count. Re-running `backup.create` with the
//! same id after a crash answers from the manifest when there is one, and otherwise makes the
//! parts again (snapshots of an unfinished run are never named by a manifest; pruning removes
//! them).

mod manifest;
mod restic;
mod restore;

pub use restore::restore;

use super::site::{crash_point, db_tool_args, existing_site, owners, slow_point};
use crate::Context;
use crate::registry::{Registry, SiteRecord};
use chom_agent_protocol::backup::{
    BackupCreate, BackupCreated, BackupKind, BackupList, BackupListed, ListedBackup, Manifest,
    ManifestDatabase, Part, Tag,
};
use chom_agent_protocol::{AgentError, ErrorCode, SiteType};
use restic::{Restic, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::process::{Command, Stdio};

/// The name of the manifest inside its snapshot.
const MANIFEST_FILE: &str = "manifest.json";
/// The snapshots' host name: the same wherever the site lives, so a moved site's next backup
/// still finds its parent snapshot.
const HOST: &str = "chom";

/// Directories never backed up, by type (caches, sessions, temporary files).
fn default_excludes(site_type: SiteType) -> &'static [&'static str] {
    match site_type {
        SiteType::Wordpress => &["tmp", "sessions", "public/wp-content/cache"],
        SiteType::Laravel => &[
            "tmp",
            "sessions",
            "storage/framework/cache",
            "storage/framework/sessions",
            "storage/framework/views",
        ],
        SiteType::Html => &["tmp", "sessions"],
    }
}

/// The excluded directories: the type's and the request's (relative paths of plain names).
fn excludes(site_type: SiteType, extra: &[String]) -> Result<BTreeSet<String>, AgentError> {
    let mut all: BTreeSet<String> = default_excludes(site_type)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for e in extra {
        let ok = !e.is_empty()
            && e.split('/').all(|c| {
                !c.is_empty()
                    && c != "."
                    && c != ".."
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        if !ok {
            return Err(AgentError::new(
                ErrorCode::InvalidRequest,
                format!("exclude: {e:?} is not a relative path of plain names"),
            ));
        }
        all.insert(e.clone());
    }
    Ok(all)
}

fn tags(backup: &Tag, part: &str, domain: &str) -> String {
    format!("--tag=chom-backup={backup},part={part},site={domain}")
}

fn read_manifest(restic: &Restic<'_>, snapshot: &Snapshot) -> Result<Manifest, AgentError> {
    let text = restic.run(
        "dump manifest",
        &[
            "dump".into(),
            snapshot.id.clone(),
            format!("/{MANIFEST_FILE}"),
        ],
    )?;
    serde_json::from_str(&text).map_err(|e| {
        AgentError::new(
            ErrorCode::BackupCorrupted,
            format!(
                "the manifest of snapshot {} is unreadable: {e}",
                snapshot.id
            ),
        )
    })
}

/// The committed manifest of `backup` (its newest, should a crash have left two).
fn find_manifest(
    restic: &Restic<'_>,
    backup: &Tag,
) -> Result<Option<(Snapshot, Manifest)>, AgentError> {
    let found = restic.snapshots(&[format!("chom-backup={backup}"), "part=manifest".into()])?;
    match found.into_iter().max_by(|a, b| a.time.cmp(&b.time)) {
        Some(s) => {
            let m = read_manifest(restic, &s)?;
            Ok(Some((s, m)))
        }
        None => Ok(None),
    }
}

fn answer(manifest: &Manifest, manifest_sha256: String, added: u64) -> BackupCreated {
    let files: u64 = manifest.files.len() as u64;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    BackupCreated {
        parts: manifest.parts.clone(),
        file_count: files,
        total_bytes: bytes,
        added_bytes: added,
        tables: manifest
            .database
            .as_ref()
            .map(|d| d.tables.clone())
            .unwrap_or_default(),
        manifest_sha256,
    }
}

/// Streams `mariadb-dump` of `database` into `stdin`, counting rows and hashing as it passes;
/// fails (so restic is killed before its input ends) when the dump does not complete.
fn dump_into(
    database: &str,
    stdin: &mut std::process::ChildStdin,
    tables: &mut BTreeMap<String, u64>,
    sha: &mut String,
) -> Result<(), AgentError> {
    let args = db_tool_args(&[
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        database,
    ]);
    let mut dump = Command::new("mariadb-dump")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| AgentError::new(ErrorCode::CommandFailed, format!("mariadb-dump: {e}")))?;
    let errors = restic::drain(dump.stderr.take());
    let mut counter = chom_agent_protocol::rows::RowCounter::new();
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let streamed = match dump.stdout.take() {
        Some(mut out) => loop {
            match out.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    counter.feed(&buf[..n]);
                    hash.update(&buf[..n]);
                    if let Err(e) = stdin.write_all(&buf[..n]) {
                        break Err(format!("restic stopped reading: {e}"));
                    }
                }
                Err(e) => break Err(format!("reading the dump: {e}")),
            }
        },
        None => Err("mariadb-dump has no stdout".to_owned()),
    };
    if streamed.is_err() {
        let _ = dump.kill();
    }
    let status = dump
        .wait()
        .map_err(|e| AgentError::new(ErrorCode::CommandFailed, format!("mariadb-dump: {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    streamed.map_err(|e| AgentError::new(ErrorCode::CommandFailed, e))?;
    if !status.success() {
        return Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("mariadb-dump {database}: {}", stderr.trim()),
        ));
    }
    *tables = counter.finish();
    *sha = data_encoding::HEXLOWER.encode(hash.finish().as_ref());
    Ok(())
}

/// Backs up `site`'s database as the `database` part.
fn backup_database(
    restic: &Restic<'_>,
    req: &BackupCreate,
    site: &SiteRecord,
) -> Result<(Part, ManifestDatabase, u64), AgentError> {
    let file = format!("{}.sql", site.names.database);
    let mut tables = BTreeMap::new();
    let mut sha = String::new();
    let summary = restic.backup(
        &[
            tags(&req.backup_id, "database", req.domain.as_str()),
            format!("--host={HOST}"),
            "--stdin".into(),
            format!("--stdin-filename={file}"),
        ],
        Some(&mut |stdin| dump_into(&site.names.database, stdin, &mut tables, &mut sha)),
    )?;
    Ok((
        Part {
            part: "database".into(),
            snapshot: summary.snapshot_id,
        },
        ManifestDatabase {
            file,
            sha256: sha,
            tables,
        },
        summary.data_added,
    ))
}

/// `backup.create`: the site's files (read by restic as the site's user, without the
/// excluded directories), its database (streamed from `mariadb-dump --single-transaction`,
/// never written to the server's disk) and the manifest, into the site's repository (made if
/// it has none yet).
///
/// # Errors
/// `SITE_NOT_FOUND`, `UNSAFE_PATH`, `REPOSITORY_FAILED`, `COMMAND_FAILED`, `IO`,
/// `INVALID_REQUEST`.
pub fn create(ctx: &Context, req: &BackupCreate) -> Result<serde_json::Value, AgentError> {
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(&req.domain)?;
    let exclude = excludes(site.site_type, &req.exclude)?;
    // One backup of a site at a time: the run of a caller that was killed may still be going;
    // its rerun waits for it (then finds its manifest) rather than racing it.
    let _running = crate::exclusive_within(
        &ctx.layout.backup_lock(req.domain.as_str()),
        crate::BACKUP_LOCK_WAIT,
        "another backup of this site ran",
    )?;
    let restic = Restic::new(&req.repository)?;
    let to_json = |a: BackupCreated| {
        serde_json::to_value(a).map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))
    };
    // Looking for the manifest opens the repository: a missing one is made then (one restic
    // run less than checking for it first).
    let found = match find_manifest(&restic, &req.backup_id) {
        Ok(found) => found,
        Err(e) => {
            restic.init_when_missing(e)?;
            None
        }
    };
    if let Some((_, done)) = found {
        let text = serde_json::to_vec(&done).unwrap_or_default();
        let (sha, _) = manifest::sha256(text.as_slice())
            .map_err(|e| AgentError::new(ErrorCode::Io, e.to_string()))?;
        return to_json(answer(&done, sha, 0));
    }
    let mut m = Manifest {
        version: 1,
        backup_id: req.backup_id.to_string(),
        kind: Some(req.kind),
        ..Manifest::default()
    };
    let mut added = 0;
    if req.kind.has_files() {
        let tree = existing_site(ctx, &req.domain)?;
        let root = tree.path().display().to_string();
        let owner = owners(ctx, &site.names)?.map(|o| o.user);
        let mut args = vec![
            tags(&req.backup_id, "files", req.domain.as_str()),
            format!("--host={HOST}"),
            "--one-file-system".into(),
        ];
        // The directories stay (PHP needs its `tmp` and `sessions`), their content does not.
        args.extend(exclude.iter().map(|e| format!("--exclude={root}/{e}/*")));
        args.push(root.clone());
        // The manifest's walk (every file's SHA-256) runs while restic reads the same tree.
        let (files, summary) = std::thread::scope(|s| {
            let walk = s.spawn(|| manifest::walk(tree.as_fd(), &exclude));
            let summary = restic.as_user(owner).backup(&args, None);
            let files = walk.join().unwrap_or_else(|_| {
                Err(AgentError::new(
                    ErrorCode::Internal,
                    "the manifest walk panicked",
                ))
            });
            (files, summary)
        });
        let (files, summary) = (files?, summary?);
        m.files = files;
        added += summary.data_added;
        m.files_root = Some(root);
        m.parts.push(Part {
            part: "files".into(),
            snapshot: summary.snapshot_id,
        });
        crash_point("files_part");
        slow_point();
    }
    if req.kind.has_database() {
        let (part, db, bytes) = backup_database(&restic, req, site)?;
        added += bytes;
        m.parts.push(part);
        m.database = Some(db);
        crash_point("database_part");
    }
    let text =
        serde_json::to_vec(&m).map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))?;
    let (sha, _) = manifest::sha256(text.as_slice())
        .map_err(|e| AgentError::new(ErrorCode::Io, e.to_string()))?;
    let summary = restic.backup(
        &[
            tags(&req.backup_id, "manifest", req.domain.as_str()),
            format!("--host={HOST}"),
            "--stdin".into(),
            format!("--stdin-filename={MANIFEST_FILE}"),
        ],
        Some(&mut |stdin| {
            stdin
                .write_all(&text)
                .map_err(|e| AgentError::new(ErrorCode::Io, format!("manifest: {e}")))
        }),
    )?;
    added += summary.data_added;
    to_json(answer(&m, sha, added))
}

/// `backup.list`: the site's backups in its repository, oldest first (a backup without its
/// manifest is unfinished: listed with the parts it has, `complete: false`).
///
/// # Errors
/// `REPOSITORY_FAILED`, `INVALID_REQUEST`.
pub fn list(_ctx: &Context, req: &BackupList) -> Result<serde_json::Value, AgentError> {
    let restic = Restic::new(&req.repository)?;
    let snapshots = restic.snapshots(&[format!("site={}", req.domain)])?;
    let mut by_id: BTreeMap<String, ListedBackup> = BTreeMap::new();
    for s in &snapshots {
        let (Some(id), Some(part)) = (s.tag("chom-backup"), s.tag("part")) else {
            continue;
        };
        let entry = by_id.entry(id.to_owned()).or_insert_with(|| ListedBackup {
            backup_id: id.to_owned(),
            parts: Vec::new(),
            time: s.time.clone(),
        });
        if s.time < entry.time {
            entry.time.clone_from(&s.time);
        }
        entry.parts.push(Part {
            part: part.to_owned(),
            snapshot: s.id.clone(),
        });
    }
    let mut backups: Vec<ListedBackup> = by_id.into_values().collect();
    backups.sort_by(|a, b| a.time.cmp(&b.time));
    serde_json::to_value(BackupListed { backups })
        .map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))
}

/// The kinds a backup's manifest says it holds.
pub(super) fn holds(m: &Manifest) -> BackupKind {
    m.kind.unwrap_or(BackupKind::Full)
}
