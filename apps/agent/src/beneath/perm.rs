//! Owners and modes, set with `fchown`/`fchmod` on a descriptor the agent opened itself.

use super::{Dir, io};
use chom_agent_protocol::AgentError;
use rustix::fs::{Gid, Mode, Uid};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

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

/// Sets owner then mode on a descriptor the agent opened itself.
pub(super) fn apply(fd: impl AsFd, perm: Perm, path: &Path) -> Result<(), AgentError> {
    if let Some((uid, gid)) = perm.owner {
        rustix::fs::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| io(path, e))?;
    }
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(perm.mode)).map_err(|e| io(path, e))
}

impl Dir {
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
}
