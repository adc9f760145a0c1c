//! `backup.create`, `backup.list` and `backup.restore` of the real agent binary in sandbox
//! mode, with Debian's `restic` into a local repository and the real MariaDB: a WordPress
//! site's tree and a 10,000-row table backed up, damaged, restored byte for byte; the stock
//! `restic` reading the repository without the agent; a dry run changing nothing; a restore
//! killed at every step converging when run again; a flipped byte in a pack refused as
//! `BACKUP_CORRUPTED` with the site untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_chom-agent");
const PASSWORD: &str = "repository password";

fn agent(root: &Path, command: &str, params: &Value, crash: Option<&str>) -> (Option<i32>, Value) {
    agent_with(root, command, params, crash, &[])
}

fn agent_with(
    root: &Path,
    command: &str,
    params: &Value,
    crash: Option<&str>,
    env: &[(&str, &str)],
) -> (Option<i32>, Value) {
    let (code, answer, _) = telling(root, command, params, crash, env);
    (code, answer)
}

/// The agent's exit code, its answer, and the progress it told before it: its stdout is
/// progress lines, then the answer, the last line.
fn telling(
    root: &Path,
    command: &str,
    params: &Value,
    crash: Option<&str>,
    env: &[(&str, &str)],
) -> (Option<i32>, Value, Vec<Value>) {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    cmd.arg("--root")
        .arg(root)
        .arg(command)
        .env("CHOM_AGENT_DB_HOST", "127.0.0.1")
        .env("CHOM_AGENT_DB_USER", "root");
    if let Some(step) = crash {
        cmd.env("CHOM_AGENT_CRASH_AFTER", step);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let request = json!({"protocol": 1, "command": command, "params": params});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.trim().lines().collect();
    let answer = lines
        .pop()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    let told = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            assert!(
                v["progress"].is_object(),
                "{command}: {l:?} before the answer"
            );
            v["progress"].clone()
        })
        .collect();
    (out.status.code(), answer, told)
}

/// The phases told, in order, each once, and the last progress of each.
fn phases(told: &[Value]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for p in told {
        let phase = p["phase"].as_str().unwrap().to_owned();
        match out.last_mut() {
            Some((last, v)) if *last == phase => *v = p.clone(),
            _ => {
                assert!(
                    out.iter().all(|(seen, _)| *seen != phase),
                    "{phase} told again after another: {told:?}"
                );
                out.push((phase, p.clone()));
            }
        }
    }
    out
}

fn ok(root: &Path, command: &str, params: &Value) -> Value {
    let (code, v) = agent(root, command, params, None);
    assert_eq!(code, Some(0), "{command}: {v}");
    v["data"].clone()
}

