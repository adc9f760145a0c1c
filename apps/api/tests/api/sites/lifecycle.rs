//! The life of a WordPress site on a "VPS" (a loopback sshd, the real agent in a sandbox root,
//! the machine's MariaDB), in-process on both backends: the whole life
//! (`chom_test_support::hosting::life_of_a_wordpress_site`), and a failed provisioning retried.

use super::{body, customer};
use crate::helpers::{Db, SshRig, TestApp, assert_problem, configure_ssh, spawn_app_with};
use crate::identity::super_admin;
use chom_api::config::Settings;
use chom_test_support::Sshd;
use chom_test_support::hosting::{act, finished, life_of_a_wordpress_site, loopback_server};
use reqwest::Method;
use serde_json::json;

/// A starter customer with one loopback server, on an in-process app.
pub(crate) struct Hosting {
    pub app: TestApp,
    pub admin: String,
    pub owner: String,
    pub rig: SshRig,
    /// The server: bind it (`_sshd`, not `..`) so it runs as long as the test.
    pub _sshd: Sshd,
}

/// Starts the app on `sshd` with the agent's sandbox under `work`, onboards a customer on
/// starter and adds, trusts, bootstraps and checks the server.
pub(crate) async fn hosting(
    db: Db,
    work: &tempfile::TempDir,
    sshd: Sshd,
    customise: impl FnOnce(&mut Settings),
) -> Hosting {
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        configure_ssh(s, &rig, &sshd, work.path().join("ssh-state"));
        customise(s);
    })
    .await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    loopback_server(&app, &admin, &sshd, "vps1.test", 8).await;
    Hosting {
        app,
        admin,
        owner,
        rig,
        _sshd: sshd,
    }
}

async fn a_site_lives_and_dies_on_its_server(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let Hosting {
        app,
        admin,
        owner,
        rig,
        _sshd,
        ..
    } = hosting(db, &work, Sshd::start(), |_| {}).await;
    life_of_a_wordpress_site(
        &app,
        async || app.dump().await,
        &admin,
        &owner,
        &rig.sandbox,
    )
    .await;
}

async fn a_failed_provisioning_keeps_its_reason_and_can_be_retried_and_is_measured(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let Hosting {
        app,
        owner,
        rig,
        _sshd,
        ..
    } = hosting(db, &work, Sshd::start(), |_| {}).await;
    // The server's site registry is corrupt: the agent refuses to work on it.
    let registry = rig.sandbox.join("var/lib/chom-agent/sites.json");
    std::fs::create_dir_all(registry.parent().unwrap()).unwrap();
    std::fs::write(&registry, "{ not json").unwrap();
    let domain = format!("f{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) =
        super::create_site(&app, &owner, json!({"domain": domain, "site_type": "html"})).await;
    let done = finished(&app, &owner, &op).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["steps"][0]["status"], "failed");
    // L7: a stable code, never the agent's or a tool's own words (paths, other vhosts).
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("SERVER_REFUSED"), "{done}");
    assert!(
        !error.contains("sites.json") && !error.contains("corrupt"),
        "{done}"
    );
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "failed");
    assert!(
        shown["data"]["status_reason"]
            .as_str()
            .unwrap()
            .contains("site.create"),
        "{shown}"
    );
    // Only a retry (or a delete) is possible now.
    assert_problem(
        app.post_as(&owner, &format!("/api/v1/sites/{site}/disable"), json!({}))
            .await,
        409,
        "INVALID_STATE",
    )
    .await;
    // The operator repairs the server; the tenant retries.
    std::fs::remove_file(&registry).unwrap();
    act(
        &app,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/retry"),
        None,
    )
    .await;
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    assert!(shown["data"]["status_reason"].is_null());
    assert_eq!(shown["data"]["storage_used_mb"], 0);
    // The hourly measurement records what the site uses on its server.
    let public = rig
        .sandbox
        .join("var/www/sites")
        .join(&domain)
        .join("public");
    std::fs::write(public.join("big.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let (measured, skipped) = app.app_services.sites.measure_storage().await.unwrap();
    assert_eq!((measured, skipped), (1, 0));
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    let mb = shown["data"]["storage_used_mb"].as_i64().unwrap();
    assert!((3..=4).contains(&mb), "{shown}");
    act(
        &app,
        &owner,
        Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}

crate::both_backends!(
    a_site_lives_and_dies_on_its_server,
    a_failed_provisioning_keeps_its_reason_and_can_be_retried_and_is_measured,
);
