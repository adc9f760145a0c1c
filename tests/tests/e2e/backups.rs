//! Backups survive a killed worker, with the real binaries: the worker is SIGKILLed while the
//! agent is inside `backup.create` (after the files part), and again inside `backup.restore`
//! (the files staged, nothing of the site switched yet). Each time a new worker takes the job
//! over once its lease expires, and the job converges: the backup completes with one manifest
//! (the rerun waits for the killed caller's run instead of racing it) and the stock `restic`
//! checks the repository clean; the site is as it was while the killed restore is staged, and
//! ends restored, every file and row back.

use crate::deployment::Deployment;
use chom_e2e::wait_for;
use chom_test_support::api::body;
use chom_test_support::files::{digests, restic};
use chom_test_support::hosting::{act, create_site, finished, mariadb, request_backup};
use serde_json::{Value, json};
use std::time::Duration;

/// Waits until the operation's first step runs on the server, lets the agent get into its
/// pause, then kills the worker and starts another.
async fn kill_the_worker_inside(d: &mut Deployment, op: &str) {
    let operation = format!("/api/v1/operations/{op}");
    let (app, owner) = (&d.app, &d.owner);
    wait_for(
        "the agent's command running",
        Duration::from_secs(30),
        &mut [&mut d.worker],
        async || {
            body(app.get_as(owner, &operation).await).await["data"]["steps"][0]["status"]
                == "running"
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.replace_worker();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_and_restores_converge_after_the_worker_is_killed() {
    let mut d = Deployment::start().await;
    let owner = d.owner.clone();
    let domain = format!("bk{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) = create_site(&d.app, &owner, json!({"domain": domain})).await;
    assert_eq!(finished(&d.app, &owner, &op).await["status"], "succeeded");
    let dir = d.rig.sandbox.join("var/www/sites").join(&domain);
    let uploads = dir.join("public/wp-content/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    for i in 0..300 {
        std::fs::write(
            uploads.join(format!("{i}.bin")),
            vec![(i % 251) as u8; 2000 + i],
        )
        .unwrap();
    }
    let shown = body(d.app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    mariadb(&format!(
        "CREATE TABLE `{db_name}`.wp_posts (id INT PRIMARY KEY, title TEXT);\
         INSERT INTO `{db_name}`.wp_posts SELECT seq, CONCAT('post ', seq) FROM `{db_name}`.seq_1_to_1000;"
    ));
    let before = digests(&dir);

    // A backup, the worker killed while the agent writes it.
    let (backup, op) = request_backup(&d.app, &owner, &site).await;
    kill_the_worker_inside(&mut d, &op).await;
    let done = finished(&d.app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", d.worker.report());
    let shown = body(
        d.app
            .get_as(&owner, &format!("/api/v1/backups/{backup}"))
            .await,
    )
    .await["data"]
        .clone();
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!(shown["tables"]["wp_posts"], 1000, "{shown}");
    assert!(shown["file_count"].as_u64().unwrap() >= 300, "{shown}");
    assert_eq!(
        d.pg.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'backup::run' AND attempt >= 2 AND state = 'done'"
        )
        .await
        .unwrap(),
        1,
        "the backup was not taken over by a second attempt"
    );
    // The stock restic: one manifest for the backup, and a clean repository.
    let repo = body(
        d.app
            .get_as(&owner, &format!("/api/v1/sites/{site}/backup-repository"))
            .await,
    )
    .await["data"]
        .clone();
    let (location, password) = (
        repo["location"].as_str().unwrap(),
        repo["password"].as_str().unwrap(),
    );
    let tag = format!("chom-backup={backup},part=manifest");
    let out = restic(location, password, &["snapshots", "--tag", &tag]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifests: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifests.as_array().unwrap().len(), 1, "{manifests}");
    let out = restic(location, password, &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Damaged, then restored; the worker killed while the restore is staged.
    for i in 0..10 {
        std::fs::remove_file(uploads.join(format!("{i}.bin"))).unwrap();
    }
    std::fs::write(dir.join("public/shell.php"), b"<?php system($_GET['c']);").unwrap();
    mariadb(&format!("DELETE FROM `{db_name}`.wp_posts WHERE id > 500"));
    let damaged = digests(&dir);
    let res = d
        .app
        .post_as(
            &owner,
            &format!("/api/v1/backups/{backup}/restore"),
            json!({"dry_run": false}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let op = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    kill_the_worker_inside(&mut d, &op).await;
    // Killed with the restore staged and nothing of the site switched: it is as it was.
    assert_eq!(
        digests(&dir),
        damaged,
        "the site is as it was until the restore switches"
    );
    let done = finished(&d.app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", d.worker.report());
    assert_eq!(
        digests(&dir),
        before,
        "every file back, the planted one gone"
    );
    assert_eq!(
        mariadb(&format!("SELECT COUNT(*) FROM `{db_name}`.wp_posts")).trim(),
        "1000"
    );
    assert!(
        d.pg.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'backup::restore' AND attempt >= 2 AND state = 'done'"
        )
        .await
        .unwrap()
            == 1,
        "the restore was not taken over by a second attempt"
    );
    // Tidy the shared MariaDB.
    act(
        &d.app,
        &owner,
        reqwest::Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}
