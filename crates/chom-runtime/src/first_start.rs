//! State created on first start (the application key next to the SQLite database, the control
//! plane's SSH key pair), safe when several processes start at once on an empty directory:
//! `chom-api` and `chom-worker` on a fresh install.
//!
//! A candidate is written whole under a private temporary name in the target's directory, then
//! hard-linked to the final name. `link(2)` never replaces an existing name, so exactly one
//! candidate wins; the others discard theirs and read the winner's. Nobody reads a half-written
//! file, nothing is overwritten, and no process fails because another one was faster.

use anyhow::Context as _;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A hidden name in `path`'s directory that no other process uses.
fn temporary(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    parent(path).join(format!(".{name}.{what}.{}", uuid::Uuid::new_v4().simple()))
}

/// Creates `dir` and its missing parents, 0700 (an existing directory keeps its mode).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Gives `candidate` the name `path` unless `path` exists: `true` when this call did.
fn publish(candidate: &Path, path: &Path) -> std::io::Result<bool> {
    match std::fs::hard_link(candidate, path) {
        Ok(()) => {
            // Durable before anyone relies on it (best effort: not every filesystem can).
            if let Ok(dir) = std::fs::File::open(parent(path)) {
                let _ = dir.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The content of `path`; if it does not exist, it is created (mode 0600) with `content`
/// first, unless another process creates it at the same moment, whose content is returned.
/// The flag says whether this call created it.
///
/// # Errors
/// The file cannot be read or created.
pub fn read_or_create(path: &Path, content: &[u8]) -> std::io::Result<(Vec<u8>, bool)> {
    match std::fs::read(path) {
        Ok(existing) => return Ok((existing, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    private_dir(parent(path))?;
    let candidate = temporary(path, "new");
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)?;
        f.write_all(content)?;
        f.sync_all()?;
        publish(&candidate, path)
    })();
    let _ = std::fs::remove_file(&candidate);
    let created = written?;
    Ok((std::fs::read(path)?, created))
}

/// `key` + `.pub`, as ssh-keygen names the public half.
fn public_path(key: &Path) -> PathBuf {
    let mut name: OsString = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The SSH key pair at `key` and `key.pub`: generated with `ssh-keygen` (ed25519, no
/// passphrase, private half 0600) unless the private key exists. `ssh-keygen` writes into a
/// private directory of its own; the private half is linked into place (the winner of a race
/// then moves its public half next to it, the others drop theirs). A missing public half of an
/// existing key is derived from it. The flag says whether this call generated the key.
///
/// # Errors
/// `ssh-keygen` is missing or fails; the directory is not writable.
pub fn ssh_key_pair(key: &Path, comment: &str) -> anyhow::Result<bool> {
    let mut generated = false;
    if !key.exists() {
        let dir = parent(key);
        private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let work = temporary(key, "keygen");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&work)
            .with_context(|| format!("cannot create {}", work.display()))?;
        let result = generate_into_place(&work, key, comment);
        let _ = std::fs::remove_dir_all(&work);
        generated = result?;
    }
    if let Err(e) = ensure_public_half(key) {
        tracing::warn!(key = %key.display(), error = %format!("{e:#}"), "could not write the public half of the SSH key");
    }
    Ok(generated)
}

fn generate_into_place(work: &Path, key: &Path, comment: &str) -> anyhow::Result<bool> {
    let candidate = work.join("id");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&candidate)
        .stdin(Stdio::null())
        .status()
        .context("running ssh-keygen")?;
    anyhow::ensure!(status.success(), "ssh-keygen failed ({status})");
    if !publish(&candidate, key).with_context(|| format!("cannot create {}", key.display()))? {
        return Ok(false);
    }
    // Only the winner gets here: its public half replaces any stale one.
    std::fs::rename(public_path(&candidate), public_path(key))
        .with_context(|| format!("cannot create {}", public_path(key).display()))?;
    Ok(true)
}

fn ensure_public_half(key: &Path) -> anyhow::Result<()> {
    let public = public_path(key);
    if public.exists() {
        return Ok(());
    }
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(key)
        .stdin(Stdio::null())
        .output()
        .context("running ssh-keygen -y")?;
    anyhow::ensure!(
        out.status.success(),
        "ssh-keygen -y failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let candidate = temporary(&public, "new");
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&candidate)?;
        f.write_all(&out.stdout)?;
        f.sync_all()?;
        // Whoever renames last writes the same bytes: the public half of the one private key.
        std::fs::rename(&candidate, &public)
    })();
    let _ = std::fs::remove_file(&candidate);
    written.with_context(|| format!("cannot create {}", public.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_first_content_wins_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/secret.key");
        assert_eq!(
            read_or_create(&path, b"one").unwrap(),
            (b"one".to_vec(), true)
        );
        assert_eq!(
            read_or_create(&path, b"two").unwrap(),
            (b"one".to_vec(), false)
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.key")]);
    }

    #[test]
    fn racing_writers_all_read_one_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let seen: Vec<(Vec<u8>, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || read_or_create(path, format!("{i}").as_bytes()).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(seen.iter().filter(|(_, created)| *created).count(), 1);
        let winner = std::fs::read(&path).unwrap();
        assert!(seen.iter().all(|(c, _)| *c == winner));
    }

    #[test]
    fn a_key_pair_is_generated_once_and_its_public_half_restored() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ssh/id_ed25519");
        let generated: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| ssh_key_pair(&key, "test").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(generated.iter().filter(|g| **g).count(), 1);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let public = std::fs::read_to_string(public_path(&key)).unwrap();
        std::fs::remove_file(public_path(&key)).unwrap();
        assert!(!ssh_key_pair(&key, "test").unwrap());
        let restored = std::fs::read_to_string(public_path(&key)).unwrap();
        let first_two = |t: &str| t.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(first_two(&public), first_two(&restored));
        let names: Vec<_> = std::fs::read_dir(key.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
