//! `backup.create`, `backup.list`, `backup.restore`: a site's files and database as snapshots
//! in its restic repository (ADR 0008).
//!
//! A backup is committed by its manifest, written last: the `files` and `database` snapshots it
//! names, every file's SHA-256 and each table's row count. Re-running `backup.create` with the
//! same id after a crash answers from the manifest when there is one, and otherwise makes the
//! parts again (snapshots of an unfinished run are never named by a manifest; pruning removes
//! them).

mod manifest;
mod rest;
mod restic;
mod restore;
#[cfg(test)]
mod test_http;
pub(crate) mod writer;

pub use restore::restore;

use super::site::{db_tool_args, existing_site, owners};
use crate::Context;
use crate::registry::Registry;
use chom_agent_protocol::backup::{
    BackupCreate, BackupCreated, BackupKind, BackupList, BackupListed, ListedBackup, Manifest,
    Part, Tag, backup_tag,
};
use chom_agent_protocol::{AgentError, ErrorCode, Progress, SiteType};
use restic::{Restic, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::process::{Command, Stdio};

/// The name of the manifest inside its snapshot.
pub(super) const MANIFEST_FILE: &str = "manifest.json";
/// The snapshots' host name: the same wherever the site lives, so a moved site's next backup
/// still finds its parent snapshot.
pub(super) const HOST: &str = "chom";

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
    let found = restic.snapshots(&[backup_tag(backup.as_str()), "part=manifest".into()])?;
    match found.into_iter().max_by(|a, b| a.time.cmp(&b.time)) {
        Some(s) => {
            let m = read_manifest(restic, &s)?;
            Ok(Some((s, m)))
        }
        None => Ok(None),
    }
}

pub(super) fn answer(manifest: &Manifest, manifest_sha256: String, added: u64) -> BackupCreated {
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

/// Streams `mariadb-dump` of `database` into `out` as frames, ended only when the dump
/// completed (the writer then refuses an unfinished dump, never stores a shorter one); tells
/// the bytes sent (phase `database`).
fn dump_into(database: &str, out: &mut impl std::io::Write) -> Result<(), AgentError> {
    let meter = crate::progress::Meter::new("database", Some(1), crate::progress::report);
    meter.file();
    let dumped = dump_frames(database, out, &meter);
    meter.finish();
    dumped
}

fn dump_frames(
    database: &str,
    out: &mut impl std::io::Write,
    meter: &crate::progress::Meter,
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
    let mut buf = vec![0u8; 1 << 16];
    let streamed = match dump.stdout.take() {
        Some(mut from) => loop {
            match from.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = writer::frame(out, buf.get(..n).unwrap_or_default()) {
                        break Err(format!("the backup writer stopped reading: {e}"));
                    }
                    meter.bytes(n as u64);
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
    writer::end(out).map_err(|e| {
        AgentError::new(
            ErrorCode::CommandFailed,
            format!("the backup writer stopped reading: {e}"),
        )
    })
}

/// `backup.create`: the site's files (without the excluded directories), its database
/// (streamed from `mariadb-dump --single-transaction`, never written to the server's disk) and
/// the manifest, into the site's repository (made if it has none yet), by the backup writer
/// (`rustic_core`, ADR 0011) running as the site's user.
///
/// # Errors
/// `SITE_NOT_FOUND`, `UNSAFE_PATH`, `REPOSITORY_FAILED`, `BACKUP_CORRUPTED`,
/// `COMMAND_FAILED`, `IO`, `INVALID_REQUEST`.
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
    restic::check_access(&req.repository)?;
    let files_root = if req.kind.has_files() {
        Some(
            existing_site(ctx, &req.domain)?
                .path()
                .display()
                .to_string(),
        )
    } else {
        None
    };
    let job = writer::Job {
        repository: req.repository.clone(),
        backup_id: req.backup_id.to_string(),
        domain: req.domain.to_string(),
        kind: req.kind,
        files_root,
        exclude: exclude.into_iter().collect(),
        database_file: req
            .kind
            .has_database()
            .then(|| format!("{}.sql", site.names.database)),
    };
    let owner = owners(ctx, &site.names)?
        .map(|o| o.user)
        .or_else(backup_as_hook);
    let done = run_writer(&job, owner, &site.names.database)?;
    serde_json::to_value(done).map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))
}

/// Test hook (debug builds only): `CHOM_AGENT_BACKUP_AS=<uid>:<gid>` runs the writer as that
/// user in sandbox mode too, so tests can show what the site's user cannot read is not backed up.
fn backup_as_hook() -> Option<(u32, u32)> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let value = std::env::var("CHOM_AGENT_BACKUP_AS").ok()?;
    let (uid, gid) = value.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// Runs the backup writer (this program, as `owner` when there is one) on `job`, feeding it
/// `database`'s dump when it asks.
fn run_writer(
    job: &writer::Job,
    owner: Option<(u32, u32)>,
    database: &str,
) -> Result<BackupCreated, AgentError> {
    let failed = |e: std::io::Error| {
        AgentError::new(ErrorCode::CommandFailed, format!("the backup writer: {e}"))
    };
    // This very program, by descriptor: a session that began before an upgrade replaced the
    // binary still starts the writer of its own version (a path would be gone or newer).
    let program = std::fs::File::open("/proc/self/exe").map_err(failed)?;
    rustix::io::fcntl_setfd(&program, rustix::io::FdFlags::empty())
        .map_err(|e| failed(e.into()))?;
    let exe = format!("/proc/self/fd/{}", program.as_raw_fd());
    let mut cmd = match owner {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.arg(writer::ARG)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("HOME", "/nonexistent");
    for hook in ["CHOM_AGENT_CRASH_AFTER", "CHOM_AGENT_SLOW_MS"] {
        if let Ok(v) = std::env::var(hook) {
            cmd.env(hook, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    drop(program);
    let errors = restic::drain(child.stderr.take());
    let mut stdin = child.stdin.take();
    let line = serde_json::to_string(job)
        .map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))?;
    if let Some(s) = stdin.as_mut() {
        s.write_all(line.as_bytes())
            .and_then(|()| s.write_all(b"\n"))
            .map_err(failed)?;
    }
    let mut outcome = None;
    let mut fed = Ok(());
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.map_err(failed)?;
            if Progress::is_line(&line) {
                // The files' progress, passed on before this agent's answer (the writer runs
                // as the site's user: only the phase it has).
                if let Some(p) = Progress::from_line(&line).filter(|p| p.phase == "files") {
                    crate::progress::report(&p);
                }
            } else if line == writer::READY_FOR_DUMP {
                fed = match stdin.as_mut() {
                    Some(s) => dump_into(database, s),
                    None => Err(AgentError::new(
                        ErrorCode::Internal,
                        "the writer has no stdin",
                    )),
                };
                if fed.is_err() {
                    // The writer sees its input end without the last frame and refuses it.
                    break;
                }
            } else {
                outcome = serde_json::from_str::<writer::Outcome>(&line).ok();
                break;
            }
        }
    }
    drop(stdin);
    let status = child.wait().map_err(failed)?;
    let stderr = errors.join().unwrap_or_default();
    // The writer's warnings go where the agent's own go.
    eprint!("{stderr}");
    if cfg!(debug_assertions) && status.code() == Some(137) {
        // The crash hook fired in the writer: this process dies as it would have.
        std::process::exit(137);
    }
    fed?;
    match outcome {
        Some(writer::Outcome::Done(done)) => Ok(done),
        Some(writer::Outcome::Failed(e)) => Err(e),
        None => Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("the backup writer stopped ({status}): {}", stderr.trim()),
        )),
    }
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
