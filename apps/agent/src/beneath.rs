//! File operations inside a site's tree, which its tenant controls: the site user owns its
//! directory and can plant a symlink (or a FIFO, or a hard link) anywhere in it at any moment,
//! while the agent runs as root. So nothing here resolves a path by name:
//!
//! - a directory is opened one component at a time, relative to its parent's descriptor, with
//!   `O_NOFOLLOW | O_DIRECTORY` (a symlink answers `UNSAFE_PATH`, never followed); the names are
//!   the agent's own single components (no `/`, `.`, `..`), so everything stays beneath the
//!   directory it started from;
//! - files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` under a random temporary name, then
//!   renamed over the target with `renameat` (which replaces a planted symlink, never follows
//!   it);
//! - ownership and modes are set with `fchown`/`fchmod` on the descriptor the agent opened (or
//!   created) itself, never on a name the tenant could have replaced in between;
//! - existing files are read only when they are regular files (`O_NOFOLLOW | O_NONBLOCK`, so a
//!   FIFO cannot hang the agent), and one with several links is never trusted (rewritten);
//! - entries are removed with `unlinkat` (removes a symlink itself, never its target).

use chom_agent_protocol::{AgentError, ErrorCode};
use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The owner (uid, gid) and mode the agent gives what it makes. `owner: None` leaves the owner
/// alone (sandbox mode: there are no site users).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    /// `(uid, gid)`, or `None` to keep the agent's own.
    pub owner: Option<(u32, u32)>,
    /// Permission bits.
    pub mode: u32,
}

impl Perm {
    /// `mode`, owned by `owner`.
    pub fn new(owner: Option<(u32, u32)>, mode: u32) -> Self {
        Self { owner, mode }
    }
}

/// A directory opened without following symlinks; every operation is relative to its
/// descriptor.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn io(path: &Path, e: impl Into<std::io::Error>) -> AgentError {
    AgentError::new(ErrorCode::Io, format!("{}: {}", path.display(), e.into()))
}

/// The refusal for a path the tenant has tampered with.
pub fn unsafe_path(path: &Path, what: &str) -> AgentError {
    AgentError::new(
        ErrorCode::UnsafePath,
        format!(
            "{} is {what}: the agent runs as root and does not follow the site's own links; \
             nothing was done there (remove it and re-run)",
            path.display()
        ),
    )
}

fn checked(path: &Path, name: &str) -> Result<(), AgentError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(AgentError::new(
            ErrorCode::Internal,
            format!("{}: {name:?} is not one path component", path.display()),
        ));
    }
    Ok(())
}

fn random_suffix() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// Sets owner then mode on a descriptor the agent opened itself.
fn apply(fd: impl AsFd, perm: Perm, path: &Path) -> Result<(), AgentError> {
    if let Some((uid, gid)) = perm.owner {
        rustix::fs::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| io(path, e))?;
    }
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(perm.mode)).map_err(|e| io(path, e))
}

