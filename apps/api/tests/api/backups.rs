//! Backup schedules over HTTP on both backends: the default, a save that reads back, every
//! invalid field at once, a viewer who reads but cannot save, and another tenant's (or an
//! unknown) site answering 404 for reading and writing without its schedule changing.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::identity::isolation::add_member;
use crate::identity::super_admin;
use crate::sites::{body, create_site, customer, dead_server};
use reqwest::Method;
use serde_json::{Value, json};

fn path(site: &str) -> String {
    format!("/api/v1/sites/{site}/backup-schedule")
}

async fn put(app: &TestApp, token: &str, site: &str, schedule: Value) -> reqwest::Response {
    app.send(Method::PUT, &path(site), Some(token), Some(schedule))
        .await
}

fn weekly() -> Value {
    json!({"frequency": "weekly", "hour": 2, "weekday": "saturday", "time_zone": "Europe/Paris", "enabled": true})
}

async fn a_sites_backup_schedule_is_its_tenants_alone(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-backup.test", 50).await;
    let (org, _, owner) = customer(&app, &admin, "olga", "starter").await;
    let (_, _, stranger) = customer(&app, &admin, "bob", "starter").await;
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "kept.example.com"})).await;
    let (their_site, _, _) =
        create_site(&app, &stranger, json!({"domain": "theirs.example.com"})).await;

    // Nothing saved: the default.
    let res = app.get_as(&owner, &path(&site)).await;
    assert_eq!(res.status().as_u16(), 200);
    let default = body(res).await["data"].clone();
    assert_eq!(
        (
            &default["frequency"],
            &default["hour"],
            &default["time_zone"],
            &default["enabled"],
            &default["updated_at"]
        ),
        (
            &json!("daily"),
            &json!(3),
            &json!("UTC"),
            &json!(false),
            &Value::Null
        ),
        "{default}"
    );

    // Saved, it reads back.
    let res = put(&app, &owner, &site, weekly()).await;
    assert_eq!(res.status().as_u16(), 200);
    let saved = body(res).await["data"].clone();
    assert_eq!(saved["weekday"], "saturday");
    assert!(saved["updated_at"].is_string(), "{saved}");
    let shown = body(app.get_as(&owner, &path(&site)).await).await;
    assert_eq!(shown["data"], saved);

    // Every invalid field at once; nothing changes.
    let problem = assert_problem(
        put(&app, &owner, &site, json!({"frequency": "hourly", "hour": 24, "weekday": "someday", "time_zone": "Mars/Olympus Mons"})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("frequency", "INVALID_VALUE"),
            ("hour", "INVALID_VALUE"),
            ("weekday", "INVALID_VALUE"),
            ("time_zone", "INVALID_FORMAT"),
            ("enabled", "REQUIRED"),
        ],
        "{problem}"
    );
    assert_problem(
        put(
            &app,
            &owner,
            &site,
            json!({"frequency": "daily", "hour": 1, "weekday": "monday", "enabled": true}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_problem(
        put(
            &app,
            &owner,
            &site,
            json!({"frequency": "daily", "hour": 1, "enabled": true, "retention": 9}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        body(app.get_as(&owner, &path(&site)).await).await["data"],
        saved
    );

    // A viewer reads, and cannot save.
    let (_, viewer) = add_member(&app, &org, "vic", chom_kernel::Role::Viewer).await;
    assert_eq!(
        app.get_as(&viewer, &path(&site)).await.status().as_u16(),
        200
    );
    assert_problem(put(&app, &viewer, &site, weekly()).await, 403, "FORBIDDEN").await;

    // Another tenant's site, an unknown id and a malformed one: 404 for reading and writing,
    // whatever the body; without a token, 401.
    let unknown = uuid::Uuid::now_v7().to_string();
    for foreign in [their_site.as_str(), unknown.as_str(), "not-an-id"] {
        assert_problem(app.get_as(&owner, &path(foreign)).await, 404, "NOT_FOUND").await;
        assert_problem(put(&app, &owner, foreign, weekly()).await, 404, "NOT_FOUND").await;
        assert_problem(
            put(&app, &owner, foreign, json!({})).await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
    assert_problem(app.get_as(&stranger, &path(&site)).await, 404, "NOT_FOUND").await;
    assert_problem(
        put(
            &app,
            &stranger,
            &site,
            json!({"frequency": "daily", "hour": 0, "enabled": false}),
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_problem(app.get(&path(&site)).await, 401, "UNAUTHENTICATED").await;
    assert_eq!(
        body(app.get_as(&owner, &path(&site)).await).await["data"],
        saved
    );
    let theirs = body(app.get_as(&stranger, &path(&their_site)).await).await;
    assert_eq!(theirs["data"]["enabled"], false, "{theirs}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM backup_schedules").await,
        1,
        "only the owner's one save is stored"
    );
}

/// Makes `site` (created on a dead server) backup-ready: active, its provisioning ended.
pub(crate) async fn make_ready(app: &TestApp, site: &str) {
    app.exec(&format!(
        "UPDATE sites SET status = 'active' WHERE id = '{site}'"
    ))
    .await;
    app.exec(&format!(
        "UPDATE operations SET status = 'failed' WHERE site_id = '{site}'"
    ))
    .await;
}

/// A backup of `site` asked for by `token` (the site made ready first): its id.
pub(crate) async fn a_backup_of(app: &TestApp, token: &str, site: &str) -> String {
    make_ready(app, site).await;
    let res = app
        .post_as(
            token,
            &format!("/api/v1/sites/{site}/backups"),
            json!({"kind": "full"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let accepted = body(res).await;
    assert_eq!(
        accepted["data"]["backup"]["status"], "pending",
        "{accepted}"
    );
    assert_eq!(
        accepted["data"]["operation"]["kind"], "backup",
        "{accepted}"
    );
    accepted["data"]["backup"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asking for, listing, reading and deleting backups: another tenant's backup or site is 404
/// for every one of them (and stays untouched), a viewer reads but neither backs up nor
/// deletes, bad fields are 422, a site busy with an operation is 409, a running backup cannot
/// be deleted, and the plan's storage refuses a backup before it starts.
async fn backups_are_their_tenants_alone(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-backups.test", 50).await;
    let (org, _, owner) = customer(&app, &admin, "olga", "starter").await;
    let (_, _, stranger) = customer(&app, &admin, "bob", "starter").await;
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "kept.example.com"})).await;
    let (their_site, _, _) =
        create_site(&app, &stranger, json!({"domain": "theirs.example.com"})).await;

    // A site still being created cannot be backed up.
    assert_problem(
        app.post_as(
            &owner,
            &format!("/api/v1/sites/{site}/backups"),
            json!({"kind": "full"}),
        )
        .await,
        409,
        "INVALID_STATE",
    )
    .await;
    let ours = a_backup_of(&app, &owner, &site).await;
    let theirs = a_backup_of(&app, &stranger, &their_site).await;

    // Busy: the backup's operation runs on the site.
    assert_problem(
        app.post_as(
            &owner,
            &format!("/api/v1/sites/{site}/backups"),
            json!({"kind": "files"}),
        )
        .await,
        409,
        "OPERATION_IN_PROGRESS",
    )
    .await;
    // Bad fields.
    for bad in [
        json!({}),
        json!({"kind": "everything"}),
        json!({"kind": "full", "x": 1}),
    ] {
        assert_problem(
            app.post_as(&owner, &format!("/api/v1/sites/{site}/backups"), bad)
                .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
    }
    assert_problem(
        app.get_as(&owner, "/api/v1/backups?status=lost").await,
        422,
        "VALIDATION_FAILED",
    )
    .await;

    // Reading: one's own, listed and by id; filtered by site.
    let shown = body(app.get_as(&owner, &format!("/api/v1/backups/{ours}")).await).await;
    assert_eq!(shown["data"]["site_id"], site.as_str(), "{shown}");
    assert_eq!(shown["data"]["kind"], "full");
    let state = body(
        app.get_as(&owner, &format!("/api/v1/backups/{ours}/verification"))
            .await,
    )
    .await;
    assert_eq!(state["data"]["status"], "not_verified", "{state}");
    let listed = body(app.get_as(&owner, "/api/v1/backups").await).await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ours.as_str()], "only the tenant's own");
    let by_site = body(
        app.get_as(&owner, &format!("/api/v1/backups?site_id={site}&kind=full"))
            .await,
    )
    .await;
    assert_eq!(by_site["data"].as_array().unwrap().len(), 1);
    let none = body(
        app.get_as(
            &owner,
            &format!("/api/v1/backups?site_id={site}&kind=database"),
        )
        .await,
    )
    .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);

    // Another tenant's backup or site, an unknown id, a malformed one: 404 everywhere.
    let unknown = uuid::Uuid::now_v7().to_string();
    for foreign in [theirs.as_str(), unknown.as_str(), "not-an-id"] {
        for route in ["download", "verification", "restore"] {
            let res = if route != "restore" {
                app.get_as(&owner, &format!("/api/v1/backups/{foreign}/{route}"))
                    .await
            } else {
                app.post_as(
                    &owner,
                    &format!("/api/v1/backups/{foreign}/restore"),
                    json!({"dry_run": true}),
                )
                .await
            };
            assert_problem(res, 404, "NOT_FOUND").await;
        }
        assert_problem(
            app.get_as(&owner, &format!("/api/v1/backups/{foreign}"))
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_problem(
            app.send(
                Method::DELETE,
                &format!("/api/v1/backups/{foreign}"),
                Some(&owner),
                None,
            )
            .await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
    for foreign in [their_site.as_str(), unknown.as_str(), "not-an-id"] {
        assert_problem(
            app.post_as(
                &owner,
                &format!("/api/v1/sites/{foreign}/backups"),
                json!({"kind": "full"}),
            )
            .await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_problem(
            app.get_as(&owner, &format!("/api/v1/backups?site_id={foreign}"))
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
    let still = body(
        app.get_as(&stranger, &format!("/api/v1/backups/{theirs}"))
            .await,
    )
    .await;
    assert!(
        ["pending", "running"].contains(&still["data"]["status"].as_str().unwrap()),
        "the foreign backup is untouched (its job runs): {still}"
    );

    // A viewer reads; it neither backs up nor deletes. A member backs up but does not delete.
    let (_, viewer) = add_member(&app, &org, "vic", chom_kernel::Role::Viewer).await;
    assert_eq!(
        app.get_as(&viewer, &format!("/api/v1/backups/{ours}"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.post_as(
            &viewer,
            &format!("/api/v1/sites/{site}/backups"),
            json!({"kind": "full"}),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let (_, member) = add_member(&app, &org, "mel", chom_kernel::Role::Member).await;
    for token in [&viewer, &member] {
        assert_problem(
            app.send(
                Method::DELETE,
                &format!("/api/v1/backups/{ours}"),
                Some(token),
                None,
            )
            .await,
            403,
            "FORBIDDEN",
        )
        .await;
    }
    // A backup not finished cannot be deleted.
    app.exec(&format!(
        "UPDATE backups SET status = 'running' WHERE id = '{ours}'"
    ))
    .await;
    assert_problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/backups/{ours}"),
            Some(&owner),
            None,
        )
        .await,
        409,
        "BACKUP_NOT_COMPLETED",
    )
    .await;
    // Once failed, the owner deletes it: expired, and it stops counting.
    app.exec(&format!(
        "UPDATE backups SET status = 'failed' WHERE id = '{ours}'"
    ))
    .await;
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/backups/{ours}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["status"], "expired");

    // The plan's storage: the site measured at 11 GB on a 10 GB plan is refused up front.
    make_ready(&app, &site).await;
    app.exec("UPDATE plans SET max_storage_gb = 10 WHERE code = 'starter'")
        .await;
    app.exec(&format!(
        "UPDATE sites SET storage_used_mb = 11264 WHERE id = '{site}'"
    ))
    .await;
    let problem = assert_problem(
        app.post_as(
            &owner,
            &format!("/api/v1/sites/{site}/backups"),
            json!({"kind": "full"}),
        )
        .await,
        403,
        "STORAGE_LIMIT_EXCEEDED",
    )
    .await;
    assert_eq!(problem["limit_bytes"], 10_i64 << 30, "{problem}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM backups WHERE site_id = '{site}'"
        ))
        .await,
        1,
        "nothing was started"
    );
}

/// The scheduling job with a fixed clock: a due daily schedule gets one backup per occurrence
/// (not two on the next tick), a disabled one none, a second due site on the same server waits
/// for the server's limit, and a backup the plan's storage refuses is recorded as failed, once.
/// (No repository server here: each started backup fails at once, `REPOSITORY_NOT_CONFIGURED`,
/// which frees its server deterministically.)
async fn scheduled_backups_start_when_due_once_per_server_limit(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.backup.max_per_server = 1;
        s.backup.listen = String::new();
    })
    .await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-sched.test", 50).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    let mut sites = Vec::new();
    for name in ["one", "two", "off"] {
        let (site, _, _) = create_site(
            &app,
            &owner,
            json!({"domain": format!("{name}.example.com")}),
        )
        .await;
        make_ready(&app, &site).await;
        let enabled = name != "off";
        let res = put(
            &app,
            &owner,
            &site,
            json!({"frequency": "daily", "hour": 3, "enabled": enabled}),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        sites.push(site);
    }
    let failed_backups = || async {
        app.count("SELECT COUNT(*) FROM backups WHERE trigger = 'scheduled' AND status = 'failed'")
            .await
    };
    let settle = |n: i64| async move {
        for _ in 0..200 {
            if failed_backups().await == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{n} scheduled backups did not fail in time");
    };
    // Two days on, an hour after the 03:00 occurrence (each site starts within that hour).
    let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(2);
    let at = day.with_hms(4, 0, 0).unwrap().assume_utc();
    let backups = &app.app_services.core.backups;
    let tick = backups.schedule_due(at).await.unwrap();
    assert_eq!(
        (tick.started, tick.deferred, tick.refused),
        (1, 1, 0),
        "the server's limit: {tick:?}"
    );
    settle(1).await;
    // Next tick: the started one is not made again; the waiting one starts.
    let tick = backups
        .schedule_due(at + time::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        (tick.started, tick.deferred, tick.refused),
        (1, 0, 0),
        "{tick:?}"
    );
    settle(2).await;
    let tick = backups
        .schedule_due(at + time::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        (tick.started, tick.deferred, tick.refused),
        (0, 0, 0),
        "once per occurrence: {tick:?}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM backups WHERE site_id = '{}'",
            sites[2]
        ))
        .await,
        0,
        "a disabled schedule starts nothing"
    );
    let failed = body(app.get_as(&owner, "/api/v1/backups?status=failed").await).await;
    assert!(
        failed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["trigger"] == "scheduled"
                && b["error"]
                    .as_str()
                    .unwrap()
                    .contains("REPOSITORY_NOT_CONFIGURED")),
        "{failed}"
    );
    // The next day, the plan's storage is used up: both are refused up front, recorded once.
    app.exec("UPDATE plans SET max_storage_gb = 10 WHERE code = 'starter'")
        .await;
    app.exec("UPDATE sites SET storage_used_mb = 11264").await;
    app.exec("UPDATE operations SET status = 'failed'").await;
    let next = at + time::Duration::days(1);
    let tick = backups.schedule_due(next).await.unwrap();
    assert_eq!((tick.started, tick.refused), (0, 2), "{tick:?}");
    let tick = backups
        .schedule_due(next + time::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        (tick.started, tick.refused),
        (0, 0),
        "recorded once: {tick:?}"
    );
    let refused = app
        .count("SELECT COUNT(*) FROM backups WHERE error LIKE 'STORAGE_LIMIT_EXCEEDED%'")
        .await;
    assert_eq!(refused, 2);
}

/// No silent failures: a failed backup and a site past its schedule's deadline each e-mail the
/// organization's owners and admins, once (a second watch of the same missed occurrence sends
/// nothing), and never its members; a schedule saved after its latest occurrence is not
/// overdue yet.
async fn failed_and_missing_backups_are_told_to_owners_and_admins(db: Db) {
    use chom_backup::service::Watched;
    let app = spawn_app_with(db, |s| s.backup.listen = String::new()).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-alert.test", 50).await;
    let (org, _, owner) = customer(&app, &admin, "alma", "starter").await;
    add_member(&app, &org, "alex", chom_kernel::Role::Admin).await;
    add_member(&app, &org, "milo", chom_kernel::Role::Member).await;
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "alerts.example.com"})).await;

    // A backup fails (no repository server is reachable): the owner and the admin are told.
    let backup = a_backup_of(&app, &owner, &site).await;
    for who in ["alma", "alex"] {
        let mail = app
            .smtp
            .wait_for(
                &format!("{who}@example.com"),
                "Backup failed: alerts.example.com",
            )
            .await;
        assert!(mail.data.contains(&backup), "{}", mail.data);
        assert!(
            mail.data.contains("REPOSITORY_NOT_CONFIGURED"),
            "{}",
            mail.data
        );
    }

    // A schedule saved now has no missed occurrence yet.
    let res = put(
        &app,
        &owner,
        &site,
        json!({"frequency": "daily", "hour": 3, "enabled": true}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    let backups = &app.app_services.core.backups;
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(backups.watch(now).await.unwrap(), Watched::default());
    // Two days on, past that day's 03:00 deadline, no backup completed: overdue, alerted once.
    let day = now.date() + time::Duration::days(2);
    let at = day.with_hms(12, 0, 0).unwrap().assume_utc();
    let watched = backups.watch(at).await.unwrap();
    assert_eq!((watched.overdue, watched.alerted), (1, 1), "{watched:?}");
    let watched = backups
        .watch(at + time::Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(
        (watched.overdue, watched.alerted),
        (1, 0),
        "the same occurrence is alerted once: {watched:?}"
    );
    for who in ["alma", "alex"] {
        app.smtp
            .wait_for(
                &format!("{who}@example.com"),
                "No recent backup: alerts.example.com",
            )
            .await;
    }
    let pending = "SELECT COUNT(*) FROM jobs WHERE kind IN ('backup::send_alert', 'backup::mail_alert') AND state <> 'done'";
    for _ in 0..200 {
        if app.count(pending).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.count(pending).await, 0, "every alert sent");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'backup::send_alert'")
            .await,
        2,
        "one failure, one missed occurrence"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'backup::mail_alert'")
            .await,
        4,
        "one e-mail job per alert and recipient (owner, admin)"
    );
    for who in ["alma", "alex"] {
        assert_eq!(
            app.smtp
                .for_recipient(&format!("{who}@example.com"))
                .iter()
                .filter(|m| m.subject().contains("alerts.example.com"))
                .count(),
            2,
            "{who}: one e-mail per alert"
        );
    }
    assert!(
        app.smtp.for_recipient("milo@example.com").is_empty(),
        "members are not alerted"
    );
}

/// A backup its job gives up on is recorded failed and alerted, never left running: while
/// attempts remain, an unreachable server is retried (the backup stays running); at the last
/// attempt the backup fails with the reason, and one alert is queued; a further run changes
/// nothing.
async fn a_backup_its_job_gives_up_on_is_failed_and_alerted(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-giveup.test", 50).await;
    let (_, tenant, owner) = customer(&app, &admin, "gina", "starter").await;
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "giveup.example.com"})).await;
    let backup = a_backup_of(&app, &owner, &site).await;
    // The worker's first attempt meets the dead server and queues a retry; the test then
    // takes the job over (its row removed) and runs the remaining attempts itself.
    let retried = "SELECT COUNT(*) FROM jobs WHERE kind = 'backup::run' AND state = 'queued' AND attempt >= 1";
    let mut waited = 0;
    while app.count(retried).await == 0 && waited < 400 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(
        app.count(retried).await,
        1,
        "the first attempt asks for a retry"
    );
    app.exec("DELETE FROM jobs WHERE kind = 'backup::run'")
        .await;
    let shown = || async {
        body(
            app.get_as(&owner, &format!("/api/v1/backups/{backup}"))
                .await,
        )
        .await["data"]
            .clone()
    };
    assert_eq!(
        shown().await["status"],
        "running",
        "not failed while attempts remain"
    );
    let alerts = "SELECT COUNT(*) FROM jobs WHERE kind = 'backup::send_alert'";
    assert_eq!(app.count(alerts).await, 0, "no alert while attempts remain");

    let job = chom_backup::BackupJob {
        tenant_id: tenant.parse().unwrap(),
        backup_id: backup.parse().unwrap(),
    };
    let backups = &app.app_services.core.backups;
    let again = backups.run_backup(&job, false).await;
    assert!(
        matches!(again, Err(chom_backup::JobOutcome::Retry(_))),
        "still retried before the last attempt: {again:?}"
    );
    backups.run_backup(&job, true).await.unwrap();
    let failed = shown().await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        !failed["error"].as_str().unwrap_or_default().is_empty(),
        "the reason is kept: {failed}"
    );
    assert_eq!(app.count(alerts).await, 1, "one alert for the failure");
    backups.run_backup(&job, true).await.unwrap();
    assert_eq!(shown().await["status"], "failed");
    assert_eq!(app.count(alerts).await, 1, "nothing more");
}

/// Retention with a fixed clock, records and repository: ten daily backups of a starter site
/// (7 days, 7 daily) made with the stock restic into the app's own repository server; pruning
/// expires exactly the 3 oldest records and forgets exactly their snapshots; the 7 kept ones
/// stay restorable; a second run does nothing.
async fn retention_prunes_records_and_snapshots_exactly(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    let app = spawn_app_with(db, move |s| s.backup.repository_root = root).await;
    let site = retention_exactly(&app).await;
    let snapshots = std::fs::read_dir(work.path().join(&site).join("snapshots")).unwrap();
    assert_eq!(snapshots.count(), 7, "on the app's disk");
}

/// The same with the repositories in an S3 bucket (a local moto server): the stock restic
/// and the pruning speak to the app's REST server, which keeps every file in the bucket and
/// none on its disk.
async fn retention_in_an_s3_bucket(db: Db) {
    use chom_runtime::config::RepositoryStorage;
    use chom_test_support::s3::Moto;
    let s3 = Moto::start().await;
    let endpoint = s3.endpoint();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().to_path_buf();
    let app = spawn_app_with(db, move |s| {
        s.backup.repository_root = root;
        s.backup.storage = RepositoryStorage::S3;
        s.backup.s3.endpoint = endpoint;
        s.backup.s3.bucket = chom_test_support::s3::BUCKET.into();
        s.backup.s3.access_key = "chom".into();
        s.backup.s3.secret_key = Some("secret".to_owned().into());
        s.backup.s3.path_style = true;
    })
    .await;
    let site = retention_exactly(&app).await;
    let keys = s3.keys(&format!("chom/{site}/snapshots/")).await;
    assert_eq!(keys.len(), 7, "in the bucket: {keys:?}");
    assert!(
        !work.path().join(&site).exists(),
        "no repository on the app's disk"
    );
}

/// Ten daily backups of a starter site in `app`'s repository server, pruned at a fixed clock;
/// returns the site's id.
async fn retention_exactly(app: &TestApp) -> String {
    let admin = super_admin(app).await;
    dead_server(app, &admin, "vps-prune.test", 50).await;
    let (_, tenant, owner) = customer(app, &admin, "olga", "starter").await;
    let (site, _, _) = create_site(app, &owner, json!({"domain": "kept.example.com"})).await;
    make_ready(app, &site).await;
    let repo = body(
        app.get_as(&owner, &format!("/api/v1/sites/{site}/backup-repository"))
            .await,
    )
    .await["data"]
        .clone();
    let restic = |args: &[&str], input: &[u8]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new("restic")
            .args(["--no-cache", "--json"])
            .args(args)
            .env("RESTIC_REPOSITORY", repo["location"].as_str().unwrap())
            .env("RESTIC_PASSWORD", repo["password"].as_str().unwrap())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    restic(&["init"], b"");
    let newest = time::OffsetDateTime::now_utc()
        .date()
        .with_hms(3, 0, 0)
        .unwrap()
        .assume_utc();
    let mut ids = Vec::new();
    for day in 0..10 {
        let id = uuid::Uuid::now_v7().to_string();
        restic(
            &[
                "backup",
                "--stdin",
                "--stdin-filename",
                "db.sql",
                &format!("--tag=chom-backup={id},part=database"),
            ],
            format!("day {day}").as_bytes(),
        );
        let at = newest - time::Duration::days(day);
        let created = match app.db {
            Db::Postgres => format!(
                "'{}'",
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap()
            ),
            Db::Sqlite => (at.unix_timestamp() * 1000).to_string(),
        };
        app.exec(&format!(
            "INSERT INTO backups (id, tenant_id, site_id, kind, status, trigger, created_at, parts, added_bytes)
             VALUES ('{id}', '{tenant}', '{site}', 'full', 'completed', 'scheduled', {created}, '[]', 1)"
        ))
        .await;
        ids.push(id);
    }
    let backups = &app.app_services.core.backups;
    let now = newest + time::Duration::hours(1);
    let pruned = backups.prune(now).await.unwrap();
    assert_eq!(
        (pruned.expired, pruned.forgotten, pruned.failed),
        (3, 3, 0),
        "{pruned:?}"
    );
    for (day, id) in ids.iter().enumerate() {
        let shown = body(app.get_as(&owner, &format!("/api/v1/backups/{id}")).await).await;
        let want = if day < 7 { "completed" } else { "expired" };
        assert_eq!(shown["data"]["status"], want, "day {day}: {shown}");
    }
    let left: serde_json::Value = serde_json::from_str(restic(&["snapshots"], b"").trim()).unwrap();
    let mut tags: Vec<String> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["tags"][0]
                .as_str()
                .unwrap()
                .trim_start_matches("chom-backup=")
                .to_owned()
        })
        .collect();
    tags.sort();
    let mut kept: Vec<String> = ids[..7].to_vec();
    kept.sort();
    assert_eq!(tags, kept, "exactly the kept backups' snapshots are left");
    restic(&["check"], b"");
    let again = backups
        .prune(now + time::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        (again.expired, again.forgotten, again.failed),
        (0, 0, 0),
        "{again:?}"
    );
    site
}

crate::both_backends!(
    a_sites_backup_schedule_is_its_tenants_alone,
    backups_are_their_tenants_alone,
    scheduled_backups_start_when_due_once_per_server_limit,
    retention_prunes_records_and_snapshots_exactly,
    retention_in_an_s3_bucket,
    failed_and_missing_backups_are_told_to_owners_and_admins,
    a_backup_its_job_gives_up_on_is_failed_and_alerted
);
