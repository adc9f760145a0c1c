//! The manifest of a site's tree: every regular file's path, size and SHA-256, read through
//! descriptors opened beneath the site directory one component at a time without following
//! anything (the tenant may swap a directory for a symlink while the walk runs: the walk then
//! meets a symlink and skips it, it never reads outside the tree).
//!
//! A file whose identity — device, inode, size, modification and change times, read from the
//! descriptor opened for it — is the one the previous backup hashed is not read again: its
//! SHA-256 comes from [`Hashes`], kept by the agent (root's, never the tenant's). The change
//! time cannot be set by the tenant, so a rewritten file, even with its old size and
//! modification time put back, is read again. A file changed in the last seconds before the
//! walk is never remembered (a change within the clock's granularity could otherwise go
//! unseen), as git does for its index.

use chom_agent_protocol::backup::ManifestFile;
use chom_agent_protocol::{AgentError, ErrorCode};
use rustix::fs::{Dir as Entries, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::os::fd::{BorrowedFd, OwnedFd};

fn io(path: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorCode::Io, format!("{path}: {e}"))
}

/// A file as it was when hashed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Known {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    sha256: String,
}

/// The SHA-256s of the files of a site's last backup, by path.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Hashes(HashMap<String, Known>);

impl Hashes {
    /// What `path` holds (none when missing or unreadable: every file is then read).
    pub(super) fn load(path: &std::path::Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Replaces `path` with these (atomically).
    ///
    /// # Errors
    /// `IO`.
    pub(super) fn save(&self, path: &std::path::Path) -> Result<(), AgentError> {
        let text = serde_json::to_string(self)
            .map_err(|e| AgentError::new(ErrorCode::Internal, e.to_string()))?;
        crate::fsx::write_atomic(path, &text).map(drop)
    }
}

/// What a walk read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Read {
    /// Files read and hashed.
    pub hashed: u64,
    /// Files whose SHA-256 was known.
    pub known: u64,
}

/// Files changed this recently before the walk are not remembered.
const SETTLED_NS: i128 = 2_000_000_000;

fn nanos(secs: i64, nsec: impl Into<i128>) -> i128 {
    i128::from(secs) * 1_000_000_000 + nsec.into()
}

/// SHA-256 (hex) and size of everything `reader` gives.
pub(super) fn sha256(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        ctx.update(&buf[..n]);
    }
    Ok((data_encoding::HEXLOWER.encode(ctx.finish().as_ref()), size))
}

/// A walk's state: what was known, what is learnt, what was read.
struct Walk<'a> {
    exclude: &'a BTreeSet<String>,
    known: &'a Hashes,
    learnt: Hashes,
    read: Read,
    /// Files changed after this are not remembered.
    settled_before: i128,
    out: Vec<ManifestFile>,
}

/// The regular files beneath `root` (paths relative to it, sorted), leaving out the
/// directories `exclude` names (relative paths); a file `known` holds unchanged is not read
/// again. Also the hashes to remember for the next walk, and what was read.
///
/// # Errors
/// `IO`.
pub(super) fn walk(
    root: BorrowedFd<'_>,
    exclude: &BTreeSet<String>,
    known: &Hashes,
) -> Result<(Vec<ManifestFile>, Hashes, Read), AgentError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let mut walk = Walk {
        exclude,
        known,
        learnt: Hashes::default(),
        read: Read::default(),
        settled_before: now - SETTLED_NS,
        out: Vec::new(),
    };
    let dup = rustix::io::fcntl_dupfd_cloexec(root, 0).map_err(|e| io(".", e))?;
    walk_dir(dup, "", &mut walk)?;
    walk.out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((walk.out, walk.learnt, walk.read))
}

/// The SHA-256 of the open regular file `file` at `rel`: remembered when its identity is
/// the one `walk.known` holds, else read.
fn file_sha256(
    walk: &mut Walk<'_>,
    rel: &str,
    file: std::fs::File,
    st: &rustix::fs::Stat,
) -> Result<(String, u64), AgentError> {
    let seen = Known {
        dev: st.st_dev,
        ino: st.st_ino,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: nanos(st.st_mtime, st.st_mtime_nsec),
        ctime_ns: nanos(st.st_ctime, st.st_ctime_nsec),
        sha256: String::new(),
    };
    let (sha256, size) = match walk.known.0.get(rel) {
        Some(k)
            if Known {
                sha256: k.sha256.clone(),
                ..seen.clone()
            } == *k =>
        {
            walk.read.known += 1;
            (k.sha256.clone(), seen.size)
        }
        _ => {
            walk.read.hashed += 1;
            sha256(file.take(u64::MAX)).map_err(|e| io(rel, e))?
        }
    };
    // Remembered only when settled, and when what was read is what was stat-ed.
    if seen.ctime_ns < walk.settled_before
        && seen.mtime_ns < walk.settled_before
        && size == seen.size
    {
        walk.learnt.0.insert(
            rel.to_owned(),
            Known {
                sha256: sha256.clone(),
                ..seen
            },
        );
    }
    Ok((sha256, size))
}

