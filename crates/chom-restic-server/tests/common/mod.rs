//! What the server tests share: the credential table, a server on loopback (on disk, or on
//! any storage), the stock `restic` against it, and a small site tree.
#![allow(dead_code)] // each test file uses its part

use actix_web::{App, HttpServer};
use chom_restic_server::{Authenticator, Grant, Mode, RepositoryServer};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

pub struct Table;

impl Authenticator for Table {
    fn authenticate(&self, user: &str, password: &str) -> Option<Grant> {
        let mode = match (user, password) {
            ("site-a" | "site-b", "append") => Mode::AppendOnly,
            ("site-a", "full") => Mode::Full,
            _ => return None,
        };
        Some(Grant {
            repository: user.to_owned(),
            mode,
        })
    }
}

pub struct Server {
    pub port: u16,
    pub root: tempfile::TempDir,
    pub handle: actix_web::dev::ServerHandle,
}

/// A server keeping its repositories on disk, in `root`.
pub async fn start() -> Server {
    let root = tempfile::tempdir().unwrap();
    let server = RepositoryServer::new(root.path(), Arc::new(Table));
    start_with(server, root).await
}

/// Serves `server` on loopback (`root`: its directory, or its spool).
pub async fn start_with(server: RepositoryServer, root: tempfile::TempDir) -> Server {
    let server = Arc::new(server);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let http = HttpServer::new(move || App::new().configure(server.clone().configure()))
        .on_connect(chom_restic_server::no_delay)
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = http.handle();
    tokio::spawn(http);
    Server { port, root, handle }
}

impl Server {
    pub fn url(&self, user: &str, password: &str, repo: &str) -> String {
        format!(
            "rest:http://{user}:{password}@127.0.0.1:{}/{repo}/",
            self.port
        )
    }

    pub async fn restic(&self, credential: (&str, &str), repo: &str, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new("restic");
        cmd.arg("-r")
            .arg(self.url(credential.0, credential.1, repo))
            .args(["--no-cache", "--json"])
            .args(args)
            .env("RESTIC_PASSWORD", "repository password")
            .env_remove("RESTIC_REPOSITORY");
        cmd.output()
            .await
            .expect("restic runs (cargo xtask services installs it)")
    }

    pub fn raw(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    pub fn base(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn snapshots(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("wp-content/uploads")).unwrap();
    for i in 0..50 {
        std::fs::write(
            dir.join(format!("wp-content/uploads/{i}.txt")),
            format!("file {i} ").repeat(1000 + i),
        )
        .unwrap();
    }
    std::fs::write(dir.join("index.php"), "<?php echo 'hello';").unwrap();
}

/// The stock restic's round trip with `credential` on `repo`: a small site tree made, the
/// repository initialised, backed up, listed (one snapshot), restored byte for byte into
/// another directory, and checked reading every pack. Returns the snapshot ids.
pub async fn round_trip(server: &Server, credential: (&str, &str), repo: &str) -> Vec<String> {
    let site = tempfile::tempdir().unwrap();
    tree(site.path());
    ok(&server.restic(credential, repo, &["init"]).await, "init");
    ok(
        &server
            .restic(credential, repo, &["backup", site.path().to_str().unwrap()])
            .await,
        "backup",
    );
    let listed = snapshots(&ok(
        &server.restic(credential, repo, &["snapshots"]).await,
        "snapshots",
    ));
    assert_eq!(listed.len(), 1);
    let target = tempfile::tempdir().unwrap();
    let into = target.path().to_str().unwrap();
    ok(
        &server
            .restic(credential, repo, &["restore", &listed[0], "--target", into])
            .await,
        "restore",
    );
    let restored = target.path().join(site.path().strip_prefix("/").unwrap());
    for i in 0..50 {
        let rel = format!("wp-content/uploads/{i}.txt");
        assert_eq!(
            std::fs::read(restored.join(&rel)).unwrap(),
            std::fs::read(site.path().join(&rel)).unwrap(),
            "{rel}"
        );
    }
    ok(
        &server
            .restic(credential, repo, &["check", "--read-data"])
            .await,
        "check --read-data",
    );
    listed
}

/// The site's append-only credential on `url` (a file holding `before`): deleting it,
/// overwriting it with its own bytes and with garbage are each refused (403).
pub async fn refused_changes(server: &Server, url: &str, before: &[u8], what: &str) {
    let http = server.raw();
    let res = http
        .delete(url)
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "delete {what}");
    for body in [before.to_vec(), b"garbage".to_vec()] {
        let res = http
            .post(url)
            .basic_auth("site-a", Some("append"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "overwrite {what}");
    }
}

/// The control plane's full credential of `site-a` forgets `snapshot` and prunes; the
/// repository then checks clean.
pub async fn forget_and_check(server: &Server, snapshot: &str) {
    let full = ("site-a", "full");
    ok(
        &server
            .restic(full, "site-a", &["forget", snapshot, "--prune"])
            .await,
        "forget --prune (full)",
    );
    ok(
        &server.restic(full, "site-a", &["check"]).await,
        "check after prune",
    );
}
