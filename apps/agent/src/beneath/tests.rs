//! Tests (C1): a tenant's planted symlinks, hard links and FIFOs are never followed, re-owned
//! or hung on.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

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
    std::os::unix::fs::symlink(r.outside.join("dir"), r.site.with_file_name("b.example")).unwrap();
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
