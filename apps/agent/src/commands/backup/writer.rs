//! The backup writer (ADR 0011): `chom-agent backup-writer`, started by `backup.create` as the
//! site's user (so a symlink or a swapped directory can never make it read what that user
//! cannot), writes a backup's parts and its manifest into the site's repository with
//! `rustic_core`, opening the repository once.
//!
//! - stdin: one line, the [`Job`] (it carries the repository's password: a pipe, never argv);
//!   then, when the backup has a database, the dump in frames ([`sources::Frames`]).
//! - stdout: progress lines of the files ([`chom_agent_protocol::progress`]), `dump` when it
//!   is ready for the dump (nothing while the dump comes), then one line, the [`Outcome`].
//!
//! The manifest says what the snapshot holds, by construction: a file rustic reads is hashed
//! as it is read (the bytes that went into the snapshot, even if the tenant writes the file
//! meanwhile); a file rustic takes unchanged from the parent snapshot keeps the hash the
//! parent's manifest gave it (the parent is always the files part of the newest committed
//! backup); any other file is hashed from the repository.

mod key;
mod sources;

use super::{HOST, MANIFEST_FILE, answer, manifest};
use crate::commands::site::{crash_point, slow_point};
use crate::progress::Meter;
use chom_agent_protocol::backup::{
    BackupCreated, BackupKind, Manifest, ManifestDatabase, ManifestFile, Part, RepositoryAccess,
    backup_tag,
};
use chom_agent_protocol::{AgentError, ErrorCode, Progress};
use rustic_core::repofile::{MasterKey, SnapshotFile};
use rustic_core::{
    BackupOptions, CheckError, CheckErrorLevel, CheckOptions, ConfigOptions, Credentials,
    IndexedFull, KeyOptions, LocalSource, Repository, RepositoryBackends, RepositoryOptions,
    SnapshotOptions,
};
use serde::{Deserialize, Serialize};
use sources::{Hashed, Seen, Single};
pub(super) use sources::{end, frame};
use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The argument that makes `chom-agent` the writer.
pub(crate) const ARG: &str = "backup-writer";
/// What the writer prints when it is ready for the dump.
pub(super) const READY_FOR_DUMP: &str = "dump";
/// zstd level of the repositories the writer makes (restic's `auto` is about level 3; level
/// 1 is ~12 % faster here for 1 % more stored).
const COMPRESSION: i32 = 1;

/// Where the writer's progress goes: its stdout, which the agent that runs it reads (and
/// passes on, before its answer). Nowhere in unit tests.
#[cfg(not(test))]
const TELL: fn(&Progress) = crate::progress::report;
#[cfg(test)]
const TELL: fn(&Progress) = |_| {};

/// What `backup.create` asks of the writer.
#[derive(Serialize, Deserialize)]
pub(super) struct Job {
    pub repository: RepositoryAccess,
    pub backup_id: String,
    pub domain: String,
    pub kind: BackupKind,
    /// The site's tree, when the backup has files.
    pub files_root: Option<String>,
    /// Excluded directories, relative to the tree.
    pub exclude: Vec<String>,
    /// The dump's file name, when the backup has a database.
    pub database_file: Option<String>,
}

/// The writer's answer.
#[derive(Serialize, Deserialize)]
pub(super) enum Outcome {
    Done(BackupCreated),
    Failed(AgentError),
}

fn failed(what: &str) -> impl Fn(Box<rustic_core::RusticError>) -> AgentError + '_ {
    move |e| {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        let code = if super::rest::server_failed(&*e) {
            ErrorCode::RepositoryFailed
        } else if ["mac", "crypto", "decrypt", "hash", "corrupt"]
            .iter()
            .any(|w| lower.contains(w))
        {
            ErrorCode::BackupCorrupted
        } else {
            ErrorCode::RepositoryFailed
        };
        AgentError::new(code, format!("{what}: {text}"))
    }
}

fn backend(location: &str) -> Result<Arc<dyn rustic_core::WriteBackend>, AgentError> {
    let invalid = |m: String| AgentError::new(ErrorCode::InvalidRequest, m);
    let be: Arc<dyn rustic_core::WriteBackend> = if let Some(url) = location.strip_prefix("rest:") {
        Arc::new(super::rest::RestBackend::new(url).map_err(invalid)?)
    } else if location.starts_with('/') {
        Arc::new(
            rustic_backend::LocalBackend::new(location, Vec::<(String, String)>::new())
                .map_err(failed("repository directory"))?,
        )
    } else {
        return Err(invalid(
            "repository: the writer opens rest: addresses and directories".into(),
        ));
    };
    Ok(be)
}

