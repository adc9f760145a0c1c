//! A repository on disk, in restic's local layout (`config`, `keys/`, `locks/`, `snapshots/`,
//! `index/`, `data/00`…`data/ff`): the directory can be copied and opened by `restic -r <dir>`.
//!
//! Files are written once: into a temporary name, flushed to disk, then linked under their
//! final name, which fails if the name exists, so nothing is ever overwritten, even by two
//! racing uploads.

use crate::path::{Kind, Target};
use futures::{Stream, StreamExt as _};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

/// Why an upload was not stored.
#[derive(Debug)]
pub(crate) enum SaveError {
    /// The name exists (restic never rewrites a file).
    Exists,
    /// The repository was never created.
    NoRepository,
    /// The content's SHA-256 is not its name.
    HashMismatch,
    /// More than the server takes in one file.
    TooLarge,
    /// The client's body failed.
    Body(String),
    /// The disk failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for SaveError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Where `target` of `repo` lives under `root` (`None` for the repository and listings).
pub(crate) fn file_path(root: &Path, repo: &str, target: &Target) -> Option<PathBuf> {
    let base = root.join(repo);
    match target {
        Target::Config => Some(base.join("config")),
        Target::File(Kind::Data, id) => Some(base.join("data").join(&id[..2]).join(id)),
        Target::File(kind, id) => Some(base.join(kind.dir()).join(id)),
        Target::Repository | Target::List(_) => None,
    }
}

/// Creates the repository's directories (again: nothing happens to existing ones).
pub(crate) async fn create(root: &Path, repo: &str) -> std::io::Result<()> {
    let base = root.join(repo);
    let mut dirs: Vec<PathBuf> = Kind::ALL.iter().map(|k| base.join(k.dir())).collect();
    dirs.extend((0..=255u8).map(|b| base.join("data").join(format!("{b:02x}"))));
    tokio::task::spawn_blocking(move || {
        for d in dirs {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The files of one kind: `(name, size)`, names only as restic gives them.
pub(crate) async fn list(
    root: &Path,
    repo: &str,
    kind: Kind,
) -> std::io::Result<Vec<(String, u64)>> {
    let dir = root.join(repo).join(kind.dir());
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let dirs = if kind == Kind::Data {
            match std::fs::read_dir(&dir) {
                Ok(rd) => rd
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect(),
                Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            }
        } else {
            vec![dir]
        };
        for d in dirs {
            let entries = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                // Temporary uploads start with a dot; only finished files are listed.
                if name.starts_with('.') {
                    continue;
                }
                let meta = e.metadata()?;
                if meta.is_file() {
                    out.push((name, meta.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    })
    .await
    .map_err(std::io::Error::other)?
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Stores `body` at `path` once: `verify` is the SHA-256 (hex) the content must have.
pub(crate) async fn save<S, E>(
    path: PathBuf,
    mut body: S,
    verify: Option<String>,
    max: u64,
) -> Result<(), SaveError>
where
    S: Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let Some(dir) = path.parent().map(Path::to_path_buf) else {
        return Err(SaveError::NoRepository);
    };
    if !tokio::fs::try_exists(&dir).await? {
        return Err(SaveError::NoRepository);
    }
    if tokio::fs::try_exists(&path).await? {
        return Err(SaveError::Exists);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = data_encoding::HEXLOWER.encode(&random8());
    let tmp = dir.join(format!(".{name}.{nonce}.upload"));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<actix_web::web::Bytes, String>>(4);
    // The disk work runs on a blocking thread fed by the body; dropping `tx` ends it.
    let writer = {
        let tmp = tmp.clone();
        let path = path.clone();
        tokio::task::spawn_blocking(move || -> Result<(), SaveError> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
            let mut size: u64 = 0;
            while let Some(chunk) = rx.blocking_recv() {
                // A body that broke off is never linked, even where no hash would tell.
                let chunk = chunk.map_err(SaveError::Body)?;
                size += chunk.len() as u64;
                if size > max {
                    return Err(SaveError::TooLarge);
                }
                hash.update(&chunk);
                file.write_all(&chunk)?;
            }
            if let Some(want) = verify
                && data_encoding::HEXLOWER.encode(hash.finish().as_ref()) != want
            {
                return Err(SaveError::HashMismatch);
            }
            file.sync_all()?;
            drop(file);
            // A hard link never replaces: an existing name fails here, atomically.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(SaveError::Exists),
                Err(e) => return Err(e.into()),
            }
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            Ok(())
        })
    };
    while let Some(chunk) = body.next().await {
        let broken = chunk.is_err();
        // A failed send means the writer stopped (too large, disk): its error says why.
        if tx.send(chunk.map_err(|e| e.to_string())).await.is_err() || broken {
            break;
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| SaveError::Io(std::io::Error::other(e)));
    let _ = tokio::fs::remove_file(&tmp).await;
    written?
}

fn random8() -> [u8; 8] {
    let mut b = [0u8; 8];
    // The nonce only keeps two uploads of one name apart; the time is a fine fallback.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b.copy_from_slice(&t.to_le_bytes()[..8]);
    }
    b
}

/// Removes `path`; `false` when there was nothing.
pub(crate) async fn remove(path: &Path) -> std::io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let dir = dir.to_path_buf();
                tokio::task::spawn_blocking(move || sync_dir(&dir))
                    .await
                    .map_err(std::io::Error::other)??;
            }
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
