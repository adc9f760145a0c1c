//! `backup.restore`: a backup put back into a site, all or nothing.
//!
//! 1. The files are restored into a staging directory beside the site's (root's, 0700),
//!    checked file by file against the manifest's SHA-256 (`BACKUP_CORRUPTED` otherwise), and
//!    given to the site's user by number (nothing is owned by root or www-data's user).
//! 2. The dump is loaded into a scratch database, its SHA-256 and each table's row count
//!    checked against the manifest; then every pack the backup uses is read back whole and
//!    checked, with every tree of its snapshots (`rustic_core`'s check, limited to them): a
//!    damaged pack fails the restore even where the blobs it needs happened to read clean.
//! 3. Only then is the site switched: the staging directory and the site's exchanged in one
//!    `renameat2(RENAME_EXCHANGE)` (the site directory always exists, whole), and the tables
//!    moved in one `RENAME TABLE` (atomic): the live tables into a keeping database, the
//!    scratch ones into the live database. Should the tables fail to move, the files are
//!    exchanged back.
//! 4. The previous tree and tables are removed last.
//!
//! Each step is told as it begins (a progress line, `chom_agent_protocol::progress`), and
//! recorded in `/var/lib/chom-agent/restores/<restore id>.json` before it is taken, with what
//! tells whether it happened (the staged directory's inode; where the tables are), so a
//! restore killed at any point resumes with the same id and converges; nothing of the site
//! changes before step 3.

use super::restic::{Restic, Snapshot};
use super::{find_manifest, holds, manifest};
use crate::Context;
use crate::commands::site::{crash_point, db_client_args, existing_site, owners, slow_point, sql};
use crate::progress;
use crate::registry::Registry;
use crate::runner::Runner;
use chom_agent_protocol::backup::{
    BackupRestore, BackupRestored, Manifest, ManifestFile, TreeChanges,
};
use chom_agent_protocol::{AgentError, ErrorCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// How far a restore got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    #[default]
    Started,
    FilesStaged,
    DatabaseLoaded,
    SwappingFiles,
    FilesSwapped,
    SwappingTables,
    Switched,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    phase: Phase,
    /// The staging directory's inode: the site's directory has it once exchanged.
    staged_inode: Option<u64>,
}

fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorCode::Io, format!("{what}: {e}"))
}

fn corrupted(message: String) -> AgentError {
    AgentError::new(ErrorCode::BackupCorrupted, message)
}

struct Journal {
    path: PathBuf,
    state: State,
}

impl Journal {
    fn open(ctx: &Context, id: &str) -> Result<Self, AgentError> {
        let dir = ctx.layout.restores();
        crate::fsx::ensure_dir(&dir)?;
        let path = dir.join(format!("{id}.json"));
        let state = match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| io(path.display(), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io(path.display(), e)),
        };
        Ok(Self { path, state })
    }

    fn set(&mut self, phase: Phase) -> Result<(), AgentError> {
        self.state.phase = phase;
        let text = serde_json::to_string(&self.state).map_err(|e| io("journal", e))?;
        crate::fsx::write_atomic(&self.path, &text).map(drop)
    }

    fn done(self) -> Result<(), AgentError> {
        crate::fsx::remove_file(&self.path)
    }
}

/// Short, stable names for a restore's scratch and keeping databases: `chom_restore_` and
/// `chom_previous_` with 12 hex digits of SHA-256(`<database>/<restore id>`).
fn scratch_names(database: &str, restore_id: &str) -> (String, String) {
    let h = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{database}/{restore_id}").as_bytes(),
    );
    let hex = data_encoding::HEXLOWER.encode(&h.as_ref()[..6]);
    (
        format!("chom_restore_{hex}"),
        format!("chom_previous_{hex}"),
    )
}