/// The repository behind `be`, not opened yet. No cache: nothing of a repository is left on
/// the server.
fn unopened(be: Arc<dyn rustic_core::WriteBackend>) -> rustic_core::RusticResult<Repository<()>> {
    let mut options = RepositoryOptions::default();
    options.no_cache = true;
    Repository::new(&options, &RepositoryBackends::new(be, None))
}

/// How a repository is opened: with the master key of its cheap key file (`cheap`) when it has
/// one, else with the password, as restic opens it.
fn credentials(cheap: Option<&MasterKey>, password: &str) -> Credentials {
    match cheap {
        Some(master) => Credentials::Masterkey(master.clone()),
        None => Credentials::password(password),
    }
}

/// Reads back, whole, every pack that the snapshots of backup `backup_id` use, and every
/// tree of them (what a restore needs before it touches the site): `BACKUP_CORRUPTED` when a
/// pack no longer hashes to its name, a blob does not decrypt or a tree is missing. The packs
/// of other backups are not read: the verified restores, off the server, read them all.
///
/// # Errors
/// `BACKUP_CORRUPTED`, `BACKUP_NOT_FOUND` (no snapshot has that backup's tag),
/// `REPOSITORY_FAILED`, `INVALID_REQUEST`.
pub(super) fn check_backup(access: &RepositoryAccess, backup_id: &str) -> Result<(), AgentError> {
    let be = backend(&access.location)?;
    let cheap = key::master_key(be.as_ref(), &access.password);
    let creds = credentials(cheap.as_ref(), &access.password);
    let repo = unopened(be)
        .map_err(failed("repository"))?
        .open(&creds)
        .map_err(failed("opening the repository"))?;
    let tag = backup_tag(backup_id);
    let trees: Vec<_> = repo
        .get_all_snapshots()
        .map_err(failed("snapshots"))?
        .into_iter()
        .filter(|s| s.tags.contains(&tag))
        .map(|s| s.tree)
        .collect();
    if trees.is_empty() {
        return Err(AgentError::new(
            ErrorCode::BackupNotFound,
            format!("no snapshot of backup {backup_id} in the repository"),
        ));
    }
    let mut opts = CheckOptions::default();
    opts.read_data = true;
    let found = repo
        .check_with_trees(opts, trees)
        .map_err(failed("checking the backup's data"))?;
    found.is_ok().map_err(|_| {
        let errors: Vec<&CheckError> = found
            .0
            .iter()
            .filter(|(level, _)| *level == CheckErrorLevel::Error)
            .map(|(_, e)| e)
            .collect();
        let what: Vec<String> = errors.iter().map(ToString::to_string).take(3).collect();
        // A pack the server did not send is not a pack found wrong: the backup may be intact.
        let (code, verdict) = if errors.iter().all(|e| super::rest::server_failed(*e)) {
            (
                ErrorCode::RepositoryFailed,
                "the backup's data could not be read back",
            )
        } else {
            (ErrorCode::BackupCorrupted, "the backup's data check failed")
        };
        AgentError::new(code, format!("{verdict}: {}", what.join("; ")))
    })
}

fn snapshot_options(job: &Job, part: &str) -> Result<SnapshotFile, AgentError> {
    let mut opts = SnapshotOptions::default();
    opts.host = Some(HOST.into());
    opts.add_tags(&format!(
        "{},part={part},site={}",
        backup_tag(&job.backup_id),
        job.domain
    ))
    .and_then(|o| o.to_snapshot())
    .map_err(failed("snapshot"))
}

fn id_of(snap: &SnapshotFile) -> String {
    snap.id.to_hex().as_str().to_owned()
}

/// A file of a snapshot's root directory, whole.
fn read_root_file<S: IndexedFull>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    name: &str,
) -> Result<Vec<u8>, AgentError> {
    let node = repo
        .node_from_path(snap.tree, Path::new(name))
        .map_err(failed("manifest"))?;
    let mut out = Vec::new();
    repo.dump(&node, &mut out).map_err(failed("manifest"))?;
    Ok(out)
}

fn read_manifest<S: IndexedFull>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
) -> Result<Manifest, AgentError> {
    let text = read_root_file(repo, snap, MANIFEST_FILE)?;
    serde_json::from_slice(&text).map_err(|e| {
        AgentError::new(
            ErrorCode::BackupCorrupted,
            format!(
                "the manifest of snapshot {} is unreadable: {e}",
                id_of(snap)
            ),
        )
    })
}

/// The newest manifest snapshot among `snaps` that has every tag of `tags`.
fn newest<'s>(snaps: &'s [SnapshotFile], tags: &[&str]) -> Option<&'s SnapshotFile> {
    snaps
        .iter()
        .filter(|s| tags.iter().all(|t| s.tags.contains(t)) && s.tags.contains("part=manifest"))
        .max_by(|a, b| a.time.cmp(&b.time))
}

