//! Where repositories are kept ([`Storage`]), and the default: on disk, in restic's local
//! layout (`config`, `keys/`, `locks/`, `snapshots/`, `index/`, `data/00`…`data/ff`), so the
//! directory can be copied and opened by `restic -r <dir>`.
//!
//! Every upload is first spooled to a temporary file, its size bounded and its SHA-256
//! checked against its name, then stored once: on disk it is linked under its final name,
//! which fails if the name exists, so nothing is ever overwritten, even by two racing uploads.

use crate::path::{Kind, Target};
use crate::spool_file::SpoolFile;
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt as _};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// A file's content as it is read.
pub(crate) type ByteStream = BoxStream<'static, std::io::Result<actix_web::web::Bytes>>;

/// Where the repositories' files are kept. Keys are `<repo>/<path in restic's layout>`.
#[async_trait]
pub(crate) trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// Makes `repo` (again: nothing happens to an existing one).
    async fn create(&self, repo: &str) -> std::io::Result<()>;
    /// Whether `repo` was made.
    async fn has_repository(&self, repo: &str) -> std::io::Result<bool>;
    /// The files of one kind: `(name, size)`, sorted, only finished ones.
    async fn list(&self, repo: &str, kind: Kind) -> std::io::Result<Vec<(String, u64)>>;
    /// The size of the file at `key`; `None` when there is none.
    async fn size(&self, key: &str) -> std::io::Result<Option<u64>>;
    /// `len` bytes of `key` from `start` (within its size).
    async fn read(&self, key: &str, start: u64, len: u64) -> std::io::Result<ByteStream>;
    /// Where an upload for `key` is spooled before [`Storage::put_once`].
    fn spool_dir(&self, key: &str) -> PathBuf;
    /// Stores the checked upload `spooled` (`size` bytes) at `key`, unless `key` exists.
    async fn put_once(&self, key: &str, spooled: &Path, size: u64) -> Result<(), SaveError>;
    /// Removes `key`; `false` when there was nothing.
    async fn remove(&self, key: &str) -> std::io::Result<bool>;
}

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

/// The key of `target` in `repo` (`None` for the repository and listings).
pub(crate) fn key(repo: &str, target: &Target) -> Option<String> {
    match target {
        Target::Config => Some(format!("{repo}/config")),
        Target::File(Kind::Data, id) => Some(format!("{repo}/data/{}/{id}", &id[..2])),
        Target::File(kind, id) => Some(format!("{repo}/{}/{id}", kind.dir())),
        Target::Repository | Target::List(_) => None,
    }
}

/// Repositories in directories under a root.
#[derive(Debug)]
pub(crate) struct Disk {
    root: PathBuf,
}

impl Disk {
    /// Repositories under `root`. A thread sweeps away the uploads a crash left behind
    /// ([`sweep_leftovers`]): the ones last written before now, less [`SWEEP_MARGIN`], so
    /// none of this server's own.
    pub(crate) fn new(root: PathBuf) -> Self {
        let swept = root.clone();
        let before = std::time::SystemTime::now()
            .checked_sub(SWEEP_MARGIN)
            .unwrap_or(std::time::UNIX_EPOCH);
        let started = std::thread::Builder::new()
            .name("spool-sweep".into())
            .spawn(move || {
                let (removed, failed) = sweep_leftovers(&swept, before);
                if removed > 0 {
                    tracing::info!(removed, "uploads left by a crash removed");
                }
                for e in failed {
                    tracing::warn!(error = %e, "sweeping the uploads left by a crash");
                }
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "the sweep of the uploads left by a crash did not start");
        }
        Self { root }
    }
}

/// How much older than the storage's start a spooled upload must be for the sweep: a file's
/// time comes from a coarser clock than `SystemTime::now` (and may have whole seconds only).
const SWEEP_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `name` is a spooled upload's (`.<name>.<nonce>.upload`, [`spool`]): the name a
/// restic file or `config`, the nonce 16 hex digits.
fn is_spooled(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".upload"))
    else {
        return false;
    };
    let Some((file, nonce)) = inner.rsplit_once('.') else {
        return false;
    };
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex(nonce, 16) && (file == "config" || hex(file, 64))
}

