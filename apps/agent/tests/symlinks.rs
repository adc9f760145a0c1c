//! C1: the agent runs as root, and a site's user owns its site's tree, so it can plant a
//! symlink (or a FIFO, or a hard link) at any name there. No agent command may then read,
//! write, delete or re-own anything outside the site through it: each command either works on
//! the real tree or refuses with `UNSAFE_PATH`.
//!
//! The commands that touch a site's tree, and what this test plants for each (the outside
//! tree is a file `outside/secret.txt` and a directory `outside/dir/` of files dated two days
//! back, in the test's temporary directory, next to the sandbox):
//!
//! - `site.create` (its directories, `public/index.html`, `wp-config.php` / `.env`, modes and
//!   owners): `public/index.chom-tmp`, `wp-config.php`, `wp-config.chom-tmp`, `.env.chom-tmp`
//!   → the file; `tmp`, `logs` → the directory (on a site being created and on a re-run);
//! - `app.install` (Laravel's `public/index.php`, WordPress's `public/wp-settings.php` check):
//!   `public/index.chom-tmp`, `public/wp-settings.php` → the file;
//! - `db.export` (`backups/`, `backups/export_<T>.sql`): `backups` → the directory, then
//!   `backups/export_<T>.sql` for the next seconds → the file;
//! - `cache.clear` (stale files of `tmp/`, `artisan`): `tmp` → the directory; links to the file
//!   and the directory inside a real `tmp/`; `artisan` → the file;
//! - `ssl.issue` / `ssl.renew` (the ACME webroot: now root's own `/var/www/chom-acme`; in
//!   sandbox mode a link to it from `public/.well-known/`): `public/.well-known` → the
//!   directory (`ssl.renew` refuses a site without a certificate before touching anything, so
//!   it goes through the same code as `ssl.issue` here);
//! - `site.info` (`du` of the tree, which follows no symlink): links everywhere;
//! - `site.set_php`, `site.enable`, `site.disable`, `ssl.status`: root's files only (pool,
//!   vhost, certificate), run with the links in place;
//! - `site.delete` (removes the tree, without following symlinks): links everywhere.
//!
//! The other commands (`version`, `health`, `site.list`, `db.optimize`, `stats`,
//! `security.audit`) do not touch a site's tree. After every command the whole outside tree
//! (existence, kind, content, mtime, owner, mode) is compared with its state before.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The agent under test: this build, or another one named by `CHOM_AGENT_TEST_BIN` (to show
/// that an older build fails this test).
fn bin() -> String {
    std::env::var("CHOM_AGENT_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_chom-agent").to_owned())
}

fn agent(root: &Path, command: &str, params: &Value) -> Value {
    let request = json!({"protocol": 1, "command": command, "params": params}).to_string();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(root)
        .arg(command)
        .env("CHOM_AGENT_DB_HOST", "127.0.0.1")
        .env("CHOM_AGENT_DB_USER", "root")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

type Entry = (PathBuf, String, String, i64, i64, u32, u32, u32);

/// Every entry of the outside tree: kind, content (or link target), mtime, owner and mode.
fn snapshot(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let (kind, content) = if m.is_dir() {
                stack.push(p.clone());
                ("dir", String::new())
            } else if m.file_type().is_symlink() {
                (
                    "link",
                    std::fs::read_link(&p).unwrap().display().to_string(),
                )
            } else {
                ("file", std::fs::read_to_string(&p).unwrap())
            };
            out.push((
                p.strip_prefix(dir).unwrap().to_path_buf(),
                kind.to_owned(),
                content,
                m.mtime(),
                m.mtime_nsec(),
                m.uid(),
                m.gid(),
                m.mode(),
            ));
        }
    }
    out.sort();
    out
}

/// The outside tree, and every failure seen so far (the test goes on after one, so a run
/// against an older build lists every command that escapes the site).
struct Outside {
    dir: PathBuf,
    before: Vec<Entry>,
    failures: Vec<String>,
}

