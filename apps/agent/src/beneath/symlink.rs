//! Placing the agent's own symlinks, replacing only a symlink or an empty directory.

use super::{Dir, checked, io, unsafe_path};
use chom_agent_protocol::AgentError;
use rustix::fs::AtFlags;
use std::path::Path;

impl Dir {
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
