//! The manifest of a site's tree: every regular file's path, size and SHA-256, read through
//! descriptors opened beneath the site directory one component at a time without following
//! anything (the tenant may swap a directory for a symlink while the walk runs: the walk then
//! meets a symlink and skips it, it never reads outside the tree).

use chom_agent_protocol::backup::ManifestFile;
use chom_agent_protocol::{AgentError, ErrorCode};
use rustix::fs::{Dir as Entries, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::fd::{BorrowedFd, OwnedFd};

fn io(path: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorCode::Io, format!("{path}: {e}"))
}

/// SHA-256 (hex) and size of everything `reader` gives.
pub(in crate::commands::backup) fn sha256(
    mut reader: impl std::io::Read,
) -> std::io::Result<(String, u64)> {
    let mut hashing = Sha256Writer::default();
    std::io::copy(&mut reader, &mut hashing)?;
    Ok(hashing.finish())
}

/// A writer that hashes what it is given (a file read, or dumped from the repository).
pub(in crate::commands::backup) struct Sha256Writer {
    ctx: ring::digest::Context,
    size: u64,
}

impl Default for Sha256Writer {
    fn default() -> Self {
        Self {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        }
    }
}

impl Sha256Writer {
    /// SHA-256 (hex) and size of everything written.
    pub(in crate::commands::backup) fn finish(self) -> (String, u64) {
        (
            data_encoding::HEXLOWER.encode(self.ctx.finish().as_ref()),
            self.size,
        )
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.ctx.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The regular files beneath `root` (paths relative to it, sorted), leaving out the
/// directories `exclude` names (relative paths).
///
/// # Errors
/// `IO`.
pub(super) fn walk(
    root: BorrowedFd<'_>,
    exclude: &BTreeSet<String>,
) -> Result<Vec<ManifestFile>, AgentError> {
    let mut out = Vec::new();
    let dup = rustix::io::fcntl_dupfd_cloexec(root, 0).map_err(|e| io(".", e))?;
    walk_dir(dup, "", exclude, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk_dir(
    dir: OwnedFd,
    prefix: &str,
    exclude: &BTreeSet<String>,
    out: &mut Vec<ManifestFile>,
) -> Result<(), AgentError> {
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
                if exclude.contains(&rel) {
                    continue;
                }
                match rustix::fs::openat(
                    &dir,
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => walk_dir(fd, &rel, exclude, out)?,
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
                let file = std::fs::File::from(fd);
                if !file.metadata().map_err(|e| io(&rel, e))?.is_file() {
                    continue;
                }
                let (sha256, size) = sha256(file.take(u64::MAX)).map_err(|e| io(&rel, e))?;
                out.push(ManifestFile {
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
        let files = walk(root.as_fd(), &exclude).unwrap();
        assert_eq!(
            files,
            vec![ManifestFile {
                path: "public/index.php".into(),
                size: 5,
                sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
            }]
        );
    }
}