/// The site tree's changes from the manifest's: what a restore of the files does.
fn changes(current: &[ManifestFile], backup: &[ManifestFile]) -> TreeChanges {
    let now: BTreeMap<&str, &ManifestFile> = current.iter().map(|f| (f.path.as_str(), f)).collect();
    let then: BTreeMap<&str, &ManifestFile> = backup.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut c = TreeChanges::default();
    let note = |c: &mut TreeChanges, p: &str, what: &str| {
        if c.sample.len() < 100 {
            c.sample.push(format!("{what} {p}"));
        }
    };
    for (p, f) in &then {
        match now.get(p) {
            None => {
                c.added += 1;
                note(&mut c, p, "add");
            }
            Some(g) if g.sha256 != f.sha256 => {
                c.changed += 1;
                note(&mut c, p, "change");
            }
            Some(_) => {}
        }
    }
    for p in now.keys().filter(|p| !then.contains_key(*p)) {
        c.removed += 1;
        note(&mut c, p, "remove");
    }
    c
}

fn snapshot_of(m: &Manifest, part: &str) -> Result<String, AgentError> {
    m.parts
        .iter()
        .find(|p| p.part == part)
        .map(|p| p.snapshot.clone())
        .ok_or_else(|| corrupted(format!("the manifest names no {part} snapshot")))
}

/// Restores the files into `staging` and checks each against the manifest.
fn stage_files(
    restic: &Restic<'_>,
    m: &Manifest,
    staging: &Path,
    owner: Option<((u32, u32), u32)>,
) -> Result<(), AgentError> {
    // restic 0.14 restores a snapshot with its full paths (no `snapshot:subfolder`): into a
    // scratch directory beside the site's (same filesystem), from which the tree is moved.
    let scratch = staging.with_extension("unpack");
    for d in [staging, scratch.as_path()] {
        if d.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(d).map_err(|e| io(d.display(), e))?;
        }
    }
    std::fs::create_dir(&scratch).map_err(|e| io(scratch.display(), e))?;
    std::fs::set_permissions(
        &scratch,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| io(scratch.display(), e))?;
    let root = m
        .files_root
        .clone()
        .ok_or_else(|| corrupted("the manifest has no files root".into()))?;
    let snapshot = snapshot_of(m, "files")?;
    restic.run(
        "restore",
        &[
            "restore".into(),
            snapshot,
            format!("--target={}", scratch.display()),
        ],
    )?;
    let unpacked = scratch.join(root.trim_start_matches('/'));
    std::fs::rename(&unpacked, staging).map_err(|e| io(unpacked.display(), e))?;
    std::fs::remove_dir_all(&scratch).map_err(|e| io(scratch.display(), e))?;
    std::fs::set_permissions(staging, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| io(staging.display(), e))?;
    let dir = std::fs::File::open(staging).map_err(|e| io(staging.display(), e))?;
    let restored = manifest::walk(dir.as_fd(), &BTreeSet::new())?;
    if restored != m.files {
        let expected: BTreeMap<&str, &ManifestFile> =
            m.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let bad = restored
            .iter()
            .find(|f| expected.get(f.path.as_str()) != Some(f))
            .map(|f| f.path.clone())
            .or_else(|| {
                let got: BTreeSet<&str> = restored.iter().map(|f| f.path.as_str()).collect();
                m.files
                    .iter()
                    .find(|f| !got.contains(f.path.as_str()))
                    .map(|f| format!("{} (missing)", f.path))
            })
            .unwrap_or_default();
        return Err(corrupted(format!(
            "restored files differ from the backup's manifest: {bad}"
        )));
    }
    if let Some(((uid, gid), web_gid)) = owner {
        give(staging, uid, gid, web_gid)?;
    }
    Ok(())
}

/// Every entry beneath `dir` (root's staging: nobody else can change it) to the site's user;
/// its group stays www-data's where it was, else the user's own.
fn give(dir: &Path, uid: u32, gid: u32, web_gid: u32) -> Result<(), AgentError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(d.display(), e))? {
            let entry = entry.map_err(|e| io(d.display(), e))?;
            let path = entry.path();
            let meta = path.symlink_metadata().map_err(|e| io(path.display(), e))?;
            let group = if meta.gid() == web_gid { web_gid } else { gid };
            std::os::unix::fs::lchown(&path, Some(uid), Some(group))
                .map_err(|e| io(path.display(), e))?;
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}