/// Removes, from every repository under `root`, the spooled uploads last written before
/// `before`: the ones a crash left, each as large as a pack, which nothing else would ever
/// remove. Only restic's directories are looked in (the repository's own, `keys`, `locks`,
/// `snapshots`, `index`, `data/00`…`data/ff`), never through a symbolic link. Returns how many
/// went, and what failed: a failure skips one file or directory, not the rest; what vanished
/// meanwhile (an upload that ended) is no failure.
pub(crate) fn sweep_leftovers(
    root: &Path,
    before: std::time::SystemTime,
) -> (usize, Vec<std::io::Error>) {
    /// The entries of `dir`, none if it vanished; a failure to read it is kept.
    fn entries_of(dir: &Path, failed: &mut Vec<std::io::Error>) -> Vec<std::fs::DirEntry> {
        match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(Result::ok).collect(),
            Err(e) => {
                if e.kind() != ErrorKind::NotFound {
                    failed.push(naming(dir, e));
                }
                Vec::new()
            }
        }
    }
    /// The directories in `dir`. `file_type` does not follow a link: a link is not a
    /// repository's directory.
    fn dirs_in(dir: &Path, failed: &mut Vec<std::io::Error>) -> Vec<PathBuf> {
        entries_of(dir, failed)
            .into_iter()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }
    let mut failed = Vec::new();
    let mut dirs = Vec::new();
    for repo in dirs_in(root, &mut failed) {
        for dir in dirs_in(&repo, &mut failed) {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| dir.file_name().is_some_and(|n| n == k.dir()));
            match kind {
                Some(Kind::Data) => dirs.extend(dirs_in(&dir, &mut failed)),
                Some(_) => dirs.push(dir),
                None => {}
            }
        }
        dirs.push(repo);
    }
    let mut removed = 0;
    for dir in dirs {
        for entry in entries_of(&dir, &mut failed) {
            if !is_spooled(&entry.file_name().to_string_lossy()) {
                continue;
            }
            // `metadata` does not follow a link either; a file that went meanwhile is skipped.
            let old = entry
                .metadata()
                .and_then(|m| Ok(m.is_file() && m.modified()? < before));
            let gone = match old {
                Ok(true) => std::fs::remove_file(entry.path()),
                Ok(false) => continue,
                Err(e) => Err(e),
            };
            match gone {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => failed.push(naming(&entry.path(), e)),
            }
        }
    }
    (removed, failed)
}

/// `e`, its message naming `path`.
fn naming(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[async_trait]
impl Storage for Disk {
    async fn create(&self, repo: &str) -> std::io::Result<()> {
        create(&self.root, repo).await
    }

    async fn has_repository(&self, repo: &str) -> std::io::Result<bool> {
        tokio::fs::try_exists(self.root.join(repo)).await
    }

    async fn list(&self, repo: &str, kind: Kind) -> std::io::Result<Vec<(String, u64)>> {
        list(&self.root, repo, kind).await
    }

    async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        match tokio::fs::metadata(self.root.join(key)).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, key: &str, start: u64, len: u64) -> std::io::Result<ByteStream> {
        use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
        let mut f = tokio::fs::File::open(self.root.join(key)).await?;
        f.seek(std::io::SeekFrom::Start(start)).await?;
        Ok(tokio_util::io::ReaderStream::new(f.take(len)).boxed())
    }

    fn spool_dir(&self, key: &str) -> PathBuf {
        // Beside its final name: the link that publishes it stays on one file system.
        let path = self.root.join(key);
        path.parent()
            .map_or_else(|| self.root.clone(), Path::to_path_buf)
    }

    async fn put_once(&self, key: &str, spooled: &Path, _size: u64) -> Result<(), SaveError> {
        let (tmp, path) = (spooled.to_path_buf(), self.root.join(key));
        tokio::task::spawn_blocking(move || -> Result<(), SaveError> {
            // A hard link never replaces: an existing name fails here, atomically.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(SaveError::Exists),
                Err(e) => return Err(e.into()),
            }
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            Ok(())
        })
        .await
        .map_err(|e| SaveError::Io(std::io::Error::other(e)))?
    }

    async fn remove(&self, key: &str) -> std::io::Result<bool> {
        remove(&self.root.join(key)).await
    }
}

