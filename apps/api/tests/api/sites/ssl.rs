//! Certificates end to end: a site created with `"ssl": true` gets one from a local ACME CA
//! (Pebble) during provisioning, is served over HTTPS, reports its certificate, and the daily
//! sweep renews it once it is within the renewal window.

use super::body;
use super::lifecycle::{Hosting, hosting};
use crate::helpers::{Db, SshRig, TestApp};
use chom_test_support::hosting::{act, finished};
use chom_test_support::{Acme, Sshd};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

async fn expires_at(app: &TestApp, token: &str, site: &str) -> OffsetDateTime {
    let shown = body(app.get_as(token, &format!("/api/v1/sites/{site}")).await).await;
    let raw = shown["data"]["ssl_expires_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no expiry: {shown}"));
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).unwrap()
}

async fn certificates_are_issued_and_renewed(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let acme = Acme::start(&SshRig::new(work.path()).sandbox.join("var/www/sites"));
    let sshd = Sshd::start_with_env(&[(
        "CHOM_AGENT_ACME_CA_BUNDLE",
        &acme.ca_bundle.display().to_string(),
    )]);
    let Hosting {
        app,
        owner,
        rig,
        _sshd,
        ..
    } = hosting(db, &work, sshd, |s| {
        s.sites.acme_directory = Some(acme.directory_url.clone());
        s.sites.acme_email = "ops@example.com".into();
        s.sites.renew_within_days = 36_500;
    })
    .await;
    let domain = format!("tls{}.example.com", uuid::Uuid::new_v4().simple());

    let (site, op, accepted) = super::create_site(
        &app,
        &owner,
        json!({"domain": domain, "site_type": "html", "ssl": true}),
    )
    .await;
    let steps: Vec<&str> = accepted["data"]["operation"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["site.create", "app.install", "ssl.issue"]);
    let done = finished(&app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active");
    assert_eq!(shown["data"]["ssl_enabled"], true);
    assert_eq!(shown["data"]["url"], format!("https://{domain}"));
    let first_expiry = expires_at(&app, &owner, &site).await;
    assert!(first_expiry > OffsetDateTime::now_utc() + time::Duration::days(30));
    let vhost = std::fs::read_to_string(
        rig.sandbox
            .join(format!("etc/nginx/sites-available/chom-{domain}.conf")),
    )
    .unwrap();
    assert!(vhost.contains("listen 443 ssl"), "{vhost}");
    let status = body(
        app.get_as(&owner, &format!("/api/v1/sites/{site}/ssl"))
            .await,
    )
    .await;
    assert!(
        status["data"]["report"]["issuer"]
            .as_str()
            .unwrap()
            .contains("Pebble"),
        "{status}"
    );

    // The sweep renews what is within its window (configured here as the whole validity, so
    // this certificate): once, with a new certificate whose expiry is recorded.
    let serial = |report: &serde_json::Value| {
        report["data"]["report"]["serial"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = serial(&status);
    let sites = &app.app_services.sites;
    let now = OffsetDateTime::now_utc();
    assert_eq!(sites.renew_expiring(now).await.unwrap(), 1);
    assert_eq!(
        sites.renew_expiring(now).await.unwrap(),
        0,
        "a second renewal was queued while one is pending"
    );
    let mut renewed = false;
    for _ in 0..300 {
        if app
            .count(
                "SELECT COUNT(*) FROM operations WHERE kind = 'ssl_renew' AND status = 'succeeded'",
            )
            .await
            == 1
        {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "the renewal did not succeed");
    let after = body(
        app.get_as(&owner, &format!("/api/v1/sites/{site}/ssl"))
            .await,
    )
    .await;
    assert_ne!(serial(&after), before, "the certificate was not renewed");
    assert!(expires_at(&app, &owner, &site).await >= first_expiry);

    // Deleting the site removes its certificate too.
    act(
        &app,
        &owner,
        reqwest::Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
    assert!(
        !rig.sandbox
            .join("etc/letsencrypt/live")
            .join(&domain)
            .exists()
    );
}

crate::both_backends!(certificates_are_issued_and_renewed);
