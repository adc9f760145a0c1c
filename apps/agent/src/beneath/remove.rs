//! Removing entries with `unlinkat` (a symlink itself, never its target), one by name or the
//! stale regular files of a directory.

use super::{Dir, checked, io};
use chom_agent_protocol::AgentError;
use rustix::fs::AtFlags;
use rustix::io::Errno;

impl Dir {
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
}