fn mysql(sql: &str) -> String {
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "--batch",
            "--skip-column-names",
            "-e",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

use chom_test_support::files::{digests as tree, flip_byte, regular_files};

struct Site {
    sandbox: tempfile::TempDir,
    repo: tempfile::TempDir,
    domain: String,
    database: String,
}

impl Site {
    fn root(&self) -> &Path {
        self.sandbox.path()
    }

    fn dir(&self) -> PathBuf {
        self.root().join("var/www/sites").join(&self.domain)
    }

    fn access(&self) -> Value {
        json!({"location": self.repo.path(), "password": PASSWORD})
    }

    fn rows(&self) -> u64 {
        mysql(&format!(
            "SELECT COUNT(*) FROM `{}`.wp_posts",
            self.database
        ))
        .trim()
        .parse()
        .unwrap()
    }

    fn backup(&self, id: &str, crash: Option<&str>) -> (Option<i32>, Value) {
        let (code, answer, _) = self.backup_telling(id, crash);
        (code, answer)
    }

    fn backup_telling(&self, id: &str, crash: Option<&str>) -> (Option<i32>, Value, Vec<Value>) {
        telling(
            self.root(),
            "backup.create",
            &json!({"domain": self.domain, "backup_id": id, "kind": "full", "repository": self.access()}),
            crash,
            &[],
        )
    }

    fn restore(
        &self,
        backup: &str,
        restore: &str,
        dry_run: bool,
        crash: Option<&str>,
    ) -> (Option<i32>, Value) {
        let (code, answer, _) = self.restore_telling(backup, restore, dry_run, crash);
        (code, answer)
    }

    fn restore_telling(
        &self,
        backup: &str,
        restore: &str,
        dry_run: bool,
        crash: Option<&str>,
    ) -> (Option<i32>, Value, Vec<Value>) {
        telling(
            self.root(),
            "backup.restore",
            &json!({"domain": self.domain, "backup_id": backup, "restore_id": restore, "kind": "full",
                    "dry_run": dry_run, "repository": self.access()}),
            crash,
            &[],
        )
    }

    /// Deletes 10 uploads, rewrites one, adds one; deletes half the rows.
    fn damage(&self) {
        let uploads = self.dir().join("public/wp-content/uploads/2026/11");
        for i in 0..10 {
            std::fs::remove_file(uploads.join(format!("photo-{i}.jpg"))).unwrap();
        }
        std::fs::write(self.dir().join("public/wp-config.php"), "<?php // defaced").unwrap();
        std::fs::write(
            self.dir().join("public/shell.php"),
            "<?php system($_GET['c']);",
        )
        .unwrap();
        mysql(&format!(
            "DELETE FROM `{}`.wp_posts WHERE id > 5000",
            self.database
        ));
    }

    /// Nothing of restore `id` is left: no staging directory, journal or scratch database.
    fn assert_clean(&self, id: &str) {
        let sites = std::fs::read_dir(self.root().join("var/www/sites"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            sites,
            std::slice::from_ref(&self.domain),
            "only the site's directory"
        );
        let journal = self.root().join("var/lib/chom-agent/restores");
        if journal.exists() {
            assert_eq!(
                std::fs::read_dir(&journal).unwrap().count(),
                0,
                "no journal left"
            );
        }
        // The agent names them after SHA-256("<database>/<restore id>").
        let h = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{}/{id}", self.database).as_bytes(),
        );
        let hex = data_encoding::HEXLOWER.encode(&h.as_ref()[..6]);
        for db in [
            format!("chom_restore_{hex}"),
            format!("chom_previous_{hex}"),
        ] {
            assert_eq!(
                mysql(&format!("SHOW DATABASES LIKE '{db}'")).trim(),
                "",
                "{db} left"
            );
        }
    }
}

fn wordpress(prefix: &str) -> Site {
    let sandbox = tempfile::tempdir().unwrap();
    let domain = format!("{prefix}-{}.example.com", std::process::id());
    let created = ok(
        sandbox.path(),
        "site.create",
        &json!({"domain": domain, "site_type": "wordpress", "php_version": "8.2"}),
    );
    let database = created["database"]["name"].as_str().unwrap().to_owned();
    let site = Site {
        sandbox,
        repo: tempfile::tempdir().unwrap(),
        domain,
        database,
    };
    let public = site.dir().join("public");
    std::fs::write(
        public.join("wp-config.php"),
        "<?php define('DB_NAME', 'x');",
    )
    .unwrap();
    let uploads = public.join("wp-content/uploads/2026/11");
    std::fs::create_dir_all(&uploads).unwrap();
    for i in 0..200 {
        let body: Vec<u8> = (0..(1000 + i * 37)).map(|b| (b * 7 + i) as u8).collect();
        std::fs::write(uploads.join(format!("photo-{i}.jpg")), body).unwrap();
    }
    std::fs::create_dir_all(public.join("wp-content/cache")).unwrap();
    std::fs::write(public.join("wp-content/cache/page.html"), "cached").unwrap();
    std::os::unix::fs::symlink("/etc", public.join("escape")).unwrap();
    mysql(&format!(
        "CREATE TABLE `{db}`.wp_posts (id INT PRIMARY KEY, title VARCHAR(100), body TEXT);\
         INSERT INTO `{db}`.wp_posts SELECT seq, CONCAT('it''s post (', seq, ')'), REPEAT('x;', seq % 50) FROM `{db}`.seq_1_to_10000;\
         CREATE TABLE `{db}`.wp_empty (id INT);",
        db = site.database
    ));
    site
}

fn restic(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(["--no-cache", "--json"])
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn without_cache(mut t: BTreeMap<String, String>) -> BTreeMap<String, String> {
    t.retain(|k, _| !k.starts_with("public/wp-content/cache/"));
    t
}

#[test]
fn a_site_is_backed_up_damaged_and_restored_byte_for_byte() {
    let site = wordpress("bk");
    let original = tree(&site.dir());
    let (code, created, told) = site.backup_telling("b-1", None);
    assert_eq!(code, Some(0), "{created}");
    let created = &created["data"];
    // How far it got, before the answer: the files (every one reached, every byte read: a
    // first backup), then the dump; no estimate without a previous backup.
    let told = phases(&told);
    let names: Vec<&str> = told.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["files", "database"], "{told:?}");
    let (files, dump) = (&told[0].1, &told[1].1);
    assert_eq!(files["files"], created["file_count"], "{files}");
    assert_eq!(files["bytes"], created["total_bytes"], "{files}");
    assert!(files.get("files_expected").is_none(), "{files}");
    assert_eq!(dump["files"], 1, "{dump}");
    assert!(dump["bytes"].as_u64().unwrap() > 10_000 * 10, "{dump}");
    assert_eq!(created["tables"], json!({"wp_posts": 10000, "wp_empty": 0}));
    let regular = without_cache(original.clone())
        .values()
        .filter(|v| !v.starts_with("->"))
        .count();
    assert_eq!(
        created["file_count"], regular,
        "every regular file, not the cache"
    );
    let parts: Vec<&str> = created["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["files", "database"]);

    // Again with the same id: the same backup, nothing new.
    let (_, again) = site.backup("b-1", None);
    assert_eq!(again["data"]["parts"], created["parts"]);
    assert_eq!(again["data"]["manifest_sha256"], created["manifest_sha256"]);
    let listed = ok(
        site.root(),
        "backup.list",
        &json!({"domain": site.domain, "repository": site.access()}),
    );
    assert_eq!(listed["backups"].as_array().unwrap().len(), 1, "{listed}");

    // The stock restic opens it without the agent.
    let snaps: Value = serde_json::from_str(&restic(site.repo.path(), &["snapshots"])).unwrap();
    assert_eq!(
        snaps.as_array().unwrap().len(),
        3,
        "files, database, manifest"
    );
    let files_snap = created["parts"][0]["snapshot"].as_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    restic(
        site.repo.path(),
        &[
            "restore",
            files_snap,
            "--target",
            out.path().to_str().unwrap(),
        ],
    );
    let unpacked = out.path().join(site.dir().strip_prefix("/").unwrap());
    assert_eq!(
        without_cache(tree(&unpacked)),
        without_cache(original.clone())
    );
    let db_snap = created["parts"][1]["snapshot"].as_str().unwrap();
    let dump = restic(
        site.repo.path(),
        &["dump", db_snap, &format!("/{}.sql", site.database)],
    );
    assert!(dump.contains("INSERT INTO `wp_posts`"), "a plain SQL dump");

    // Damaged; a dry run says what a restore would do and does nothing.
    site.damage();
    let damaged = tree(&site.dir());
    let (code, dry) = site.restore("b-1", "r-dry", true, None);
    assert_eq!(code, Some(0), "{dry}");
    assert_eq!(
        (
            &dry["data"]["files"]["added"],
            &dry["data"]["files"]["changed"],
            &dry["data"]["files"]["removed"]
        ),
        (&json!(10), &json!(1), &json!(2)),
        "10 deleted uploads come back, wp-config.php is rewritten, shell.php and the cache page go: {dry}"
    );
    assert_eq!(tree(&site.dir()), damaged);
    assert_eq!(site.rows(), 5000);

    // Restored: every file and row as backed up, nothing left behind.
    let (code, restored, told) = site.restore_telling("b-1", "r-1", false, None);
    assert_eq!(code, Some(0), "{restored}");
    let names: Vec<String> = phases(&told).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "restoring_files",
            "loading_database",
            "checking_packs",
            "switching"
        ],
        "{told:?}"
    );
    assert_eq!(told[0]["files_expected"], created["file_count"], "{told:?}");
    assert_eq!(
        without_cache(tree(&site.dir())),
        without_cache(original.clone())
    );
    assert!(
        site.dir().join("public/wp-content/cache").is_dir(),
        "excluded directories stay, empty"
    );
    assert_eq!(site.rows(), 10000);
    assert_eq!(
        mysql(&format!(
            "SELECT title FROM `{}`.wp_posts WHERE id = 42",
            site.database
        ))
        .trim(),
        "it's post (42)"
    );
    site.assert_clean("r-1");

    // Killed at every step of a restore: the site is whole at each point (each of files and
    // tables either as damaged or as restored), and a re-run converges.
    for step in [
        "files_staged",
        "database_loaded",
        "swapping_files",
        "files_exchanged",
        "swapping_tables",
        "switched",
    ] {
        site.damage();
        let damaged = tree(&site.dir());
        let id = format!("r-{step}").replace('_', "-");
        let (code, v) = site.restore("b-1", &id, false, Some(step));
        assert_eq!(
            code,
            Some(137),
            "the crash hook did not fire after {step}: {v}"
        );
        let now = tree(&site.dir());
        assert!(
            now == damaged || without_cache(now.clone()) == without_cache(original.clone()),
            "files half restored after {step}"
        );
        assert!(
            [5000, 10000].contains(&site.rows()),
            "tables half restored after {step}"
        );
        let (code, v) = site.restore("b-1", &id, false, None);
        assert_eq!(code, Some(0), "re-run after {step}: {v}");
        assert_eq!(
            without_cache(tree(&site.dir())),
            without_cache(original.clone()),
            "after {step}"
        );
        assert_eq!(site.rows(), 10000, "after {step}");
        site.assert_clean(&id);
    }
    mysql(&format!("DROP DATABASE `{}`", site.database));
}

