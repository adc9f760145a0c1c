//! A verified restore, off the server: the manifest (its SHA-256 as recorded), the files
//! restored into a scratch directory and hashed one by one, the dump streamed and hashed with
//! its rows counted per table (and, with a scratch database configured, loaded into one as it
//! streams and each table's rows counted with SQL, the database dropped after), then
//! `restic check --read-data`. Once the repository opened,
//! anything that does not match or cannot be read is a failed verdict, never an error.

use super::{ResticCli, ScratchDatabase};
use chom_agent_protocol::backup::{Manifest, ManifestFile, RepositoryAccess};
use chom_agent_protocol::rows::RowCounter;
use chom_backup::ports::Verdict;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncReadExt as _;

fn hex(d: ring::digest::Digest) -> String {
    data_encoding::HEXLOWER.encode(d.as_ref())
}

/// SHA-256 and size of every regular file beneath `dir` (a scratch directory of ours), sorted.
fn walk(dir: &Path) -> std::io::Result<Vec<ManifestFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            let meta = path.symlink_metadata()?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let mut file = std::fs::File::open(&path)?;
                let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
                let mut buf = vec![0u8; 1 << 16];
                let mut size = 0u64;
                loop {
                    let n = std::io::Read::read(&mut file, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    size += n as u64;
                    hash.update(&buf[..n]);
                }
                out.push(ManifestFile {
                    path: path
                        .strip_prefix(dir)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    size,
                    sha256: hex(hash.finish()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Streams `restic dump <snapshot> <file>`: its SHA-256 and rows per table; loaded into
/// `into` (a scratch server and database) as it streams, when given.
async fn dump(
    access: &RepositoryAccess,
    snapshot: &str,
    file: &str,
    into: Option<(&ScratchDatabase, &str)>,
) -> Result<(String, BTreeMap<String, u64>), String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = ResticCli::command(access, &["dump", snapshot, file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run restic: {e}"))?;
    let mut loader = match into {
        Some((server, database)) => Some(
            server
                .client()
                .arg(database)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run mariadb: {e}"))?,
        ),
        None => None,
    };
    let mut sink = loader.as_mut().and_then(|l| l.stdin.take());
    let mut out = child.stdout.take().ok_or("restic has no stdout")?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut rows = RowCounter::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = out.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        rows.feed(&buf[..n]);
        if let Some(s) = sink.as_mut() {
            s.write_all(&buf[..n])
                .await
                .map_err(|e| format!("loading the scratch database: {e}"))?;
        }
    }
    drop(sink);
    let done = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !done.status.success() {
        return Err(format!(
            "restic dump: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    if let Some(l) = loader {
        let loaded = l.wait_with_output().await.map_err(|e| e.to_string())?;
        if !loaded.status.success() {
            return Err(format!(
                "the dump does not load: {}",
                String::from_utf8_lossy(&loaded.stderr).trim()
            ));
        }
    }
    Ok((hex(hash.finish()), rows.finish()))
}

/// Tables with rows (an empty table may be missing from a count taken from a dump's inserts).
fn non_empty(rows: &BTreeMap<String, u64>) -> BTreeMap<&str, u64> {
    rows.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| (t.as_str(), *n))
        .collect()
}

/// The dump of `snapshot` loaded into a new scratch database on `server`, then each table's
/// rows counted with SQL; the database is dropped whatever happened. Also the stream's
/// SHA-256 and rows, as [`dump`].
async fn load(
    server: &ScratchDatabase,
    access: &RepositoryAccess,
    snapshot: &str,
    file: &str,
) -> Result<(String, BTreeMap<String, u64>, BTreeMap<String, u64>), String> {
    let mut nonce = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| "no randomness for a scratch database name")?;
    let database = format!("chom_verify_{}", data_encoding::HEXLOWER.encode(&nonce));
    server.sql(&format!("CREATE DATABASE `{database}`")).await?;
    let loaded = async {
        let (sha, rows) = dump(access, snapshot, file, Some((server, &database))).await?;
        let counted = server.rows(&database).await?;
        Ok::<_, String>((sha, rows, counted))
    }
    .await;
    if let Err(e) = server
        .sql(&format!("DROP DATABASE IF EXISTS `{database}`"))
        .await
    {
        tracing::warn!(%database, error = %e, "a scratch database was not dropped");
    }
    loaded
}

pub(super) async fn run(
    restic: &ResticCli,
    access: &RepositoryAccess,
    backup_id: &str,
    manifest_sha256: &str,
) -> Result<Verdict, String> {
    // Opening the repository is the one step whose failure is "not verified" rather than
    // "failed": a server down says nothing about the backup.
    let listed = restic.run(access, &["snapshots"]).await?;
    let snapshots: serde_json::Value =
        serde_json::from_str(listed.trim()).map_err(|e| format!("restic snapshots: {e}"))?;
    let tag = chom_agent_protocol::backup::backup_tag(backup_id);
    let part = |name: &str| {
        snapshots.as_array().into_iter().flatten().find_map(|s| {
            let tags = s["tags"].as_array()?;
            let has = |t: &str| tags.iter().any(|x| x.as_str() == Some(t));
            (has(&tag) && has(&format!("part={name}")))
                .then(|| s["id"].as_str().map(str::to_owned))
                .flatten()
        })
    };
    let Some(manifest_snapshot) = part("manifest") else {
        return Ok(Verdict::Failed(
            "the backup's manifest snapshot is missing".into(),
        ));
    };
    let text = match restic
        .run(access, &["dump", &manifest_snapshot, "/manifest.json"])
        .await
    {
        Ok(t) => t,
        Err(e) => return Ok(Verdict::Failed(format!("the manifest cannot be read: {e}"))),
    };
    let sha = hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()));
    if sha != manifest_sha256 {
        return Ok(Verdict::Failed(format!(
            "the manifest's SHA-256 is {sha}, {manifest_sha256} was recorded"
        )));
    }
    let manifest: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Ok(Verdict::Failed(format!("the manifest is unreadable: {e}"))),
    };
    let mut checked = Vec::new();
    if let Some(root) = &manifest.files_root {
        let Some(files) = manifest.parts.iter().find(|p| p.part == "files") else {
            return Ok(Verdict::Failed(
                "the manifest names no files snapshot".into(),
            ));
        };
        let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
        let target = scratch.path().display().to_string();
        if let Err(e) = restic
            .run(access, &["restore", &files.snapshot, "--target", &target])
            .await
        {
            return Ok(Verdict::Failed(format!(
                "the files cannot be restored: {e}"
            )));
        }
        let restored = walk(&scratch.path().join(root.trim_start_matches('/')))
            .map_err(|e| format!("reading the scratch directory: {e}"))?;
        if restored != manifest.files {
            let expected: BTreeMap<&str, &ManifestFile> = manifest
                .files
                .iter()
                .map(|f| (f.path.as_str(), f))
                .collect();
            let bad = restored
                .iter()
                .find(|f| expected.get(f.path.as_str()) != Some(f))
                .map_or_else(|| "a file is missing".to_owned(), |f| f.path.clone());
            return Ok(Verdict::Failed(format!(
                "restored files differ from the manifest: {bad}"
            )));
        }
        checked.push(format!("{} files", restored.len()));
    }
    if let Some(db) = &manifest.database {
        let Some(snapshot) = manifest.parts.iter().find(|p| p.part == "database") else {
            return Ok(Verdict::Failed(
                "the manifest names no database snapshot".into(),
            ));
        };
        let file = format!("/{}", db.file);
        let streamed = match &restic.scratch {
            Some(server) => load(server, access, &snapshot.snapshot, &file)
                .await
                .map(|(sha, rows, counted)| (sha, rows, Some(counted))),
            None => dump(access, &snapshot.snapshot, &file, None)
                .await
                .map(|(sha, rows)| (sha, rows, None)),
        };
        match streamed {
            Ok((sha, rows, counted)) if sha == db.sha256 && rows == db.tables => match counted {
                Some(c) if non_empty(&c) == non_empty(&db.tables) => {
                    let total: u64 = c.values().sum();
                    checked.push(format!(
                        "{} tables, {total} rows loaded into a scratch database",
                        c.len()
                    ));
                }
                Some(c) => {
                    return Ok(Verdict::Failed(format!(
                        "the loaded database differs from the manifest (rows {c:?})"
                    )));
                }
                None => checked.push(format!("{} tables", rows.len())),
            },
            Ok((sha, rows, _)) => {
                return Ok(Verdict::Failed(format!(
                    "the dump differs from the manifest (SHA-256 {sha}, rows {rows:?})"
                )));
            }
            Err(e) => return Ok(Verdict::Failed(format!("the dump cannot be read: {e}"))),
        }
    }
    if let Err(e) = restic.run(access, &["check", "--read-data"]).await {
        return Ok(Verdict::Failed(format!(
            "the repository's data check failed: {e}"
        )));
    }
    checked.push("repository data read".into());
    Ok(Verdict::Passed(checked.join(", ")))
}
