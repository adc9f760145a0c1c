//! Creating and writing files: `O_CREAT | O_EXCL | O_NOFOLLOW` under a temporary name, then
//! renamed over the target; existing files read only when regular.

use super::perm::apply;
use super::{Dir, Perm, checked, io, unsafe_path};
use chom_agent_protocol::AgentError;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;

fn random_suffix() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

impl Dir {
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
}