fn base_tables(r: &dyn Runner, database: &str) -> Result<Vec<String>, AgentError> {
    let out = sql(
        r,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}' AND table_type = 'BASE TABLE';\n"
        ),
    )?;
    Ok(out
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect())
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Loads the dump into `scratch` (made afresh) and checks its hash and row counts.
fn load_database(
    r: &dyn Runner,
    restic: &Restic<'_>,
    m: &Manifest,
    scratch: &str,
) -> Result<BTreeMap<String, u64>, AgentError> {
    let db = m
        .database
        .as_ref()
        .ok_or_else(|| corrupted("the manifest has no database".into()))?;
    let snapshot = snapshot_of(m, "database")?;
    sql(
        r,
        &format!(
            "DROP DATABASE IF EXISTS `{scratch}`;\nCREATE DATABASE `{scratch}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
        ),
    )?;
    let mut dump = restic.spawn(
        &[
            "--quiet".into(),
            "dump".into(),
            snapshot,
            format!("/{}", db.file),
        ],
        Stdio::null(),
        Stdio::piped(),
    )?;
    let mut args = db_client_args();
    args.push(scratch.to_owned());
    let mut load = std::process::Command::new("mariadb")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| AgentError::new(ErrorCode::CommandFailed, format!("mariadb: {e}")))?;
    let dump_err = super::restic::drain(dump.stderr.take());
    let load_err = super::restic::drain(load.stderr.take());
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut counter = chom_agent_protocol::rows::RowCounter::new();
    let mut buf = vec![0u8; 1 << 16];
    let copied: Result<(), String> = match (dump.stdout.take(), load.stdin.take()) {
        (Some(mut from), Some(mut to)) => loop {
            match from.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    hash.update(&buf[..n]);
                    counter.feed(&buf[..n]);
                    if let Err(e) = to.write_all(&buf[..n]) {
                        break Err(format!("mariadb stopped reading: {e}"));
                    }
                }
                Err(e) => break Err(format!("reading the dump: {e}")),
            }
        },
        _ => Err("pipes missing".into()),
    };
    let dumped = dump.wait().map_err(|e| io("restic dump", e))?;
    let loaded = load.wait().map_err(|e| io("mariadb", e))?;
    let dump_err = dump_err.join().unwrap_or_default();
    let load_err = load_err.join().unwrap_or_default();
    if !dumped.success() {
        return Err(AgentError::new(
            super::restic::classify(&dump_err),
            format!("restic dump: {}", dump_err.trim()),
        ));
    }
    copied.map_err(|e| AgentError::new(ErrorCode::CommandFailed, e))?;
    let sha = data_encoding::HEXLOWER.encode(hash.finish().as_ref());
    if sha != db.sha256 {
        return Err(corrupted(format!(
            "the dump's SHA-256 is {sha}, the manifest says {}",
            db.sha256
        )));
    }
    if !loaded.success() {
        return Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("mariadb (loading the dump): {}", load_err.trim()),
        ));
    }
    // What the server now holds, table by table, against the manifest.
    let mut counts = BTreeMap::new();
    for table in db.tables.keys() {
        let n: u64 = sql(
            r,
            &format!("SELECT COUNT(*) FROM `{scratch}`.{};\n", quote(table)),
        )?
        .trim()
        .parse()
        .map_err(|_| corrupted(format!("table {table} is missing after the load")))?;
        counts.insert(table.clone(), n);
    }
    if counts != db.tables || counter.finish() != db.tables {
        return Err(corrupted(format!(
            "row counts after the load {counts:?} differ from the manifest's {:?}",
            db.tables
        )));
    }
    Ok(counts)
}

/// Moves the live tables into `keep` and the scratch ones into the live database, in one
/// atomic `RENAME TABLE`.
fn switch_tables(r: &dyn Runner, live: &str, scratch: &str, keep: &str) -> Result<(), AgentError> {
    let mut moves = Vec::new();
    for t in base_tables(r, live)? {
        moves.push(format!("`{live}`.{q} TO `{keep}`.{q}", q = quote(&t)));
    }
    for t in base_tables(r, scratch)? {
        moves.push(format!("`{scratch}`.{q} TO `{live}`.{q}", q = quote(&t)));
    }
    let mut statements = format!("CREATE DATABASE IF NOT EXISTS `{keep}`;\n");
    if !moves.is_empty() {
        statements.push_str(&format!("RENAME TABLE {};\n", moves.join(", ")));
    }
    sql(r, &statements).map(drop)
}

