//! A verified restore, off the server: the manifest (its SHA-256 as recorded), the files
//! restored into a scratch directory and hashed one by one, the dump streamed and hashed with
//! its rows counted per table, then `restic check --read-data`. Once the repository opened,
//! anything that does not match or cannot be read is a failed verdict, never an error.

use super::ResticCli;
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

/// Streams `restic dump <snapshot> <file>`: its SHA-256 and rows per table.
async fn dump(
    access: &RepositoryAccess,
    snapshot: &str,
    file: &str,
) -> Result<(String, BTreeMap<String, u64>), String> {
    let mut child = ResticCli::command(access, &["dump", snapshot, file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run restic: {e}"))?;
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
    }
    let done = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !done.status.success() {
        return Err(format!(
            "restic dump: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    Ok((hex(hash.finish()), rows.finish()))
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
    let tag = format!("chom-backup={backup_id}");
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
        match dump(access, &snapshot.snapshot, &format!("/{}", db.file)).await {
            Ok((sha, rows)) if sha == db.sha256 && rows == db.tables => {
                checked.push(format!("{} tables", rows.len()));
            }
            Ok((sha, rows)) => {
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
