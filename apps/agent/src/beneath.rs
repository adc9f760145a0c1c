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
//!
//! The operations live beside this file, by what they do: opening directories and looking at
//! entries, creating and writing files, owners and modes, removing entries, placing symlinks.

mod open;
mod perm;
mod remove;
mod symlink;
#[cfg(test)]
mod tests;
mod write;

pub use perm::Perm;

use chom_agent_protocol::{AgentError, ErrorCode};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A directory opened without following symlinks; every operation is relative to its
/// descriptor.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl std::os::fd::AsFd for Dir {
    /// The descriptor, for walks that go on relative to it (never by path).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }
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