#[test]
fn a_backup_killed_midway_is_completed_by_its_rerun() {
    let site = wordpress("bkc");
    for step in ["files_part", "database_part"] {
        let id = format!("b-{step}").replace('_', "-");
        let (code, _) = site.backup(&id, Some(step));
        assert_eq!(code, Some(137), "the crash hook did not fire after {step}");
        let listed = ok(
            site.root(),
            "backup.list",
            &json!({"domain": site.domain, "repository": site.access()}),
        );
        let ours = listed["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["backup_id"] == id.as_str())
            .cloned()
            .unwrap();
        assert!(
            !ours["parts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["part"] == "manifest"),
            "not committed after {step}"
        );
        let (code, done) = site.backup(&id, None);
        assert_eq!(code, Some(0), "{done}");
        assert_eq!(done["data"]["tables"]["wp_posts"], 10000);
        let (code, v) = site.restore(&id, &format!("r-{id}"), true, None);
        assert_eq!(code, Some(0), "the re-run's backup is complete: {v}");
    }
    mysql(&format!("DROP DATABASE `{}`", site.database));
}

fn packs(repo: &Path) -> Vec<PathBuf> {
    regular_files(&repo.join("data"))
}

#[test]
fn a_flipped_byte_in_any_pack_fails_the_restore_and_leaves_the_site_alone() {
    let site = wordpress("bkt");
    let (code, v) = site.backup("b-1", None);
    assert_eq!(code, Some(0), "{v}");
    site.damage();
    let damaged = tree(&site.dir());
    let all = packs(site.repo.path());
    assert!(!all.is_empty());
    for round in 0..10u64 {
        // A different pack and offset each round (deterministic).
        let pack = &all[(round as usize * 7) % all.len()];
        let len = std::fs::metadata(pack).unwrap().len() as usize;
        // The last rounds hit the pack's header (at its end), which a restore never reads.
        let at = match round {
            8 => len - 5,
            9 => len - 40,
            _ => ((round * 7919 + 13) % len as u64) as usize,
        };
        let pristine = flip_byte(pack, at);
        let (code, v) = site.restore("b-1", &format!("r-t{round}"), false, None);
        assert_eq!(
            code,
            Some(1),
            "round {round}: a corrupted restore must fail: {v}"
        );
        assert_eq!(
            v["error"]["code"],
            "BACKUP_CORRUPTED",
            "round {round} (pack {}, byte {at}): {v}",
            pack.display()
        );
        assert_eq!(
            tree(&site.dir()),
            damaged,
            "round {round}: the site is untouched"
        );
        assert_eq!(site.rows(), 5000, "round {round}");
        std::fs::write(pack, &pristine).unwrap();
        site.assert_clean(&format!("r-t{round}"));
    }
    mysql(&format!("DROP DATABASE `{}`", site.database));
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?}");
}

/// The writer reads the tree as the site's user (here `nobody`): a file that user cannot read
/// fails the backup (it is never read as root, never left out silently).
#[test]
fn the_writer_reads_the_tree_as_the_sites_user_only() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("skipped: running the writer as another user needs root");
        return;
    }
    let site = wordpress("bku");
    // nobody may walk the sandbox and write the repository; the secret stays root's.
    run("chmod", &["-R", "o+rX", site.root().to_str().unwrap()]);
    run("chmod", &["0777", site.repo.path().to_str().unwrap()]);
    let secret = site.dir().join("public/wp-content/uploads/private.key");
    std::fs::write(&secret, "root's secret").unwrap();
    run("chmod", &["0600", secret.to_str().unwrap()]);
    let as_nobody = [("CHOM_AGENT_BACKUP_AS", "65534:65534")];
    let create = |id: &str| {
        agent_with(
            site.root(),
            "backup.create",
            &json!({"domain": site.domain, "backup_id": id, "kind": "files", "repository": site.access()}),
            None,
            &as_nobody,
        )
    };
    let (code, refused) = create("b-as-nobody-1");
    assert_eq!(code, Some(1), "{refused}");
    assert_eq!(refused["error"]["code"], "IO", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{refused}"
    );
    run("chmod", &["0644", secret.to_str().unwrap()]);
    let (code, done) = create("b-as-nobody-2");
    assert_eq!(code, Some(0), "{done}");
    let listed = restic(site.repo.path(), &["ls", "latest", "--tag", "part=files"]);
    assert!(listed.contains("private.key"), "{listed}");
    mysql(&format!("DROP DATABASE `{}`", site.database));
}