/// The manifest's files: what the `files` snapshot holds below `root` (see the module's
/// documentation for where each hash comes from). The files that neither were read nor are
/// in the previous manifest come back second, to be hashed from the repository.
fn manifest_files(
    root: &str,
    seen: &Seen,
    previous: Option<&Manifest>,
) -> (Vec<ManifestFile>, Vec<String>) {
    let before: HashMap<&str, &ManifestFile> = previous
        .filter(|m| m.files_root.as_deref() == Some(root))
        .map(|m| m.files.iter().map(|f| (f.path.as_str(), f)).collect())
        .unwrap_or_default();
    let read = seen.files();
    let unhashed = seen.unhashed();
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for abs in seen.listed() {
        let Ok(rel) = abs.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if let Some((sha, size)) = read.get(&abs) {
            out.push(ManifestFile {
                path: rel,
                size: *size,
                sha256: sha.clone(),
            });
        } else if unhashed.contains(&abs) {
            // Read, so changed since the parent: the previous manifest's entry is stale.
            unknown.push(rel);
        } else if let Some(f) = before.get(rel.as_str()) {
            out.push((*f).clone());
        } else {
            unknown.push(rel);
        }
    }
    (out, unknown)
}

/// SHA-256 and size of the file at `root/rel` in `snap`, read back from the repository.
fn hash_from_repository<S: IndexedFull>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    root: &str,
    rel: &str,
) -> Result<ManifestFile, AgentError> {
    let node = repo
        .node_from_path(snap.tree, &Path::new(root).join(rel))
        .map_err(failed("the files snapshot"))?;
    let mut hashing = manifest::Sha256Writer::default();
    repo.dump(&node, &mut hashing)
        .map_err(failed("hashing a file from the repository"))?;
    let (sha256, size) = hashing.finish();
    Ok(ManifestFile {
        path: rel.to_owned(),
        size,
        sha256,
    })
}

/// The snapshot `part` of one file `name` made of what `reader` gives (`rows`: a dump whose
/// rows are counted), and what was read.
fn single_part<S: IndexedFull, R: std::io::Read + Send + 'static>(
    repo: &Repository<S>,
    job: &Job,
    part: &str,
    name: &str,
    reader: R,
    rows: bool,
    meter: Option<Arc<Meter>>,
) -> Result<(SnapshotFile, Seen), AgentError> {
    let seen = Seen::default();
    let mut opts = BackupOptions::default();
    opts.no_scan = true;
    opts.parent_opts.force = true;
    let snap = repo
        .archive(
            &opts,
            &Hashed::new(Single::new(name, reader), seen.clone(), rows, meter),
            snapshot_options(job, part)?,
            &[PathBuf::from(name)],
        )
        .map_err(|e| failed(&format!("writing the {part} part"))(e))?;
    seen.check()?;
    Ok((snap, seen))
}

/// The manifest as stored, and its SHA-256 (what the answer names).
fn sealed(m: &Manifest) -> Result<(Vec<u8>, String), AgentError> {
    let text =
        serde_json::to_vec(m).map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))?;
    let (sha, _) = manifest::sha256(text.as_slice())
        .map_err(|e| AgentError::new(ErrorCode::Io, e.to_string()))?;
    Ok((text, sha))
}

/// What a run wrote.
struct Written {
    answer: BackupCreated,
    /// Files of the tree read (the others were taken unchanged from the parent snapshot).
    files_read: usize,
}

