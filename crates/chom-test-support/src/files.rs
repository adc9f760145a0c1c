//! A directory's content as digests, to compare trees byte for byte (a backup and its
//! restore), the one-byte damage the tamper tests do, and the stock `restic` on a repository.

use std::collections::BTreeMap;
use std::path::Path;

/// Every entry beneath `dir` by relative path: a regular file's SHA-256 (hex), a symlink's
/// `-> target`; directories are walked, not listed.
///
/// # Panics
/// `dir` cannot be read (a test's own directory).
#[must_use]
pub fn digests(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            let meta = path.symlink_metadata().expect("entry metadata");
            let rel = path
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_symlink() {
                let target = std::fs::read_link(&path).expect("symlink target");
                out.insert(rel, format!("-> {}", target.display()));
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).expect("readable file");
                let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
                out.insert(rel, data_encoding::HEXLOWER.encode(digest.as_ref()));
            }
        }
    }
    out
}

/// Every regular file beneath `dir`, recursively.
///
/// # Panics
/// `dir` cannot be read.
#[must_use]
pub fn regular_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Flips one bit of byte `at` of `file` (made writable first: restic leaves its files
/// read-only); returns the original content, to put back.
///
/// # Panics
/// The file cannot be read or written.
pub fn flip_byte(file: &Path, at: usize) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt as _;
    let pristine = std::fs::read(file).expect("readable file");
    let mut bytes = pristine.clone();
    bytes[at] ^= 0x40;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(file, &bytes).expect("writable file");
    pristine
}

/// The stock `restic` (JSON output, no cache) on the repository at `location` with
/// `password`, as a customer without CHOM would run it.
///
/// # Panics
/// `restic` is not installed (`cargo xtask services` installs it).
#[must_use]
pub fn restic(location: &str, password: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("restic")
        .args(["--no-cache", "--json"])
        .args(args)
        .env("RESTIC_REPOSITORY", location)
        .env("RESTIC_PASSWORD", password)
        .output()
        .expect("restic runs (cargo xtask services installs it)")
}
