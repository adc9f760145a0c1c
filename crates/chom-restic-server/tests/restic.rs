//! Debian's `restic` against the server over loopback: a repository made, backed up to,
//! restored from and checked with a site's append-only credential; that credential refused
//! every deletion and overwrite, another repository and no credential
//! refused; the control plane's full credential forgetting and pruning.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use common::{forget_and_check, refused_changes, round_trip, start};
use std::path::Path;

fn first_file(root: &Path, kind: &str) -> (String, String) {
    let mut dirs = vec![root.join(kind)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                return (name, rel);
            }
        }
    }
    panic!("no {kind} file");
}

#[actix_web::test]
async fn a_sites_credential_adds_backups_and_can_never_remove_them() {
    let server = start().await;
    let append = ("site-a", "append");
    let listed = round_trip(&server, append, "site-a").await;

    // What `restic forget` would send with the site's credential (restic 0.14 retries a
    // refused deletion for about 45 s before giving up, so it is sent by hand here).
    let repo = server.root.path().join("site-a");
    // By hand: no deletion of data, snapshots, index, keys or config; no overwrite.
    let http = server.raw();
    for kind in ["data", "snapshots", "index", "keys"] {
        let (name, rel) = first_file(&repo, kind);
        let before = std::fs::read(repo.join(&rel)).unwrap();
        let url = format!("{}/{kind}/{name}", server.base("site-a"));
        refused_changes(&server, &url, &before, kind).await;
        assert_eq!(
            std::fs::read(repo.join(&rel)).unwrap(),
            before,
            "{kind} untouched"
        );
    }
    let config = format!("{}/config", server.base("site-a"));
    let before = std::fs::read(repo.join("config")).unwrap();
    let res = http
        .delete(&config)
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "delete config");
    let res = http
        .post(&config)
        .basic_auth("site-a", Some("append"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "overwrite config");
    assert_eq!(std::fs::read(repo.join("config")).unwrap(), before);

    // A new file whose name is not its content's hash is refused, nothing is left behind.
    let forged = format!("{}/data/{}", server.base("site-a"), "0".repeat(64));
    let res = http
        .post(&forged)
        .basic_auth("site-a", Some("append"))
        .body("not that")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(!repo.join("data/00").join("0".repeat(64)).exists());
    assert_eq!(
        std::fs::read_dir(repo.join("data/00"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
            .count(),
        0,
        "no temporary file left"
    );

    // Locks come and go (restic needs that even append-only).
    let lock = b"{\"time\":\"now\"}".to_vec();
    let lock_id =
        data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, &lock).as_ref());
    let url = format!("{}/locks/{lock_id}", server.base("site-a"));
    let res = http
        .post(&url)
        .basic_auth("site-a", Some("append"))
        .body(lock)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = http
        .delete(&url)
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // Another repository, a wrong password, no credential.
    let res = http
        .get(format!("{}/config", server.base("site-a")))
        .basic_auth("site-b", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "site-b's credential on site-a");
    let res = http
        .get(format!("{}/config", server.base("site-a")))
        .basic_auth("site-a", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = http
        .get(format!("{}/config", server.base("site-a")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = http
        .get(format!("{}/../site-a/config", server.base("site-b")))
        .basic_auth("site-b", Some("append"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status().as_u16(), 200, "no way out of one's repository");

    // The control plane's full credential forgets and prunes.
    forget_and_check(&server, &listed[0]).await;
    assert_eq!(
        std::fs::read_dir(repo.join("snapshots")).unwrap().count(),
        0
    );
    server.handle.stop(true).await;
}

#[actix_web::test]
async fn reads_honour_ranges_and_listings_speak_both_versions() {
    let server = start().await;
    let http = server.raw();
    let base = server.base("site-a");
    let res = http
        .post(format!("{base}/?create=true"))
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let id =
        data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
    let url = format!("{base}/data/{id}");
    let res = http
        .post(&url)
        .basic_auth("site-a", Some("append"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let res = http
        .head(&url)
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-length"], "10000");
    let res = http
        .get(&url)
        .basic_auth("site-a", Some("append"))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(res.bytes().await.unwrap().to_vec(), body[100..200].to_vec());
    let res = http
        .get(&url)
        .basic_auth("site-a", Some("append"))
        .header("Range", "bytes=20000-")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 416);

    let res = http
        .get(format!("{base}/data/"))
        .basic_auth("site-a", Some("append"))
        .header("Accept", "application/vnd.x.restic.rest.v2")
        .send()
        .await
        .unwrap();
    let v2: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v2, serde_json::json!([{"name": id, "size": 10000}]));
    let res = http
        .get(format!("{base}/data/"))
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    let v1: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v1, serde_json::json!([id]));
    let res = http
        .get(format!("{base}/data/{}", "1".repeat(64)))
        .basic_auth("site-a", Some("append"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    server.handle.stop(true).await;
}