impl Outside {
    fn new(base: &Path) -> Self {
        let dir = base.join("outside");
        std::fs::create_dir_all(dir.join("dir/sub")).unwrap();
        std::fs::write(dir.join("secret.txt"), "root's secret\n").unwrap();
        std::fs::write(dir.join("dir/old1.txt"), "one\n").unwrap();
        std::fs::write(dir.join("dir/old2.txt"), "two\n").unwrap();
        std::fs::write(dir.join("dir/sub/old3.txt"), "three\n").unwrap();
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        for f in [
            "secret.txt",
            "dir/old1.txt",
            "dir/old2.txt",
            "dir/sub/old3.txt",
        ] {
            std::fs::File::options()
                .write(true)
                .open(dir.join(f))
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
        let before = snapshot(&dir);
        Self {
            dir,
            before,
            failures: Vec::new(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("secret.txt")
    }

    fn directory(&self) -> PathBuf {
        self.dir.join("dir")
    }

    /// Nothing outside changed (else the change is recorded, and becomes the new baseline).
    fn untouched(&mut self, after: &str) {
        let now = snapshot(&self.dir);
        if now != self.before {
            let changed: Vec<_> = now
                .iter()
                .filter(|e| !self.before.contains(e))
                .chain(self.before.iter().filter(|e| !now.contains(e)))
                .map(|e| e.0.display().to_string())
                .collect();
            self.failures
                .push(format!("{after}: the outside tree changed at {changed:?}"));
            self.before = now;
        }
    }

    fn expect(&mut self, ok: bool, what: &str, v: &Value) {
        if !ok {
            self.failures.push(format!("{what}: {v}"));
        }
    }

    /// The answer either succeeded or refused with `UNSAFE_PATH`.
    fn ok_or_refused(&mut self, v: &Value, what: &str) -> bool {
        let ok = v["ok"] == true;
        self.expect(ok || v["error"]["code"] == "UNSAFE_PATH", what, v);
        ok
    }

    fn refused(&mut self, v: &Value, what: &str) {
        self.expect(v["error"]["code"] == "UNSAFE_PATH", what, v);
    }

    fn succeeded(&mut self, v: &Value, what: &str) {
        self.expect(v["ok"] == true, what, v);
    }
}

fn plant(target: &Path, link: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(link) {
        if m.is_dir() {
            std::fs::remove_dir_all(link).unwrap();
        } else {
            std::fs::remove_file(link).unwrap();
        }
    }
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(target, link).unwrap();
}

/// A planted link gives way to a real directory again (so what follows is the next command's
/// doing, also when an older build accepted the link).
fn unplant(link: &Path) {
    std::fs::remove_file(link).unwrap();
    std::fs::create_dir(link).unwrap();
}

#[test]
fn c1_no_command_follows_a_symlink_the_tenant_planted() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("sandbox");
    let mut out = Outside::new(base.path());
    let sites = root.join("var/www/sites");
    let pid = std::process::id();

    for kind in ["wordpress", "laravel", "html"] {
        let d = format!("c1{kind}-{pid}.example.com");
        let site = sites.join(&d);
        let params = json!({"domain": d, "site_type": kind, "php_version": "8.2"});
        let by_domain = json!({"domain": d});

        // site.create over a tree the tenant prepared (a re-provisioning, or a restore).
        std::fs::create_dir_all(site.join("public")).unwrap();
        plant(&out.file(), &site.join("public/index.chom-tmp"));
        plant(&out.file(), &site.join("wp-config.php"));
        plant(&out.file(), &site.join("wp-config.chom-tmp"));
        plant(&out.file(), &site.join(".env.chom-tmp"));
        plant(&out.directory(), &site.join("tmp"));
        let v = agent(&root, "site.create", &params);
        out.untouched(&format!("site.create ({kind}) with tmp -> outside"));
        out.ok_or_refused(&v, "site.create with tmp planted");
        unplant(&site.join("tmp"));
        plant(&out.directory(), &site.join("logs"));
        let v = agent(&root, "site.create", &params);
        out.untouched(&format!("site.create ({kind}) with logs -> outside"));
        out.ok_or_refused(&v, "site.create with logs planted");
        unplant(&site.join("logs"));
        let v = agent(&root, "site.create", &params);
        out.untouched(&format!("site.create ({kind})"));
        out.succeeded(&v, "site.create on the real tree");
        let is_dir = |p: &str| std::fs::symlink_metadata(site.join(p)).is_ok_and(|m| m.is_dir());
        let is_file = |p: &str| std::fs::symlink_metadata(site.join(p)).is_ok_and(|m| m.is_file());
        out.expect(
            is_dir("tmp") && is_dir("logs"),
            "tmp and logs are directories",
            &v,
        );
        if kind == "wordpress" {
            let private = std::fs::symlink_metadata(site.join("wp-config.php"))
                .is_ok_and(|m| m.is_file() && m.mode() & 0o777 == 0o600);
            out.expect(
                private,
                "wp-config.php is a 0600 file, not the tenant's link",
                &v,
            );
        }

        // A re-run with the welcome page gone and its old temporary name planted (the audit's
        // demo: the outside file received the page).
        std::fs::remove_file(site.join("public/index.html")).unwrap();
        plant(&out.file(), &site.join("public/index.chom-tmp"));
        plant(&out.file(), &site.join(".env.chom-tmp"));
        plant(&out.file(), &site.join("wp-config.chom-tmp"));
        let v = agent(&root, "site.create", &params);
        out.succeeded(&v, "site.create re-run");
        out.untouched(&format!("site.create ({kind}) re-run"));
        out.expect(is_file("public/index.html"), "the welcome page is back", &v);

        // app.install: Laravel's placeholder page, WordPress's core check.
        plant(&out.file(), &site.join("public/index.chom-tmp"));
        plant(&out.file(), &site.join("public/wp-settings.php"));
        let v = agent(&root, "app.install", &by_domain);
        out.untouched(&format!("app.install ({kind})"));
        out.ok_or_refused(&v, "app.install");
        std::fs::remove_file(site.join("public/wp-settings.php")).unwrap();

        // db.export: `backups` itself, then the predictable file names.
        plant(&out.directory(), &site.join("backups"));
        let v = agent(&root, "db.export", &by_domain);
        out.untouched(&format!("db.export ({kind}) with backups -> outside"));
        out.refused(&v, "db.export with backups planted");
        unplant(&site.join("backups"));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for t in now..now + 10 {
            plant(&out.file(), &site.join(format!("backups/export_{t}.sql")));
        }
        let v = agent(&root, "db.export", &by_domain);
        out.untouched(&format!("db.export ({kind}) with export files planted"));
        out.succeeded(&v, "db.export beside planted names");
        let file = PathBuf::from(v["data"]["export_file"].as_str().unwrap_or_default());
        let exported = std::fs::symlink_metadata(&file).is_ok_and(|m| {
            m.is_file()
                && m.mode() & 0o777 == 0o600
                && Some(m.len()) == v["data"]["size_bytes"].as_u64()
        }) && std::fs::read_to_string(&file)
            .is_ok_and(|t| t.contains("MariaDB dump"));
        out.expect(exported, "the dump is a 0600 file of its own", &v);

        // cache.clear: `tmp` itself, then links inside a real `tmp`, and `artisan`.
        plant(&out.directory(), &site.join("tmp"));
        let v = agent(&root, "cache.clear", &by_domain);
        out.untouched(&format!("cache.clear ({kind}) with tmp -> outside"));
        out.refused(&v, "cache.clear with tmp planted");
        unplant(&site.join("tmp"));
        plant(&out.file(), &site.join("tmp/file-link"));
        plant(&out.directory(), &site.join("tmp/dir-link"));
        plant(&out.file(), &site.join("artisan"));
        let v = agent(&root, "cache.clear", &by_domain);
        out.untouched(&format!("cache.clear ({kind}) with links in tmp"));
        out.succeeded(&v, "cache.clear");

        // ssl.issue / ssl.renew: the challenge directory. (The ACME server is unreachable:
        // what matters is what happens before and around certbot.)
        plant(&out.directory(), &site.join("public/.well-known"));
        let v = agent(
            &root,
            "ssl.issue",
            &json!({"domain": d, "email": "ops@example.com", "directory_url": "https://127.0.0.1:9/dir"}),
        );
        out.untouched(&format!("ssl.issue ({kind})"));
        out.refused(&v, "ssl.issue with public/.well-known planted");
        let v = agent(&root, "ssl.renew", &by_domain);
        out.untouched(&format!("ssl.renew ({kind})"));
        out.expect(
            v["error"]["code"] == "SITE_NOT_FOUND",
            "ssl.renew without a certificate",
            &v,
        );

        // Read-only and root-only commands, with links everywhere.
        plant(&out.directory(), &site.join("public/uploads-link"));
        plant(&out.file(), &site.join("logs/php-error.log"));
        out.succeeded(&agent(&root, "site.info", &by_domain), "site.info");
        out.untouched(&format!("site.info ({kind})"));
        out.succeeded(
            &agent(
                &root,
                "site.set_php",
                &json!({"domain": d, "php_version": "8.3"}),
            ),
            "site.set_php",
        );
        out.succeeded(&agent(&root, "site.disable", &by_domain), "site.disable");
        out.succeeded(&agent(&root, "site.enable", &by_domain), "site.enable");
        out.succeeded(&agent(&root, "ssl.status", &by_domain), "ssl.status");
        out.untouched(&format!("site.set_php/enable/disable, ssl.status ({kind})"));

        // site.delete with links everywhere (and `tmp` itself one).
        plant(&out.directory(), &site.join("tmp"));
        plant(&out.directory(), &site.join("backups/dir-link"));
        out.succeeded(&agent(&root, "site.delete", &by_domain), "site.delete");
        out.untouched(&format!("site.delete ({kind})"));
        out.expect(
            std::fs::symlink_metadata(&site).is_err(),
            "site.delete removed the tree",
            &Value::Null,
        );
    }
    assert!(
        out.failures.is_empty(),
        "{} failure(s):\n{}",
        out.failures.len(),
        out.failures.join("\n")
    );
}