/// Writes the backup `job` asks for; `stdin` then holds the dump, `stdout` is told when.
fn write(job: &Job, stdout: &mut impl std::io::Write) -> Result<Written, AgentError> {
    let password = &job.repository.password;
    let be = backend(&job.repository.location)?;
    let repo = unopened(be.clone()).map_err(failed("repository"))?;
    let cheap = key::master_key(be.as_ref(), password);
    let repo = if repo.config_id().map_err(failed("repository"))?.is_none() {
        let mut config = ConfigOptions::default();
        config.set_compression = Some(COMPRESSION);
        // Each blob is checked by the verified restores, off the server (ADR 0011).
        config.set_extra_verify = Some(false);
        // The repository's only key file is the cheap one, written before the config: a run
        // killed between the two left that key, and its master key is the one used again,
        // so that every key file of the repository opens it (restic uses the first key file
        // the password opens).
        let master = match cheap {
            Some(master) => master,
            None => {
                let master = MasterKey::new();
                be.create().map_err(failed("making the repository"))?;
                key::add(be.as_ref(), password, &master).ok_or_else(|| {
                    AgentError::new(
                        ErrorCode::RepositoryFailed,
                        "making the repository: its key file could not be written",
                    )
                })?;
                master
            }
        };
        repo.init(
            &Credentials::Masterkey(master),
            &KeyOptions::default(),
            &config,
        )
        .map_err(failed("making the repository"))?
    } else {
        let repo = repo
            .open(&credentials(cheap.as_ref(), password))
            .map_err(failed("opening the repository"))?;
        if cheap.is_none() {
            // A repository made before the cheap key (or by restic). Best effort: without
            // it, the next run derives the password's key as restic does.
            let _ = key::add(be.as_ref(), password, &repo.key());
        }
        repo
    };
    let mut repo = repo.to_indexed().map_err(failed("reading the index"))?;
    let snaps = repo.get_all_snapshots().map_err(failed("snapshots"))?;
    let mine = backup_tag(&job.backup_id);
    if let Some(done) = newest(&snaps, &[&mine]) {
        let m = read_manifest(&repo, done)?;
        let (_, sha) = sealed(&m)?;
        return Ok(Written {
            answer: answer(&m, sha, 0),
            files_read: 0,
        });
    }
    let site = format!("site={}", job.domain);
    // A previous manifest that cannot be read only costs reading every file again.
    let previous = newest(&snaps, &[&site]).and_then(|s| match read_manifest(&repo, s) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("the previous manifest is unreadable ({e}): every file is read");
            None
        }
    });
    let mut m = Manifest {
        version: 1,
        backup_id: job.backup_id.clone(),
        kind: Some(job.kind),
        ..Manifest::default()
    };
    let mut added = 0;
    let mut files_read = 0;
    if let Some(root) = job.files_root.as_deref().filter(|_| job.kind.has_files()) {
        let seen = Seen::default();
        let parent = previous
            .as_ref()
            .filter(|p| p.files_root.as_deref() == Some(root))
            .and_then(|p| p.parts.iter().find(|x| x.part == "files"))
            .map(|p| p.snapshot.clone());
        let mut opts = BackupOptions::default();
        opts.no_scan = true;
        opts.ignore_filter_opts.one_file_system = true;
        // The directories stay (PHP needs its `tmp` and `sessions`), their content does not.
        opts.excludes.globs = job
            .exclude
            .iter()
            .map(|e| format!("!{root}/{e}/*"))
            .collect();
        match parent {
            Some(p) => opts.parent_opts.parents = vec![p],
            None => opts.parent_opts.force = true,
        }
        // As many files as the previous backup held: an estimate, shown only.
        let expected = previous.as_ref().map(|p| p.files.len() as u64);
        let meter = Arc::new(Meter::new("files", expected, TELL));
        let source = LocalSource::new(
            opts.ignore_save_opts,
            &opts.excludes,
            &opts.ignore_filter_opts,
            &[root],
        )
        .map_err(failed("the site's tree"))?;
        let snap = repo
            .archive(
                &opts,
                &Hashed::new(source, seen.clone(), false, Some(meter.clone())),
                snapshot_options(job, "files")?,
                &[PathBuf::from(root)],
            )
            .map_err(failed("backing up the files"))?;
        meter.finish();
        seen.check()?;
        files_read = seen.read_count();
        let (mut files, unknown) = manifest_files(root, &seen, previous.as_ref());
        if !unknown.is_empty() {
            // The new snapshot's trees are not in the index read before it was made.
            repo = repo
                .drop_index()
                .to_indexed()
                .map_err(failed("reading the index"))?;
            for rel in &unknown {
                files.push(hash_from_repository(&repo, &snap, root, rel)?);
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        m.files = files;
        added += snap.summary.as_ref().map_or(0, |s| s.data_added_packed);
        m.files_root = Some(root.to_owned());
        m.parts.push(Part {
            part: "files".into(),
            snapshot: id_of(&snap),
        });
        crash_point("files_part");
        slow_point();
    }
    if let Some(file) = job
        .database_file
        .as_deref()
        .filter(|_| job.kind.has_database())
    {
        writeln!(stdout, "{READY_FOR_DUMP}")
            .and_then(|()| stdout.flush())
            .map_err(|e| AgentError::new(ErrorCode::Io, format!("asking for the dump: {e}")))?;
        // Nothing is told while the dump comes: the agent, writing it into this process's
        // stdin, reads this stdout only once it ended (it tells the dump's bytes itself).
        let (snap, seen) = single_part(
            &repo,
            job,
            "database",
            file,
            sources::Frames::new(std::io::stdin()),
            true,
            None,
        )?;
        let (sha256, _) = seen.files().remove(Path::new(file)).ok_or_else(|| {
            AgentError::new(ErrorCode::CommandFailed, "the dump did not reach its end")
        })?;
        added += snap.summary.as_ref().map_or(0, |s| s.data_added_packed);
        m.parts.push(Part {
            part: "database".into(),
            snapshot: id_of(&snap),
        });
        m.database = Some(ManifestDatabase {
            file: file.to_owned(),
            sha256,
            tables: seen.rows(),
        });
        crash_point("database_part");
    }
    let (text, sha) = sealed(&m)?;
    let (snap, _) = single_part(
        &repo,
        job,
        "manifest",
        MANIFEST_FILE,
        std::io::Cursor::new(text),
        false,
        None,
    )?;
    added += snap.summary.as_ref().map_or(0, |s| s.data_added_packed);
    Ok(Written {
        answer: answer(&m, sha, added),
        files_read,
    })
}

/// `chom-agent backup-writer`.
pub(crate) fn main() -> std::process::ExitCode {
    // Never held: the archiver's threads write progress lines on it too, a line at a time.
    let mut stdout = std::io::stdout();
    let mut line = String::new();
    // The lock is let go before the dump is read from stdin, on another thread.
    let read = std::io::stdin().lock().read_line(&mut line);
    let outcome = match read {
        Ok(_) => match serde_json::from_str::<Job>(&line) {
            Ok(job) => match write(&job, &mut stdout) {
                Ok(done) => {
                    eprintln!(
                        "backup {}: {} files read, the others taken unchanged from the parent",
                        job.backup_id, done.files_read
                    );
                    Outcome::Done(done.answer)
                }
                Err(e) => Outcome::Failed(e),
            },
            Err(e) => Outcome::Failed(AgentError::new(
                ErrorCode::InvalidRequest,
                format!("backup writer: {e}"),
            )),
        },
        Err(e) => Outcome::Failed(AgentError::new(
            ErrorCode::Io,
            format!("backup writer: {e}"),
        )),
    };
    let text = serde_json::to_string(&outcome).unwrap_or_default();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chom_test_support::files::{flip_byte, regular_files};

    /// The repository in `repo`, opened with the tests' password and indexed.
    fn indexed(repo: &Path) -> Repository<rustic_core::IndexedFullStatus> {
        let be = backend(&repo.display().to_string()).unwrap();
        unopened(be)
            .unwrap()
            .open(&Credentials::password("a password"))
            .unwrap()
            .to_indexed()
            .unwrap()
    }

    /// The `files` part among a backup's `parts`.
    fn files_part(
        opened: &Repository<rustic_core::IndexedFullStatus>,
        parts: &[Part],
    ) -> SnapshotFile {
        let id = &parts.iter().find(|p| p.part == "files").unwrap().snapshot;
        opened.get_snapshots(&[id]).unwrap().remove(0)
    }

    fn job(repo: &Path, root: &Path, id: &str) -> Job {
        Job {
            repository: RepositoryAccess {
                location: repo.display().to_string(),
                password: "a password".into(),
                environment: std::collections::BTreeMap::new(),
            },
            backup_id: id.into(),
            domain: "example.test".into(),
            kind: BackupKind::Files,
            files_root: Some(root.display().to_string()),
            exclude: vec!["tmp".into()],
            database_file: None,
        }
    }

    #[test]
    fn the_next_backup_reads_only_what_changed_and_its_manifest_stays_whole() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        let root = site.path();
        std::fs::create_dir_all(root.join("public")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("tmp/scratch"), "excluded").unwrap();
        for i in 0..20 {
            std::fs::write(root.join(format!("public/{i}.php")), format!("file {i}")).unwrap();
        }
        let first = write(&job(repo.path(), root, "b1"), &mut Vec::new()).unwrap();
        assert_eq!(first.files_read, 20);
        assert_eq!(first.answer.file_count, 20, "tmp/ content is excluded");
        std::fs::write(root.join("public/3.php"), "changed").unwrap();
        let second = write(&job(repo.path(), root, "b2"), &mut Vec::new()).unwrap();
        assert_eq!(second.files_read, 1, "only the changed file is read");
        assert_eq!(second.answer.file_count, 20);
        // The same id again answers from its manifest, reading nothing.
        let again = write(&job(repo.path(), root, "b2"), &mut Vec::new()).unwrap();
        assert_eq!(again.files_read, 0);
        assert_eq!(again.answer.manifest_sha256, second.answer.manifest_sha256);
    }

    /// The second backup takes most files unchanged from the parent (in batches, a patch of
    /// the vendored rustic_core) and reads a few: every file of its snapshot, read back from
    /// the repository, is the file on disk, and so is its manifest entry.
    #[test]
    fn the_second_backup_stores_every_file_as_it_is() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        let root = site.path();
        let mut paths = Vec::new();
        for i in 0..600 {
            let dir = root.join(format!("d{}", i / 250));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{i}.php"));
            std::fs::write(&path, format!("<?php // file {i}\n").repeat(i % 7 + 1)).unwrap();
            paths.push(path);
        }
        write(&job(repo.path(), root, "b1"), &mut Vec::new()).unwrap();
        let mut changed = 0;
        for (i, path) in paths.iter().enumerate().filter(|(i, _)| i % 37 == 5) {
            std::fs::write(path, format!("changed {i}")).unwrap();
            changed += 1;
        }
        std::fs::write(root.join("d1/new.php"), "new").unwrap();
        let second = write(&job(repo.path(), root, "b2"), &mut Vec::new()).unwrap();
        assert_eq!(second.files_read, changed + 1);
        assert_eq!(second.answer.file_count, 601);

        let opened = indexed(repo.path());
        let snaps = opened.get_all_snapshots().unwrap();
        let manifest =
            read_manifest(&opened, newest(&snaps, &["chom-backup=b2"]).unwrap()).unwrap();
        let snap = files_part(&opened, &manifest.parts);
        let root_text = root.display().to_string();
        assert_eq!(manifest.files.len(), 601);
        for entry in &manifest.files {
            let on_disk =
                manifest::sha256(std::fs::File::open(root.join(&entry.path)).unwrap()).unwrap();
            let stored = hash_from_repository(&opened, &snap, &root_text, &entry.path).unwrap();
            assert_eq!(
                (&stored.sha256, stored.size),
                (&on_disk.0, on_disk.1),
                "{}",
                entry.path
            );
            assert_eq!(
                (&entry.sha256, entry.size),
                (&on_disk.0, on_disk.1),
                "{}",
                entry.path
            );
        }
    }

    /// Content-defined chunking as upstream rustic_core does it, byte by byte: the vendored
    /// copy's chunker (a patch that rolls the buffer in one pass, with 64 KiB reads) must cut
    /// where it cuts, or a site's first backup would share no chunk with restic's.
    fn reference_chunks<'d>(
        data: &'d [u8],
        config: &rustic_core::repofile::ConfigFile,
    ) -> Vec<&'d [u8]> {
        use rustic_cdc::{Rabin64, RollingHash64 as _};
        let poly = config.poly().unwrap();
        let (min, max) = (config.chunk_min_size(), config.chunk_max_size());
        let mask = u64::try_from(config.chunk_size()).unwrap() - 1;
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < data.len() {
            if data.len() - start < min {
                chunks.push(&data[start..]);
                break;
            }
            let mut end = start + min;
            let mut rabin = Rabin64::new_with_polynom(6, &poly);
            let _ = rabin.reset_and_prefill_window(&mut data[end - 64..end].iter().copied());
            while end - start < max && (rabin.hash & mask) != 0 && end < data.len() {
                rabin.slide(data[end]);
                end += 1;
            }
            chunks.push(&data[start..end]);
            start = end;
        }
        chunks
    }

    #[test]
    fn the_chunks_are_cut_where_upstream_cuts_them() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        // Noise (cut points where the content says), a long run of zeros (cut at the
        // smallest size), a file larger than the largest chunk, and small ones.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[3]
                })
                .collect()
        };
        let mut mixed = noise(5 << 20);
        mixed.extend(vec![0u8; 3 << 20]);
        mixed.extend(noise(3 << 20));
        let files = [
            ("mixed.bin", mixed),
            ("large.bin", noise(11 << 20)),
            ("small.txt", b"hello".to_vec()),
            ("empty.txt", Vec::new()),
            ("under.bin", noise((512 << 10) - 1)),
            ("edge.bin", noise(512 << 10)),
        ];
        for (name, data) in &files {
            std::fs::write(site.path().join(name), data).unwrap();
        }
        let done = write(&job(repo.path(), site.path(), "b1"), &mut Vec::new()).unwrap();
        let opened = indexed(repo.path());
        let snap = files_part(&opened, &done.answer.parts);
        for (name, data) in &files {
            let node = opened
                .node_from_path(snap.tree, &site.path().join(name))
                .unwrap();
            let stored: Vec<String> = node
                .content
                .unwrap()
                .iter()
                .map(|id| id.to_hex().as_str().to_owned())
                .collect();
            let expected: Vec<String> = reference_chunks(data, opened.config())
                .into_iter()
                .map(|c| manifest::sha256(c).unwrap().0)
                .collect();
            assert!(
                expected.len() > 1 || data.len() <= (512 << 10),
                "{name}: {expected:?}"
            );
            assert_eq!(stored, expected, "{name}");
        }
        // Every file's manifest entry is its SHA-256, taken over its chunks as they were cut
        // (one chunk or more, the first chunk's hash going on over the others).
        let snaps = opened.get_all_snapshots().unwrap();
        let manifest =
            read_manifest(&opened, newest(&snaps, &["chom-backup=b1"]).unwrap()).unwrap();
        assert_eq!(manifest.files.len(), files.len());
        for (name, data) in &files {
            let entry = manifest.files.iter().find(|f| f.path == *name).unwrap();
            let want = manifest::sha256(data.as_slice()).unwrap();
            assert_eq!((&entry.sha256, entry.size), (&want.0, want.1), "{name}");
        }
    }

    /// A site of `files` small PHP files, and its repository holding backup `id`.
    fn backed_up(files: usize, id: &str) -> (tempfile::TempDir, tempfile::TempDir) {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        for i in 0..files {
            std::fs::write(
                site.path().join(format!("{i}.php")),
                format!("file {i}").repeat(500),
            )
            .unwrap();
        }
        write(&job(repo.path(), site.path(), id), &mut Vec::new()).unwrap();
        (repo, site)
    }

    /// The check a restore runs: a byte flipped anywhere in a pack the backup uses, its
    /// header included (which reading the blobs never touches), is `BACKUP_CORRUPTED`.
    #[test]
    fn a_flipped_byte_in_a_pack_of_the_backup_fails_its_check() {
        let (repo, site) = backed_up(50, "b1");
        let access = job(repo.path(), site.path(), "b1").repository;
        check_backup(&access, "b1").unwrap();
        let packs = regular_files(&repo.path().join("data"));
        assert!(!packs.is_empty());
        for pack in &packs {
            let len = std::fs::metadata(pack).unwrap().len() as usize;
            for at in [len / 2, len - 5] {
                let pristine = flip_byte(pack, at);
                let e = check_backup(&access, "b1").unwrap_err();
                assert_eq!(
                    e.code,
                    ErrorCode::BackupCorrupted,
                    "{} at {at}: {e:?}",
                    pack.display()
                );
                std::fs::write(pack, &pristine).unwrap();
            }
        }
        check_backup(&access, "b1").unwrap();
        assert_eq!(
            check_backup(&access, "b2").unwrap_err().code,
            ErrorCode::BackupNotFound
        );
    }

    /// A repository server that fails to send the packs has not shown the backup corrupted:
    /// the check says `REPOSITORY_FAILED`, whether it fails every read of a pack (the trees'
    /// included) or only the reads of the packs' blobs (their headers still sent, which
    /// upstream's check then hashed alone and called a mismatch). Over the same server, the
    /// check passes while it sends everything, and a flipped byte behind it is still
    /// `BACKUP_CORRUPTED`.
    #[test]
    fn packs_the_server_does_not_send_are_not_a_corrupted_backup() {
        use super::super::test_http::{answer_from, local, serve};
        use std::sync::atomic::{AtomicU8, Ordering};
        const SENDS_ALL: u8 = 0;
        const FAILS_PACKS: u8 = 1;
        const FAILS_BLOBS: u8 = 2;
        let (repo, site) = backed_up(20, "b1");
        let mode = Arc::new(AtomicU8::new(SENDS_ALL));
        let (dir, failing) = (repo.path().to_path_buf(), mode.clone());
        let url = serve(move |request| {
            // A pack's list is always sent.
            let pack = request
                .path
                .strip_prefix("data/")
                .is_some_and(|id| !id.is_empty());
            // The check reads a pack's blobs by a range that stops short of its header, at
            // the end; the trees are read whole.
            let blobs = pack
                && request.range.is_some_and(|(_, last)| {
                    std::fs::metadata(local(&dir, &request.path))
                        .is_ok_and(|m| (last as u64) + 1 < m.len())
                });
            match failing.load(Ordering::SeqCst) {
                FAILS_PACKS if pack => ("503 Service Unavailable", Vec::new()),
                FAILS_BLOBS if blobs => ("503 Service Unavailable", Vec::new()),
                _ => answer_from(&dir, &request),
            }
        });
        let mut access = job(repo.path(), site.path(), "b1").repository;
        access.location = format!("rest:{url}");
        check_backup(&access, "b1").unwrap();

        for failing in [FAILS_PACKS, FAILS_BLOBS] {
            mode.store(failing, Ordering::SeqCst);
            let e = check_backup(&access, "b1").unwrap_err();
            assert_eq!(e.code, ErrorCode::RepositoryFailed, "{failing}: {e:?}");
            assert!(e.message.contains("503"), "{failing}: {e:?}");
        }

        mode.store(SENDS_ALL, Ordering::SeqCst);
        check_backup(&access, "b1").unwrap();
        let pack = regular_files(&repo.path().join("data")).remove(0);
        let len = std::fs::metadata(&pack).unwrap().len() as usize;
        flip_byte(&pack, len / 2);
        let e = check_backup(&access, "b1").unwrap_err();
        assert_eq!(e.code, ErrorCode::BackupCorrupted, "{e:?}");
    }

    fn key_files(repo: &Path) -> Vec<rustic_core::repofile::KeyFile> {
        std::fs::read_dir(repo.join("keys"))
            .unwrap()
            .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
            .collect()
    }

    fn opened_with_password(repo: &Path) -> bool {
        let be = backend(&repo.display().to_string()).unwrap();
        unopened(be)
            .unwrap()
            .open(&Credentials::password("a password"))
            .is_ok()
    }

    /// A new repository has one key file, cheap to derive (no 0.3 s of scrypt for the first
    /// backup), that the password opens as restic would open it.
    #[test]
    fn a_new_repository_has_one_cheap_key_that_the_password_opens() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "hello").unwrap();
        write(&job(repo.path(), site.path(), "b1"), &mut Vec::new()).unwrap();
        let keys = key_files(repo.path());
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].n, 1 << 10);
        assert!(opened_with_password(repo.path()));
    }

    /// A run killed after the key file and before the config: the next run makes the
    /// repository with that key's master key, so no key file of it opens another key (restic
    /// takes the first key file the password opens).
    #[test]
    fn a_key_left_by_a_killed_run_is_the_repositorys_key() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "hello").unwrap();
        let be = backend(&repo.path().display().to_string()).unwrap();
        be.create().unwrap();
        let left = MasterKey::new();
        key::add(be.as_ref(), "a password", &left).unwrap();
        write(&job(repo.path(), site.path(), "b1"), &mut Vec::new()).unwrap();
        assert_eq!(key_files(repo.path()).len(), 1, "no second key file");
        let with_left = unopened(be).unwrap().open(&Credentials::Masterkey(left));
        assert!(
            with_left.is_ok(),
            "the key left behind opens the repository"
        );
        assert!(opened_with_password(repo.path()));
    }

    /// Where each manifest entry comes from: a file read and hashed has its hash; a file read
    /// but left unhashed (rustic handed no hash over for it: a path kept in case it ever does
    /// not) changed since the parent, so the parent manifest's entry is stale and it is hashed
    /// from the repository; a file not read keeps the parent's entry.
    #[test]
    fn a_file_read_but_left_unhashed_never_takes_the_parents_entry() {
        let old = |path: &str| ManifestFile {
            path: path.into(),
            size: 1,
            sha256: "old".into(),
        };
        let previous = Manifest {
            files_root: Some("/site".into()),
            files: vec![old("a.php"), old("b.php"), old("c.php")],
            ..Manifest::default()
        };
        let seen = Seen::made_of(
            &["/site/a.php", "/site/b.php", "/site/c.php", "/site/d.php"],
            &[("/site/a.php", "new", 2)],
            &["/site/b.php"],
        );
        let (files, unknown) = manifest_files("/site", &seen, Some(&previous));
        let entries: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .collect();
        assert_eq!(entries, [("a.php", "new"), ("c.php", "old")]);
        assert_eq!(unknown, ["b.php", "d.php"]);
    }

    /// A site writes files while it is backed up (logs, uploads): the manifest must say what
    /// the snapshot holds, or the restore of that backup would refuse it as corrupted.
    #[test]
    fn a_file_written_during_the_backup_is_in_the_manifest_as_stored() {
        let repo = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        let root = site.path().to_path_buf();
        std::fs::create_dir_all(root.join("public")).unwrap();
        for i in 0..300 {
            std::fs::write(root.join(format!("public/{i}.php")), vec![b'x'; 20_000]).unwrap();
        }
        let log = root.join("public/app.log");
        std::fs::write(&log, "start\n").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                    std::io::Write::write_all(&mut f, format!("line {n}\n").as_bytes()).unwrap();
                    n += 1;
                }
            })
        };
        let done = write(&job(repo.path(), &root, "b1"), &mut Vec::new()).unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        // Read back from the repository what the snapshot holds for the log.
        let opened = indexed(repo.path());
        let snap = files_part(&opened, &done.answer.parts);
        let node = opened.node_from_path(snap.tree, &log).unwrap();
        let mut stored = manifest::Sha256Writer::default();
        opened.dump(&node, &mut stored).unwrap();
        let (sha, size) = stored.finish();
        let manifest = read_manifest(
            &opened,
            newest(&opened.get_all_snapshots().unwrap(), &["chom-backup=b1"]).unwrap(),
        )
        .unwrap();
        let entry = manifest
            .files
            .iter()
            .find(|f| f.path == "public/app.log")
            .unwrap();
        assert_eq!((entry.sha256.as_str(), entry.size), (sha.as_str(), size));
        assert_eq!(manifest.files.len(), 301);
        // The log went on growing past what was stored: a second read of it (the manifest
        // walk of before) would have hashed other bytes.
        assert!(std::fs::metadata(&log).unwrap().len() > size);
    }
}