fn exchange(parent: &Path, a: &str, b: &str) -> Result<(), AgentError> {
    let dir = crate::beneath::Dir::open_trusted(parent)?;
    rustix::fs::renameat_with(&dir, a, &dir, b, rustix::fs::RenameFlags::EXCHANGE)
        .map_err(|e| io(format!("exchanging {a} and {b}"), e))
}

fn inode(path: &Path) -> Option<u64> {
    path.symlink_metadata().ok().map(|m| m.ino())
}

/// Steps 1 and 2: the files staged and the dump loaded, both checked (the site unchanged).
fn prepare(
    r: &dyn Runner,
    restic: &Restic<'_>,
    m: &Manifest,
    journal: &mut Journal,
    (files, database): (bool, bool),
    (staging, scratch): (&Path, &str),
    owner: Option<((u32, u32), u32)>,
) -> Result<(), AgentError> {
    if journal.state.phase < Phase::FilesStaged {
        if files {
            let expected = m.files.len() as u64;
            progress::phase("restoring_files", Some(expected));
            stage_files(restic, m, staging, owner)?;
            // Staged and checked, every one.
            progress::report(&chom_agent_protocol::Progress {
                phase: "restoring_files".into(),
                files: expected,
                bytes: m.files.iter().map(|f| f.size).sum(),
                files_expected: Some(expected),
            });
            journal.state.staged_inode = inode(staging);
        }
        journal.set(Phase::FilesStaged)?;
        crash_point("files_staged");
        slow_point();
    }
    if journal.state.phase < Phase::DatabaseLoaded {
        if database {
            progress::phase("loading_database", None);
            load_database(r, restic, m, scratch)?;
        }
        // A restore reads only the blobs it needs, through the index: a damaged pack header,
        // or a pack whose content no longer hashes to its name, would go unnoticed. Every
        // pack the backup uses is read back whole before anything of the site changes (not
        // the whole repository: that grew with every backup kept; the verified restores, off
        // the server, read it all).
        progress::phase("checking_packs", None);
        super::writer::check_backup(restic.access(), &m.backup_id)?;
        journal.set(Phase::DatabaseLoaded)?;
        crash_point("database_loaded");
    }
    Ok(())
}

