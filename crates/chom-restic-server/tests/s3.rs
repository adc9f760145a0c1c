//! The server keeping repositories in an S3 bucket (a local `moto` S3 server, PyPI
//! `moto[server]`, `chom_test_support::s3`): Debian's `restic` makes, backs up to, restores from and
//! checks a repository with the site's append-only credential; every file lands in the bucket
//! under the prefix, nothing stays on the server's disk; the same credential is refused any
//! deletion or overwrite, and the bucket's object stays; ranged reads; the control plane's
//! full credential forgets and prunes.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use chom_restic_server::{RepositoryServer, S3Bucket};
use chom_test_support::s3::{BUCKET, Moto};
use common::{Table, forget_and_check, refused_changes, round_trip, start_with};
use std::sync::Arc;

#[actix_web::test]
async fn repositories_in_a_bucket_are_append_only_for_sites() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s3 = Moto::start().await;
    let spool = tempfile::tempdir().unwrap();
    let bucket = S3Bucket {
        endpoint: s3.endpoint(),
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        access_key: "chom".into(),
        secret_key: "secret".into(),
        prefix: "chom/".into(),
        path_style: true,
    };
    let server = start_with(
        RepositoryServer::on_s3(bucket, spool.path().to_path_buf(), Arc::new(Table)).unwrap(),
        spool,
    )
    .await;
    let append = ("site-a", "append");
    let listed = round_trip(&server, append, "site-a").await;

    // Every file is an object in the bucket, in restic's layout under the prefix; the server
    // keeps nothing (its spool is empty).
    let keys = s3.keys("chom/site-a/").await;
    for part in ["config", "keys/", "snapshots/", "index/", "data/"] {
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("chom/site-a/{part}"))),
            "{part} in {keys:?}"
        );
    }
    assert!(
        keys.iter()
            .filter(|k| k.starts_with("chom/site-a/data/"))
            .all(|k| k.split('/').nth(3).is_some_and(|d| d.len() == 2)),
        "{keys:?}"
    );
    assert_eq!(std::fs::read_dir(server.root.path()).unwrap().count(), 0);

    // The site's credential deletes and overwrites nothing; the objects stay as they were.
    let http = server.raw();
    let snapshot = keys
        .iter()
        .find(|k| k.starts_with("chom/site-a/snapshots/"))
        .unwrap()
        .clone();
    let pack = keys
        .iter()
        .find(|k| k.starts_with("chom/site-a/data/"))
        .unwrap()
        .clone();
    for key in [&snapshot, &pack] {
        let before = s3.object(key).await;
        let path = key.strip_prefix("chom/site-a/").unwrap();
        // `data/ab/<id>` in the bucket is `data/<id>` over the REST protocol.
        let rest = match path.split('/').collect::<Vec<_>>()[..] {
            ["data", _, id] => format!("data/{id}"),
            _ => path.to_owned(),
        };
        let url = format!("{}/{rest}", server.base("site-a"));
        refused_changes(&server, &url, &before, path).await;
        assert_eq!(s3.object(key).await, before, "{key} untouched");
        // Ranged reads come from the object.
        let res = http
            .get(&url)
            .basic_auth("site-a", Some("append"))
            .header("Range", "bytes=1-8")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 206, "{path}");
        assert_eq!(res.bytes().await.unwrap().to_vec(), before[1..9].to_vec());
    }

    // The control plane's full credential forgets and prunes, in the bucket.
    forget_and_check(&server, &listed[0]).await;
    assert!(
        !s3.keys("chom/site-a/snapshots/").await.contains(&snapshot),
        "the snapshot is gone"
    );
    server.handle.stop(true).await;
}
