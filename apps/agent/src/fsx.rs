//! Crash-safe file operations on root's own paths (`/etc/nginx`, `/etc/php`, the registry):
//! ensure directories, write atomically (temp file + rename). Nothing here is for a site's tree,
//! which its tenant controls: that is [`crate::beneath`]'s job.

use chom_agent_protocol::{AgentError, ErrorCode};
use std::path::Path;

fn io(path: &Path, e: std::io::Error) -> AgentError {
    AgentError::new(ErrorCode::Io, format!("{}: {e}", path.display()))
}

/// Creates `dir` and its parents if missing.
///
/// # Errors
/// `IO`.
pub fn ensure_dir(dir: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))
}

/// Writes `content` to `path` atomically: a reader sees the old or the new file, never half.
/// Returns whether the content changed.
///
/// # Errors
/// `IO`.
pub fn write_atomic(path: &Path, content: &str) -> Result<bool, AgentError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    // A fresh temporary name, created with O_CREAT | O_EXCL (which never follows a symlink):
    // nothing planted at a predictable name can redirect the write.
    let suffix: String = rand::Rng::sample_iter(rand::rng(), &rand::distr::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    // In the same directory (for the rename), and short whatever the target's name length.
    let tmp = path.with_file_name(format!(".chom-tmp-{suffix}"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, content.as_bytes()))
        .map_err(|e| io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| true)
}

/// Removes a file if present.
///
/// # Errors
/// `IO` (other than "not found").
pub fn remove_file(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

/// Removes a directory tree if present.
///
/// # Errors
/// `IO` (other than "not found").
pub fn remove_dir_all(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

/// Points `link` at `target` (replacing whatever is there).
///
/// # Errors
/// `IO`.
pub fn symlink(target: &Path, link: &Path) -> Result<(), AgentError> {
    if let Some(dir) = link.parent() {
        ensure_dir(dir)?;
    }
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    remove_file(link)?;
    std::os::unix::fs::symlink(target, link).map_err(|e| io(link, e))
}
