//! A site (2,000 files, 10,000 rows) backed up for real, in-process on both backends: the API
//! asks, the embedded worker
//! has the real agent (over a loopback sshd, in its sandbox) run Debian's `restic` into the
//! site's repository behind the app's own REST server, with the site's append-only credential.
//! The stock `restic`, given what `GET /sites/{id}/backup-repository` tells the site's admin,
//! lists and restores the snapshot without CHOM; the site's credential can delete nothing and
//! opens no other site's repository; the download is restic's own archive, its length and
//! SHA-256 in its headers. Then the site is damaged and restored through the API: a
//! dry run names the changes, the restore puts back every file and row. Verified off the server
//! it passes; with one byte of a pack flipped it fails, the owner is e-mailed, and a restore
//! is refused as `BACKUP_CORRUPTED` with the site untouched.

use super::body;
use super::lifecycle::{Hosting, hosting};
use crate::helpers::Db;
use chom_test_support::Sshd;
use chom_test_support::files::{digests as files, flip_byte, regular_files, restic};
use chom_test_support::hosting::{create_site, finished, mariadb, request_backup, restore_backup};
use serde_json::json;
use std::collections::BTreeMap;

/// A site on its loopback server with `files` uploads (upload `i` holds `base + i` bytes) and
/// a table of `rows` rows; the app keeps the repositories in the test's directory and verifies
/// into the machine's MariaDB.
struct Stocked {
    _work: tempfile::TempDir,
    repositories: std::path::PathBuf,
    hosting: Hosting,
    domain: String,
    site: String,
    dir: std::path::PathBuf,
    db_name: String,
}