/// Creates the repository's directories (again: nothing happens to existing ones).
async fn create(root: &Path, repo: &str) -> std::io::Result<()> {
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
async fn list(root: &Path, repo: &str, kind: Kind) -> std::io::Result<Vec<(String, u64)>> {
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

/// Chunks of a body the network side may read ahead while the spool's thread waits for a block
/// (all of an upload's blocks are with the disk's threads).
const SPOOL_QUEUE: usize = 32;

/// A spooled upload: removed from the disk when dropped (stored, refused, or the request
/// abandoned half-way).
#[derive(Debug)]
pub(crate) struct Spooled {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Spools `body` into a new temporary file in `dir` (named after `name`): at most `max`
/// bytes, and `verify` (hex) its SHA-256 when given.
pub(crate) async fn spool<S, E>(
    dir: &Path,
    name: &str,
    mut body: S,
    verify: Option<String>,
    max: u64,
) -> Result<Spooled, SaveError>
where
    S: Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if !tokio::fs::try_exists(dir).await? {
        return Err(SaveError::NoRepository);
    }
    let nonce = data_encoding::HEXLOWER.encode(&random8());
    let tmp = dir.join(format!(".{name}.{nonce}.upload"));
    // Owns the file from now on: whatever happens to this request, it goes.
    let mut spooled = Spooled {
        path: tmp.clone(),
        size: 0,
    };
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<Result<actix_web::web::Bytes, String>>(SPOOL_QUEUE);
    // The disk work runs on a blocking thread fed by the body; dropping `tx` ends it.
    let writer = {
        let tmp = tmp.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, SaveError> {
            let mut file = SpoolFile::create(&tmp)?;
            let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
            let mut size: u64 = 0;
            while let Some(chunk) = rx.blocking_recv() {
                // A body that broke off is never stored, even where no hash would tell.
                let chunk = chunk.map_err(SaveError::Body)?;
                size += chunk.len() as u64;
                if size > max {
                    return Err(SaveError::TooLarge);
                }
                hash.update(&chunk);
                file.push(&chunk)?;
            }
            if let Some(want) = verify
                && data_encoding::HEXLOWER.encode(hash.finish().as_ref()) != want
            {
                return Err(SaveError::HashMismatch);
            }
            file.finish()?;
            Ok(size)
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
    spooled.size = writer
        .await
        .map_err(|e| SaveError::Io(std::io::Error::other(e)))??;
    Ok(spooled)
}

/// Removes what a crash left in `dir`: the uploads being spooled when it happened.
pub(crate) fn clear_spool(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".upload") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
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
async fn remove(path: &Path) -> std::io::Result<bool> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, SystemTime};

    /// Writes `path` (and its directory), last modified at `at`.
    fn file_at(path: &Path, at: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path)
            .unwrap()
            .set_modified(at)
            .unwrap();
    }

    const PACK: &str = "00aa5f0ee9dfd6f4e0d0dd5ea6a1ee7b0e4b9c7f6c5bb3e5c2d0ef7c7a1e2b3c";
    const NONCE: &str = "0123456789abcdef";

    /// Leftovers in the data, keys and repository directories go; a stored file, an upload
    /// last written after `before` (one of this server's own), other dotfiles, a directory
    /// outside restic's layout, and anything behind a symbolic link (a repository or a data
    /// directory) stay.
    #[test]
    fn the_uploads_a_crash_left_are_swept_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let before = SystemTime::now();
        let (old, new) = (
            before - Duration::from_secs(3600),
            before + Duration::from_secs(1),
        );
        let repo = root.path().join("site-a");
        let left = [
            repo.join(format!("data/00/.{PACK}.{NONCE}.upload")),
            repo.join(format!("keys/.{PACK}.{NONCE}.upload")),
            repo.join(format!(".config.{NONCE}.upload")),
        ];
        let outside_upload = outside
            .path()
            .join(format!("data/00/.{PACK}.{NONCE}.upload"));
        let kept = [
            (repo.join(format!("data/00/{PACK}")), old),
            (
                repo.join(format!("data/ab/.{PACK}.fedcba9876543210.upload")),
                new,
            ),
            (repo.join("snapshots/.keep"), old),
            (repo.join(format!("snapshots/.{PACK}.upload")), old),
            (repo.join(format!("tmp/.{PACK}.{NONCE}.upload")), old),
            (outside_upload.clone(), old),
        ];
        for path in &left {
            file_at(path, old);
        }
        for (path, at) in &kept {
            file_at(path, *at);
        }
        std::os::unix::fs::symlink(outside.path(), root.path().join("site-b")).unwrap();
        std::os::unix::fs::symlink(outside_upload.parent().unwrap(), repo.join("data/01")).unwrap();

        let (removed, failed) = sweep_leftovers(root.path(), before);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(removed, left.len());
        for path in &left {
            assert!(!path.exists(), "{} was left", path.display());
        }
        for (path, _) in &kept {
            assert!(path.exists(), "{} was removed", path.display());
        }
        assert_eq!(sweep_leftovers(root.path(), before).0, 0);
        let (none, failed) = sweep_leftovers(&root.path().join("none"), before);
        assert_eq!((none, failed.len()), (0, 0));
    }

    /// Clears the immutable flag of a directory when dropped (so that the test's temporary
    /// directory can be removed whatever happens).
    struct Immutable(std::fs::File);

    impl Immutable {
        fn set(dir: &Path) -> Self {
            let file = std::fs::File::open(dir).unwrap();
            rustix::fs::ioctl_setflags(&file, rustix::fs::IFlags::IMMUTABLE)
                .expect("the immutable flag needs root (CAP_LINUX_IMMUTABLE), as in CI");
            Self(file)
        }
    }

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = rustix::fs::ioctl_setflags(&self.0, rustix::fs::IFlags::empty());
        }
    }

    /// A leftover that cannot be removed (its directory immutable: `EPERM`, even for root) is
    /// reported, and the sweep goes on with the others.
    #[test]
    fn a_leftover_that_cannot_go_does_not_stop_the_sweep() {
        let root = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let stuck = root
            .path()
            .join(format!("site-a/data/00/.{PACK}.{NONCE}.upload"));
        // Several after it, whatever order the directories are read in.
        let mut later: Vec<PathBuf> = (1..8)
            .map(|d| {
                root.path()
                    .join(format!("site-a/data/{d:02}/.{PACK}.{NONCE}.upload"))
            })
            .collect();
        later.push(
            root.path()
                .join(format!("site-b/data/00/.{PACK}.{NONCE}.upload")),
        );
        file_at(&stuck, old);
        for path in &later {
            file_at(path, old);
        }
        let _guard = Immutable::set(stuck.parent().unwrap());
        let (removed, failed) = sweep_leftovers(root.path(), SystemTime::now());
        assert_eq!(removed, later.len());
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].kind(), ErrorKind::PermissionDenied);
        assert!(stuck.exists());
        assert!(later.iter().all(|p| !p.exists()));
    }

    #[test]
    fn only_a_spooled_uploads_name_is_swept() {
        for name in [
            format!(".{PACK}.{NONCE}.upload"),
            format!(".config.{NONCE}.upload"),
        ] {
            assert!(is_spooled(&name), "{name}");
        }
        for name in [
            PACK.to_owned(),
            format!(".{PACK}.upload"),
            format!(".{PACK}.{NONCE}"),
            format!(".notes.{NONCE}.upload"),
            format!(".{PACK}.0123.upload"),
            ".upload".to_owned(),
        ] {
            assert!(!is_spooled(&name), "{name}");
        }
    }

    /// The disk storage sweeps as it starts (a leftover goes without any request).
    #[test]
    fn disk_storage_sweeps_as_it_starts() {
        let root = tempfile::tempdir().unwrap();
        let leftover = root
            .path()
            .join(format!("site-a/data/00/.{PACK}.0123456789abcdef.upload"));
        file_at(&leftover, SystemTime::now() - Duration::from_secs(60));
        let _disk = Disk::new(root.path().to_path_buf());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while leftover.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!leftover.exists(), "the leftover is still there");
    }
}