/// `backup.restore`: see the module's documentation.
///
/// # Errors
/// `SITE_NOT_FOUND`, `BACKUP_NOT_FOUND`, `BACKUP_CORRUPTED` (nothing of the site changed),
/// `REPOSITORY_FAILED`, `COMMAND_FAILED`, `IO`, `INVALID_REQUEST`.
pub fn restore(ctx: &Context, req: &BackupRestore) -> Result<serde_json::Value, AgentError> {
    let r = ctx.runner.as_ref();
    let registry = Registry::load(&ctx.layout.registry())?;
    let site = registry.get(&req.domain)?;
    let restic = Restic::new(&req.repository)?;
    let (_, m): (Snapshot, Manifest) =
        find_manifest(&restic, &req.backup_id)?.ok_or_else(|| {
            AgentError::new(
                ErrorCode::BackupNotFound,
                format!("no complete backup {} in the repository", req.backup_id),
            )
        })?;
    let held = holds(&m);
    let files = req.kind.has_files();
    let database = req.kind.has_database();
    if (files && !held.has_files()) || (database && !held.has_database()) {
        return Err(AgentError::new(
            ErrorCode::InvalidRequest,
            format!(
                "backup {} holds {}, not {}",
                req.backup_id,
                held.as_str(),
                req.kind.as_str()
            ),
        ));
    }
    let tree = existing_site(ctx, &req.domain)?;
    let tables = if database {
        m.database
            .as_ref()
            .map(|d| d.tables.clone())
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    if req.dry_run {
        let files = if files {
            let current = manifest::walk(tree.as_fd(), &BTreeSet::new())?;
            Some(changes(&current, &m.files))
        } else {
            None
        };
        return to_json(BackupRestored {
            dry_run: true,
            files,
            tables,
        });
    }
    let sites_root = ctx.layout.sites_root();
    let site_dir = ctx.layout.site_dir(&req.domain);
    let staging_name = format!(".restore-{}", req.restore_id);
    let staging = sites_root.join(&staging_name);
    let (scratch, keep) = scratch_names(&site.names.database, req.restore_id.as_str());
    let owner = owners(ctx, &site.names)?;
    let mut journal = Journal::open(ctx, req.restore_id.as_str())?;
    let before = if files {
        let current = manifest::walk(tree.as_fd(), &BTreeSet::new())?;
        Some(changes(&current, &m.files))
    } else {
        None
    };
    drop(tree);

    let prepared = prepare(
        r,
        &restic,
        &m,
        &mut journal,
        (files, database),
        (&staging, &scratch),
        owner.map(|o| (o.user, o.web.1)),
    );
    if let Err(e) = prepared {
        // Nothing of the site changed: the staging, the scratch database and the journal go, a
        // retry starts afresh.
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_dir_all(staging.with_extension("unpack"));
        let _ = sql(r, &format!("DROP DATABASE IF EXISTS `{scratch}`;\n"));
        let _ = journal.done();
        return Err(e);
    }
    // The switch. Before it nothing of the site changed; from here the journal tells where
    // the site stands.
    progress::phase("switching", None);
    let live = site.names.database.clone();
    if journal.state.phase < Phase::FilesSwapped {
        if files {
            let swapped = journal.state.staged_inode.is_some()
                && inode(&site_dir) == journal.state.staged_inode;
            if !swapped {
                journal.set(Phase::SwappingFiles)?;
                // The staged root takes the site directory's owner and mode.
                let meta = site_dir
                    .symlink_metadata()
                    .map_err(|e| io(site_dir.display(), e))?;
                std::os::unix::fs::lchown(&staging, Some(meta.uid()), Some(meta.gid()))
                    .map_err(|e| io(staging.display(), e))?;
                std::fs::set_permissions(&staging, meta.permissions())
                    .map_err(|e| io(staging.display(), e))?;
                crash_point("swapping_files");
                exchange(&sites_root, &staging_name, req.domain.as_str())?;
                crash_point("files_exchanged");
            }
        }
        journal.set(Phase::FilesSwapped)?;
    }
    if journal.state.phase < Phase::Switched {
        if database {
            // Already moved when the scratch database is empty and the keeping one exists.
            let moved = journal.state.phase == Phase::SwappingTables
                && base_tables(r, &scratch)?.is_empty()
                && !sql(r, &format!("SHOW DATABASES LIKE '{keep}';\n"))?
                    .trim()
                    .is_empty();
            if !moved {
                journal.set(Phase::SwappingTables)?;
                crash_point("swapping_tables");
                if let Err(e) = switch_tables(r, &live, &scratch, &keep) {
                    if files {
                        // The tables did not move: the files go back, the site stays as it was.
                        exchange(&sites_root, &staging_name, req.domain.as_str())?;
                        journal.set(Phase::DatabaseLoaded)?;
                    }
                    return Err(e);
                }
            }
        }
        journal.set(Phase::Switched)?;
        crash_point("switched");
    }
    // The previous state goes last.
    if staging.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&staging).map_err(|e| io(staging.display(), e))?;
    }
    if database {
        sql(
            r,
            &format!("DROP DATABASE IF EXISTS `{scratch}`;\nDROP DATABASE IF EXISTS `{keep}`;\n"),
        )?;
    }
    journal.done()?;
    to_json(BackupRestored {
        dry_run: false,
        files: before,
        tables,
    })
}

fn to_json(r: BackupRestored) -> Result<serde_json::Value, AgentError> {
    serde_json::to_value(r).map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, sha: &str) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size: 1,
            sha256: sha.into(),
        }
    }

    #[test]
    fn changes_name_what_a_restore_adds_changes_and_removes() {
        let now = [f("a", "1"), f("b", "2"), f("c", "3")];
        let then = [f("a", "1"), f("b", "9"), f("d", "4")];
        let c = changes(&now, &then);
        assert_eq!((c.added, c.changed, c.removed), (1, 1, 1));
        assert_eq!(c.sample, ["change b", "add d", "remove c"]);
        let (a, b) = scratch_names("db_x", "r1");
        assert!(a.len() <= 64 && b.len() <= 64 && a != b);
    }
}
