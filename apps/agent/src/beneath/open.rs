//! Opening directories one component at a time without following symlinks, and looking at an
//! entry itself (a symlink is described, never followed).

use super::{Dir, checked, io, unsafe_path};
use chom_agent_protocol::{AgentError, ErrorCode};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::path::Path;

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
}
