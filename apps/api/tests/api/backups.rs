//! Backup schedules over HTTP on both backends: the default, a save that reads back, every
//! invalid field at once, a viewer who reads but cannot save, and another tenant's (or an
//! unknown) site answering 404 for reading and writing without its schedule changing.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
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

crate::both_backends!(a_sites_backup_schedule_is_its_tenants_alone);