fn walk_dir(dir: OwnedFd, prefix: &str, walk: &mut Walk<'_>) -> Result<(), AgentError> {
    let here = if prefix.is_empty() { "." } else { prefix };
    let mut entries = Entries::read_from(&dir).map_err(|e| io(here, e))?;
    let mut names = Vec::new();
    for entry in entries.by_ref() {
        let entry = entry.map_err(|e| io(here, e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        names.push((entry.file_name().to_owned(), entry.file_type()));
    }
    for (name, kind) in names {
        let text = name.to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            text.clone()
        } else {
            format!("{prefix}/{text}")
        };
        let kind = if kind == FileType::Unknown {
            match rustix::fs::statat(&dir, name.as_c_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io(&rel, e)),
            }
        } else {
            kind
        };
        match kind {
            FileType::Directory => {
                if walk.exclude.contains(&rel) {
                    continue;
                }
                match rustix::fs::openat(
                    &dir,
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => walk_dir(fd, &rel, walk)?,
                    // Swapped for something else meanwhile: not a directory of the tree now.
                    Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => {}
                    Err(e) => return Err(io(&rel, e)),
                }
            }
            FileType::RegularFile => {
                let fd = match rustix::fs::openat(
                    &dir,
                    name.as_c_str(),
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::NONBLOCK
                        | OFlags::NOCTTY
                        | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => continue,
                    Err(e) => return Err(io(&rel, e)),
                };
                let st = rustix::fs::fstat(&fd).map_err(|e| io(&rel, e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    continue;
                }
                let (sha256, size) = file_sha256(walk, &rel, std::fs::File::from(fd), &st)?;
                walk.out.push(ManifestFile {
                    path: rel,
                    size,
                    sha256,
                });
            }
            // Symlinks are kept by restic as links; devices, FIFOs and sockets are not data.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::symlink;

    #[test]
    fn the_walk_hashes_regular_files_and_follows_nothing() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "root's").unwrap();
        let site = tempfile::tempdir().unwrap();
        let p = site.path();
        std::fs::create_dir_all(p.join("public/wp-content/cache")).unwrap();
        std::fs::write(p.join("public/index.php"), "hello").unwrap();
        std::fs::write(p.join("public/wp-content/cache/page"), "cached").unwrap();
        symlink(outside.path(), p.join("public/escape")).unwrap();
        symlink(outside.path().join("secret"), p.join("public/secret")).unwrap();
        let root = std::fs::File::open(p).unwrap();
        let exclude = BTreeSet::from(["public/wp-content/cache".to_owned()]);
        let (files, _, _) = walk(root.as_fd(), &exclude, &Hashes::default()).unwrap();
        assert_eq!(
            files,
            vec![ManifestFile {
                path: "public/index.php".into(),
                size: 5,
                sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
            }]
        );
    }

    /// A second walk reads only what changed: an unchanged file's SHA-256 is remembered, a
    /// rewritten one (same size, its modification time put back) is read again, and a file
    /// changed moments before the walk is never remembered.
    #[test]
    fn a_later_walk_reads_only_what_changed() {
        use std::os::unix::fs::MetadataExt as _;
        let site = tempfile::tempdir().unwrap();
        let p = site.path();
        for i in 0..10 {
            std::fs::write(p.join(format!("f{i}")), format!("file {i}")).unwrap();
        }
        // Old enough to be remembered.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for i in 0..10 {
            let f = std::fs::File::options()
                .write(true)
                .open(p.join(format!("f{i}")))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        let root = std::fs::File::open(p).unwrap();
        let none = BTreeSet::new();
        let (first, learnt, read) = walk(root.as_fd(), &none, &Hashes::default()).unwrap();
        // The change times are new (the files were just written): nothing settled yet.
        assert_eq!((read.hashed, read.known), (10, 0));
        assert!(
            learnt.0.is_empty(),
            "nothing changed moments ago is remembered"
        );
        // As if the files had settled: the same identities, remembered.
        let mut settled = Hashes::default();
        for f in &first {
            let m = std::fs::metadata(p.join(&f.path)).unwrap();
            settled.0.insert(
                f.path.clone(),
                Known {
                    dev: m.dev(),
                    ino: m.ino(),
                    size: m.size(),
                    mtime_ns: nanos(m.mtime(), m.mtime_nsec()),
                    ctime_ns: nanos(m.ctime(), m.ctime_nsec()),
                    sha256: f.sha256.clone(),
                },
            );
        }
        // f3 rewritten with the same size, its modification time put back.
        std::fs::write(p.join("f3"), "FILE 3").unwrap();
        std::fs::File::options()
            .write(true)
            .open(p.join("f3"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (second, _, read) = walk(root.as_fd(), &none, &settled).unwrap();
        assert_eq!(
            (read.hashed, read.known),
            (1, 9),
            "only the rewritten file is read"
        );
        let f3 = second.iter().find(|f| f.path == "f3").unwrap();
        assert_eq!(f3.sha256, sha256("FILE 3".as_bytes()).unwrap().0);
        assert_ne!(
            f3.sha256,
            first.iter().find(|f| f.path == "f3").unwrap().sha256
        );
        let unchanged: Vec<_> = second.iter().filter(|f| f.path != "f3").collect();
        let before: Vec<_> = first.iter().filter(|f| f.path != "f3").collect();
        assert_eq!(unchanged, before);
    }
}