async fn stocked(db: Db, prefix: &str, uploads: usize, base: usize, rows: usize) -> Stocked {
    let work = tempfile::tempdir().unwrap();
    let repositories = work.path().join("repositories");
    let root = repositories.clone();
    let hosting = hosting(db, &work, Sshd::start(), move |s| {
        s.backup.repository_root = root;
        s.backup.verify_database = Some("mysql://root@127.0.0.1:3306".to_owned().into());
    })
    .await;
    let (app, owner) = (&hosting.app, &hosting.owner);
    let domain = format!("{prefix}{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) = create_site(app, owner, json!({"domain": domain})).await;
    assert_eq!(finished(app, owner, &op).await["status"], "succeeded");
    let dir = hosting.rig.sandbox.join("var/www/sites").join(&domain);
    let uploaded = dir.join("public/wp-content/uploads");
    std::fs::create_dir_all(&uploaded).unwrap();
    for i in 0..uploads {
        std::fs::write(
            uploaded.join(format!("{i}.bin")),
            vec![(i % 251) as u8; base + i],
        )
        .unwrap();
    }
    let shown = body(app.get_as(owner, &format!("/api/v1/sites/{site}")).await).await;
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    mariadb(&format!(
        "CREATE TABLE `{db_name}`.wp_posts (id INT PRIMARY KEY, title TEXT);\
         INSERT INTO `{db_name}`.wp_posts SELECT seq, CONCAT('post ', seq) FROM `{db_name}`.seq_1_to_{rows};"
    ));
    Stocked {
        _work: work,
        repositories,
        hosting,
        domain,
        site,
        dir,
        db_name,
    }
}

async fn a_site_is_backed_up_into_its_append_only_repository(db: Db) {
    // Content: 2,000 uploads in the tree, 10,000 rows in the site's database.
    let Stocked {
        _work,
        repositories,
        hosting:
            Hosting {
                app,
                admin,
                owner,
                rig: _,
                _sshd,
            },
        domain,
        site,
        dir,
        db_name,
    } = stocked(db, "bk", 2000, 1000, 10_000).await;
    let uploads = dir.join("public/wp-content/uploads");

    // Backed up through the API.
    let (backup, op) = request_backup(&app, &owner, &site).await;
    let done = finished(&app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // The step ends where the agent last said it was: the dump, read whole.
    let told = &done["steps"][0]["progress"];
    assert_eq!(
        (&told["phase"], &told["files"]),
        (&json!("database"), &json!(1)),
        "{done}"
    );
    assert!(told["bytes"].as_u64().unwrap() > 10_000 * 10, "{done}");
    let shown = body(
        app.get_as(&owner, &format!("/api/v1/backups/{backup}"))
            .await,
    )
    .await["data"]
        .clone();
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!(shown["tables"]["wp_posts"], 10000, "{shown}");
    let parts: Vec<&str> = shown["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["files", "database"]);
    assert!(shown["added_bytes"].as_i64().unwrap() > 0, "{shown}");
    assert!(
        shown["expires_at"].is_string(),
        "retention sets the expiry: {shown}"
    );
    let expected = files(&dir);
    assert!(shown["file_count"].as_u64().unwrap() >= 2000, "{shown}");

    // The repository is the app's, on its disk, in restic's layout, named after the site.
    assert!(repositories.join(&site).join("config").is_file());

    // What the site's admin is told opens it with the stock restic.
    let res = app
        .get_as(&owner, &format!("/api/v1/sites/{site}/backup-repository"))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let repo = body(res).await["data"].clone();
    let (location, password) = (
        repo["location"].as_str().unwrap(),
        repo["password"].as_str().unwrap(),
    );
    let out = restic(location, password, &["snapshots"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        snaps.as_array().unwrap().len(),
        3,
        "files, database, manifest"
    );
    let target = tempfile::tempdir().unwrap();
    let files_snap = shown["parts"][0]["snapshot"].as_str().unwrap();
    let out = restic(
        location,
        password,
        &[
            "restore",
            files_snap,
            "--target",
            target.path().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = files(&target.path().join(dir.strip_prefix("/").unwrap()));
    let wanted: BTreeMap<_, _> = expected
        .into_iter()
        .filter(|(p, _)| !p.starts_with("tmp/") && !p.starts_with("sessions/"))
        .collect();
    assert_eq!(restored, wanted, "restic restores every file byte for byte");
    let out = restic(
        location,
        password,
        &[
            "dump",
            shown["parts"][1]["snapshot"].as_str().unwrap(),
            &format!("/{db_name}.sql"),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("INSERT INTO `wp_posts`"));

    // The site's credential deletes nothing, and opens no other repository.
    let server = location.strip_prefix("rest:").unwrap();
    let http = chom_test_support::api::client();
    let snapshots = repositories.join(&site).join("snapshots");
    let first = std::fs::read_dir(&snapshots)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let res = http
        .delete(format!("{server}snapshots/{}", first.to_string_lossy()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "append-only");
    assert!(snapshots.join(&first).is_file());
    let other = server.replace(&format!("/{site}/"), &format!("/{}/", uuid::Uuid::now_v7()));
    let res = http.get(format!("{other}config")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "another site's repository");

    // Downloaded: the same archive, byte for byte, as the stock restic's `dump` of the snapshot.
    let res = app
        .get_as(
            &owner,
            &format!("/api/v1/backups/{backup}/download?part=files"),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with("-files.tar\""),
        "{:?}",
        res.headers()["content-disposition"]
    );
    // Its length and SHA-256 come before it.
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
    let (length, hex, digest) = (
        header("content-length"),
        header("x-checksum-sha256"),
        header("repr-digest"),
    );
    let downloaded = res.bytes().await.unwrap().to_vec();
    assert_eq!(length, downloaded.len().to_string());
    let sha = chom_kernel::crypto::sha256(&downloaded);
    assert_eq!(hex, data_encoding::HEXLOWER.encode(&sha));
    assert_eq!(
        digest,
        format!("sha-256=:{}:", data_encoding::BASE64.encode(&sha))
    );
    let out = restic(location, password, &["dump", files_snap, "/"]);
    assert!(out.status.success());
    assert!(downloaded.len() > 300_000, "{} bytes", downloaded.len());
    assert!(
        downloaded == out.stdout,
        "the download is restic's own archive"
    );
    let res = app
        .get_as(
            &owner,
            &format!("/api/v1/backups/{backup}/download?part=logs"),
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);

    // Damaged, then restored through the API: a dry run first (nothing changes), then the
    // restore's operation; every file and row is back.
    let before = files(&dir);
    for i in 0..10 {
        std::fs::remove_file(uploads.join(format!("{i}.bin"))).unwrap();
    }
    std::fs::write(uploads.join("10.bin"), b"defaced").unwrap();
    std::fs::write(dir.join("public/shell.php"), b"<?php system($_GET['c']);").unwrap();
    mariadb(&format!("DELETE FROM `{db_name}`.wp_posts WHERE id > 500"));
    let damaged = files(&dir);
    let restore = format!("/api/v1/backups/{backup}/restore");
    let res = app
        .post_as(&owner, &restore, json!({"dry_run": true}))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let preview = body(res).await["data"].clone();
    assert_eq!(
        (
            &preview["files"]["added"],
            &preview["files"]["changed"],
            &preview["files"]["removed"]
        ),
        (&json!(10), &json!(1), &json!(1)),
        "{preview}"
    );
    assert_eq!(preview["tables"]["wp_posts"], 10000);
    assert_eq!(files(&dir), damaged, "a dry run changes nothing");
    // Another tenant's site as the target is a bad field.
    let (_, _, stranger) = crate::sites::customer(&app, &admin, "bob", "starter").await;
    let (their_site, _, _) = create_site(
        &app,
        &stranger,
        json!({"domain": format!("x{}.example.com", uuid::Uuid::new_v4().simple())}),
    )
    .await;
    let problem = crate::helpers::assert_problem(
        app.post_as(&owner, &restore, json!({"site_id": their_site}))
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "site_id", "{problem}");
    let done = restore_backup(&app, &owner, &backup).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "restore");
    assert_eq!(done["steps"][0]["progress"]["phase"], "switching", "{done}");
    assert_eq!(
        files(&dir),
        before,
        "every file as backed up, the planted one gone"
    );
    assert_eq!(
        mariadb(&format!("SELECT COUNT(*) FROM `{db_name}`.wp_posts")).trim(),
        "10000"
    );
    // Verified off the server: passed, recorded on the backup. Then one byte of a pack is
    // flipped in the repository: the next verification fails, and says so.
    let backups = &app.app_services.core.backups;
    let now = time::OffsetDateTime::now_utc();
    let verified = backups.verify_sample(now, 5).await.unwrap();
    assert_eq!(
        (verified.passed, verified.failed, verified.skipped),
        (1, 0, 0),
        "{verified:?}"
    );
    let shown = body(
        app.get_as(&owner, &format!("/api/v1/backups/{backup}"))
            .await,
    )
    .await["data"]
        .clone();
    assert_eq!(shown["verification"]["status"], "passed", "{shown}");
    let verification = format!("/api/v1/backups/{backup}/verification");
    let state = body(app.get_as(&owner, &verification).await).await["data"].clone();
    assert_eq!(
        (&state["status"], &state["backup_id"]),
        (&json!("passed"), &json!(backup)),
        "{state}"
    );
    // The dump was loaded into a scratch database on this host and its rows counted; the
    // database is gone.
    assert!(
        state["detail"]
            .as_str()
            .unwrap()
            .contains("10000 rows loaded into a scratch database"),
        "{state}"
    );
    // (Another test's verification may hold one for a moment: a leftover would stay.)
    let mut left = String::new();
    for _ in 0..120 {
        left = mariadb("SHOW DATABASES LIKE 'chom\\_verify\\_%'");
        if left.trim().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(left.trim(), "", "no scratch database left");
    let mut packs = regular_files(&repositories.join(&site).join("data"));
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let pack = packs.last().unwrap();
    let middle = std::fs::metadata(pack).unwrap().len() as usize / 2;
    flip_byte(pack, middle);
    let verified = backups
        .verify_sample(now + time::Duration::days(8), 5)
        .await
        .unwrap();
    assert_eq!((verified.passed, verified.failed), (0, 1), "{verified:?}");
    let shown = body(
        app.get_as(&owner, &format!("/api/v1/backups/{backup}"))
            .await,
    )
    .await["data"]
        .clone();
    assert_eq!(shown["verification"]["status"], "failed", "{shown}");
    let state = body(app.get_as(&owner, &verification).await).await["data"].clone();
    assert_eq!(state["status"], "failed", "{state}");
    assert!(!state["detail"].as_str().unwrap().is_empty(), "{state}");
    // No silent failure: the organization's owner is e-mailed.
    let mail = app
        .smtp
        .wait_for(
            "olga@example.com",
            &format!("Backup verification failed: {domain}"),
        )
        .await;
    assert!(mail.data.contains(&backup), "{}", mail.data);
    // Restoring from the damaged repository is refused as corrupted, and the site is left as
    // it was: every file, every row.
    let done = restore_backup(&app, &owner, &backup).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done.to_string().contains("BACKUP_CORRUPTED"),
        "refused as corrupted: {done}"
    );
    assert_eq!(files(&dir), before, "the site is untouched");
    assert_eq!(
        mariadb(&format!("SELECT COUNT(*) FROM `{db_name}`.wp_posts")).trim(),
        "10000"
    );
    mariadb(&format!("DROP DATABASE IF EXISTS `{db_name}`"));
}

/// Tamper, ten times: one byte flipped in a stored pack (a different pack, place or header
/// each time) makes the verification off the server fail and a restore through the API be
/// refused as `BACKUP_CORRUPTED`, never a silent success, with the site untouched; the byte put
/// back, the same backup verifies again.
async fn a_flipped_byte_is_caught_ten_times_out_of_ten(db: Db) {
    let Stocked {
        _work,
        repositories,
        hosting:
            Hosting {
                app,
                admin: _,
                owner,
                rig: _,
                _sshd,
            },
        domain: _,
        site,
        dir,
        db_name,
    } = stocked(db, "tp", 200, 4000, 500).await;
    let (backup, op) = request_backup(&app, &owner, &site).await;
    assert_eq!(finished(&app, &owner, &op).await["status"], "succeeded");
    let before = files(&dir);
    let rows = || mariadb(&format!("SELECT COUNT(*) FROM `{db_name}`.wp_posts"));
    let mut packs = regular_files(&repositories.join(&site).join("data"));
    packs.sort();
    assert!(!packs.is_empty());
    let backups = &app.app_services.core.backups;
    let start = time::OffsetDateTime::now_utc();
    let mut caught = 0;
    for round in 0..10u32 {
        let pack = &packs[round as usize % packs.len()];
        let len = std::fs::metadata(pack).unwrap().len() as usize;
        // Rounds 4 and 9 hit the pack's header (at its end); the others a place in its blobs.
        let at = if round % 5 == 4 {
            len - 12
        } else {
            len * (round as usize + 1) / 11
        };
        let pristine = flip_byte(pack, at);
        let now = start + time::Duration::days(8 * i64::from(round + 1));
        let verified = backups.verify_sample(now, 5).await.unwrap();
        assert_eq!(
            (verified.passed, verified.failed),
            (0, 1),
            "round {round}: {} byte {at}: {verified:?}",
            pack.display()
        );
        let state = body(
            app.get_as(&owner, &format!("/api/v1/backups/{backup}/verification"))
                .await,
        )
        .await["data"]
            .clone();
        assert_eq!(state["status"], "failed", "round {round}: {state}");
        let done = restore_backup(&app, &owner, &backup).await;
        assert_eq!(done["status"], "failed", "round {round}: {done}");
        assert!(
            done.to_string().contains("BACKUP_CORRUPTED"),
            "round {round}: refused as corrupted: {done}"
        );
        assert_eq!(files(&dir), before, "round {round}: the site is untouched");
        assert_eq!(rows().trim(), "500", "round {round}");
        std::fs::write(pack, pristine).unwrap();
        caught += 1;
    }
    assert_eq!(caught, 10);
    // The control: with every byte back, the same backup verifies.
    let verified = backups
        .verify_sample(start + time::Duration::days(100), 5)
        .await
        .unwrap();
    assert_eq!((verified.passed, verified.failed), (1, 0), "{verified:?}");
    mariadb(&format!("DROP DATABASE IF EXISTS `{db_name}`"));
}

crate::both_backends!(
    a_site_is_backed_up_into_its_append_only_repository,
    a_flipped_byte_is_caught_ten_times_out_of_ten
);