impl Dir {
    /// Opens (creating it if missing) a directory only root can change, such as
    /// `/var/www/sites`: its path is root's own, so it is resolved as usual.
    ///
    /// # Errors
    /// `IO`.
    pub fn open_trusted(path: &Path) -> Result<Self, AgentError> {
        std::fs::create_dir_all(path).map_err(|e| io(path, e))?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(path, e))?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path (for messages and answers only: never used to reach the directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `rel` (`a/b/c`) beneath this one, one component at a time without
    /// following symlinks; with `create: Some(mode)` the missing components are made (with
    /// `mode`, owned by root until the caller sets them). `Ok(None)` when it is missing and
    /// `create` is `None`.
    ///
    /// # Errors
    /// `UNSAFE_PATH` when a component is a symlink or not a directory; `IO`.
    pub fn open_dir(&self, rel: &str, create: Option<u32>) -> Result<Option<Dir>, AgentError> {
        let mut current: Option<Dir> = None;
        for name in rel.split('/') {
            let parent = current.as_ref().unwrap_or(self);
            checked(&parent.path, name)?;
            let path = parent.path.join(name);
            if let Some(mode) = create {
                match rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(mode)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
            let fd = match rustix::fs::openat(
                &parent.fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create.is_none() => return Ok(None),
                Err(Errno::LOOP) => return Err(unsafe_path(&path, "a symbolic link")),
                Err(Errno::NOTDIR) => return Err(unsafe_path(&path, "not a directory")),
                Err(e) => return Err(io(&path, e)),
            };
            current = Some(Dir { fd, path });
        }
        current.map(Some).ok_or_else(|| {
            AgentError::new(
                ErrorCode::Internal,
                format!("empty path under {}", self.path.display()),
            )
        })
    }

    /// [`Dir::open_dir`] with `create`, which always yields the directory.
    ///
    /// # Errors
    /// `UNSAFE_PATH` when a component is a symlink or not a directory; `IO`.
    pub fn ensure_dir(&self, rel: &str, mode: u32) -> Result<Dir, AgentError> {
        self.open_dir(rel, Some(mode))?.ok_or_else(|| {
            AgentError::new(
                ErrorCode::Internal,
                format!("{} was not made", self.path.join(rel).display()),
            )
        })
    }

    /// The entry `name` itself (a symlink is described, not followed); `None` when absent.
    ///
    /// # Errors
    /// `IO`.
    pub fn entry(&self, name: &str) -> Result<Option<std::fs::Metadata>, AgentError> {
        checked(&self.path, name)?;
        let path = self.path.join(name);
        match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => File::from(fd)
                .metadata()
                .map(Some)
                .map_err(|e| io(&path, e)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Whether `name` exists (as anything, a dangling symlink included).
    ///
    /// # Errors
    /// `IO`.
    pub fn exists(&self, name: &str) -> Result<bool, AgentError> {
        self.entry(name).map(|m| m.is_some())
    }

    /// Opens `name` for reading if it is a regular file; `None` for anything else (absent, a
    /// symlink, a FIFO, a device, a directory).
    fn open_regular(&self, name: &str) -> Result<Option<File>, AgentError> {
        checked(&self.path, name)?;
        let path = self.path.join(name);
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io(&path, e))?;
        Ok(meta.is_file().then_some(file))
    }

    /// Creates `name`, which must not exist (not even as a symlink), for writing, with `mode`.
    ///
    /// # Errors
    /// `IO` (`AlreadyExists` in the message when it exists).
    pub fn create_new(&self, name: &str, mode: u32) -> Result<File, AgentError> {
        self.try_create_new(name, mode)
            .map_err(|e| io(&self.path.join(name), e))
    }

    fn try_create_new(&self, name: &str, mode: u32) -> Result<File, Errno> {
        if checked(&self.path, name).is_err() {
            return Err(Errno::INVAL);
        }
        rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map(File::from)
    }

    /// Creates the first free name of `candidates` (`O_EXCL`: an existing entry, a planted
    /// symlink included, is skipped, never opened). Returns the name and the file.
    ///
    /// # Errors
    /// `UNSAFE_PATH` when every candidate exists; `IO`.
    pub fn create_first_free(
        &self,
        candidates: impl IntoIterator<Item = String>,
        mode: u32,
    ) -> Result<(String, File), AgentError> {
        for name in candidates {
            match self.try_create_new(&name, mode) {
                Ok(file) => return Ok((name, file)),
                Err(Errno::EXIST) => {}
                Err(e) => return Err(io(&self.path.join(&name), e)),
            }
        }
        Err(unsafe_path(
            &self.path,
            "full of entries with the names the agent would use",
        ))
    }

    /// Writes `content` to `name` atomically (a reader sees the old file or the new one), with
    /// `perm` set on the new file's descriptor before it takes the name. Whatever was at `name`
    /// (a symlink, a hard link) is replaced, never followed. Returns whether anything changed.
    ///
    /// # Errors
    /// `IO` (for instance when `name` is a directory).
    pub fn write_atomic(&self, name: &str, content: &str, perm: Perm) -> Result<bool, AgentError> {
        let path = self.path.join(name);
        if let Some(mut old) = self.open_regular(name)? {
            let meta = old.metadata().map_err(|e| io(&path, e))?;
            let same_perm = meta.nlink() == 1
                && meta.mode() & 0o7777 == perm.mode
                && perm
                    .owner
                    .is_none_or(|(u, g)| meta.uid() == u && meta.gid() == g);
            if same_perm && meta.len() == content.len() as u64 {
                let mut text = String::new();
                if old.read_to_string(&mut text).is_ok() && text == content {
                    return Ok(false);
                }
            }
        }
        let tmp = format!(".chom-tmp-{}", random_suffix());
        let mut file = self.create_new(&tmp, 0o600)?;
        let written = file
            .write_all(content.as_bytes())
            .map_err(|e| io(&path, e))
            .and_then(|()| apply(&file, perm, &path))
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)
                    .map_err(|e| io(&path, e))
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        written.map(|()| true)
    }

    /// Sets this directory's owner (on its descriptor), keeping its mode.
    ///
    /// # Errors
    /// `IO`.
    pub fn set_owner(&self, owner: Option<(u32, u32)>) -> Result<(), AgentError> {
        if let Some((uid, gid)) = owner {
            rustix::fs::fchown(&self.fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| io(&self.path, e))?;
        }
        Ok(())
    }

    /// Sets this directory's owner and mode (on its descriptor).
    ///
    /// # Errors
    /// `IO`.
    pub fn set_perm(&self, perm: Perm) -> Result<(), AgentError> {
        apply(&self.fd, perm, &self.path)
    }

    /// Sets an open file's owner and mode (on its descriptor).
    ///
    /// # Errors
    /// `IO`.
    pub fn set_file_perm(&self, file: &File, name: &str, perm: Perm) -> Result<(), AgentError> {
        apply(file, perm, &self.path.join(name))
    }

    /// Removes the entry `name` (a symlink itself, never its target; not a directory) if present.
    ///
    /// # Errors
    /// `IO`.
    pub fn remove_file(&self, name: &str) -> Result<(), AgentError> {
        checked(&self.path, name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io(&self.path.join(name), e)),
        }
    }

    /// Removes the regular files directly in this directory last modified before `cutoff`
    /// (symlinks, directories and anything else are left alone). Returns how many went.
    ///
    /// # Errors
    /// `IO`.
    pub fn remove_stale_files(&self, cutoff: std::time::SystemTime) -> Result<u64, AgentError> {
        let entries = rustix::fs::Dir::read_from(&self.fd).map_err(|e| io(&self.path, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io(&self.path, e))?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let Some(meta) = self.entry(name)? else {
                continue;
            };
            if meta.is_file() && meta.modified().is_ok_and(|m| m < cutoff) {
                // Between the look and the removal the tenant may swap the entry: unlinkat
                // removes whatever is at the name in this directory, and follows nothing.
                self.remove_file(name)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Points the symlink `name` at `target`, replacing a symlink or an empty directory there.
    ///
    /// # Errors
    /// `UNSAFE_PATH` when something else is there; `IO`.
    pub fn symlink(&self, target: &Path, name: &str) -> Result<(), AgentError> {
        checked(&self.path, name)?;
        let path = self.path.join(name);
        if let Some(meta) = self.entry(name)? {
            if meta.file_type().is_symlink() {
                let now =
                    rustix::fs::readlinkat(&self.fd, name, Vec::new()).map_err(|e| io(&path, e))?;
                if now.as_bytes() == target.as_os_str().as_encoded_bytes() {
                    return Ok(());
                }
                self.remove_file(name)?;
            } else if meta.is_dir() {
                rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)
                    .map_err(|_| unsafe_path(&path, "a directory that is not empty"))?;
            } else {
                return Err(unsafe_path(&path, "not a symbolic link"));
            }
        }
        rustix::fs::symlinkat(target, &self.fd, name).map_err(|e| io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An outside file and directory, and a "site" whose entries point at them.
    struct Rig {
        _dir: tempfile::TempDir,
        outside: PathBuf,
        site: PathBuf,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::write(outside.join("secret.txt"), "secret").unwrap();
        std::fs::write(outside.join("dir/old.txt"), "old").unwrap();
        let site = dir.path().join("sites/a.example");
        std::fs::create_dir_all(&site).unwrap();
        Rig {
            outside,
            site,
            _dir: dir,
        }
    }

    fn state(p: &Path) -> (String, u32, u32, u32) {
        let m = std::fs::symlink_metadata(p).unwrap();
        (
            std::fs::read_to_string(p).unwrap_or_default(),
            m.uid(),
            m.gid(),
            m.permissions().mode(),
        )
    }

    /// Whether the tests run as root (they do in CI), so real ownership changes can be checked.
    fn as_root(r: &Rig) -> bool {
        std::fs::metadata(&r.site).unwrap().uid() == 0
    }

    fn open_site(r: &Rig) -> Dir {
        Dir::open_trusted(r.site.parent().unwrap())
            .unwrap()
            .open_dir("a.example", None)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn c1_a_symlinked_directory_is_refused_not_followed() {
        let r = rig();
        std::os::unix::fs::symlink(r.outside.join("dir"), r.site.join("tmp")).unwrap();
        let site = open_site(&r);
        for create in [None, Some(0o755)] {
            let e = site.open_dir("tmp", create).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnsafePath, "{e:?}");
            let e = site.open_dir("tmp/sub", create).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnsafePath, "{e:?}");
        }
        assert!(!r.outside.join("dir/sub").exists());
        // A symlink at the site itself is refused too.
        std::os::unix::fs::symlink(r.outside.join("dir"), r.site.with_file_name("b.example"))
            .unwrap();
        let sites = Dir::open_trusted(r.site.parent().unwrap()).unwrap();
        assert_eq!(
            sites.open_dir("b.example", Some(0o750)).unwrap_err().code,
            ErrorCode::UnsafePath
        );
    }

    #[test]
    fn c1_write_atomic_replaces_a_planted_symlink_and_chowns_only_its_own_file() {
        let r = rig();
        let secret = r.outside.join("secret.txt");
        std::os::unix::fs::symlink(&secret, r.site.join("wp-config.php")).unwrap();
        std::os::unix::fs::symlink(&secret, r.site.join("wp-config.chom-tmp")).unwrap();
        let before = state(&secret);
        let site = open_site(&r);
        // Real ownership when the test runs as root (it does in CI): a planted symlink must
        // not hand the target to the site's user.
        let root = as_root(&r);
        let owner = root.then_some((65_534, 65_534));
        assert!(
            site.write_atomic("wp-config.php", "<?php\n", Perm::new(owner, 0o600))
                .unwrap()
        );
        assert_eq!(state(&secret), before, "the outside file changed");
        let meta = std::fs::symlink_metadata(r.site.join("wp-config.php")).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        if root {
            assert_eq!((meta.uid(), meta.gid()), (65_534, 65_534));
        }
        assert_eq!(
            std::fs::read_to_string(r.site.join("wp-config.php")).unwrap(),
            "<?php\n"
        );
        // Converges: the same content is not rewritten.
        assert!(
            !site
                .write_atomic("wp-config.php", "<?php\n", Perm::new(owner, 0o600))
                .unwrap()
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&r.site)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("chom-tmp-")), "{names:?}");
    }

    #[test]
    fn c1_a_hard_linked_file_is_rewritten_never_rechowned() {
        let r = rig();
        let secret = r.outside.join("secret.txt");
        std::fs::write(&secret, "<?php\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::hard_link(&secret, r.site.join(".env")).unwrap();
        let before = state(&secret);
        let site = open_site(&r);
        let owner = as_root(&r).then_some((65_534, 65_534));
        site.write_atomic(".env", "<?php\n", Perm::new(owner, 0o600))
            .unwrap();
        assert_eq!(state(&secret), before);
        assert_eq!(
            std::fs::metadata(&secret).unwrap().nlink(),
            1,
            "the link was not replaced"
        );
    }

    #[test]
    fn c1_set_perm_acts_on_the_opened_directory_only() {
        let r = rig();
        std::fs::create_dir(r.site.join("public")).unwrap();
        let site = open_site(&r);
        let public = site.open_dir("public", None).unwrap().unwrap();
        // The tenant swaps the directory for a symlink after the agent opened it.
        std::fs::rename(r.site.join("public"), r.site.join("public.moved")).unwrap();
        std::os::unix::fs::symlink(r.outside.join("dir"), r.site.join("public")).unwrap();
        let before = state(&r.outside.join("dir"));
        let owner = as_root(&r).then_some((65_534, 65_534));
        public.set_perm(Perm::new(owner, 0o750)).unwrap();
        assert_eq!(state(&r.outside.join("dir")), before);
        let moved = std::fs::metadata(r.site.join("public.moved")).unwrap();
        assert_eq!(moved.permissions().mode() & 0o7777, 0o750);
    }

    #[test]
    fn c1_stale_files_are_removed_only_in_the_real_directory() {
        let r = rig();
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        let age = |p: &Path| {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(day_ago)
                .unwrap();
        };
        age(&r.outside.join("dir/old.txt"));
        age(&r.outside.join("secret.txt"));
        std::fs::create_dir(r.site.join("tmp")).unwrap();
        std::fs::write(r.site.join("tmp/stale"), "x").unwrap();
        age(&r.site.join("tmp/stale"));
        std::fs::write(r.site.join("tmp/fresh"), "y").unwrap();
        std::os::unix::fs::symlink(r.outside.join("secret.txt"), r.site.join("tmp/link")).unwrap();
        std::os::unix::fs::symlink(r.outside.join("dir"), r.site.join("tmp/dirlink")).unwrap();
        let site = open_site(&r);
        let tmp = site.open_dir("tmp", None).unwrap().unwrap();
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        assert_eq!(tmp.remove_stale_files(cutoff).unwrap(), 1);
        assert!(r.outside.join("dir/old.txt").exists() && r.outside.join("secret.txt").exists());
        assert!(!r.site.join("tmp/stale").exists() && r.site.join("tmp/fresh").exists());
        assert!(std::fs::symlink_metadata(r.site.join("tmp/link")).is_ok());
    }

    #[test]
    fn c1_create_first_free_skips_planted_symlinks() {
        let r = rig();
        let secret = r.outside.join("secret.txt");
        std::os::unix::fs::symlink(&secret, r.site.join("export_1.sql")).unwrap();
        let before = state(&secret);
        let site = open_site(&r);
        let (name, mut file) = site
            .create_first_free(
                ["export_1.sql".to_owned(), "export_1_1.sql".to_owned()],
                0o600,
            )
            .unwrap();
        assert_eq!(name, "export_1_1.sql");
        file.write_all(b"dump").unwrap();
        assert_eq!(state(&secret), before);
        assert_eq!(
            site.create_first_free(["export_1.sql".to_owned()], 0o600)
                .unwrap_err()
                .code,
            ErrorCode::UnsafePath
        );
    }

    #[test]
    fn c1_a_planted_fifo_neither_hangs_nor_survives_a_write() {
        let r = rig();
        let fifo = r.site.join(".env");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let site = open_site(&r);
        assert!(site.exists(".env").unwrap());
        site.write_atomic(".env", "A=1\n", Perm::new(None, 0o600))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "A=1\n");
    }
}
