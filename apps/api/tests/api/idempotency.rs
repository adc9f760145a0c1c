//! `Idempotency-Key` over HTTP on both backends: a repeated POST replays the first answer
//! (token creation, site creation, a site operation) without acting twice; a key reused for
//! another request, a key still in flight, a malformed key are refused with their codes; errors
//! release the key; one caller never sees another's answers; expired keys are purged by the
//! prune-jobs job.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
use crate::identity::{PASSWORD, login, onboard, super_admin};
use crate::sites::{body, create_site, customer};
use chom_kernel::idempotency::{Claim, Fingerprint, IdempotencyKey, NewClaim};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A POST with a bearer token and an `Idempotency-Key`.
async fn post_keyed(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    json_body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(json_body)
        .send()
        .await
        .expect("request")
}

/// Status, the replay marker, `Location`, and the body bytes.
async fn parts(res: reqwest::Response) -> (u16, bool, Option<String>, Vec<u8>) {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned)
    };
    let replayed = match header("idempotent-replayed").as_deref() {
        None => false,
        Some("true") => true,
        Some(other) => panic!("Idempotent-Replayed: {other}"),
    };
    let location = header("location");
    let content_type = header("content-type");
    let bytes = res.bytes().await.expect("body").to_vec();
    if status < 300 && !bytes.is_empty() {
        assert_eq!(content_type.as_deref(), Some("application/json"));
    }
    (status, replayed, location, bytes)
}

/// A server placement will use, that nobody answers on (its jobs retry in the background).
async fn dead_server(app: &TestApp, admin: &str) {
    let res = app
        .post_as(
            admin,
            "/api/v1/admin/vps",
            json!({"hostname": "vps-a.test", "ip_address": "127.0.0.1", "ssh_port": 1, "provider": "test",
                "cpu_cores": 1, "memory_mb": 1024, "disk_gb": 10, "allocation": "shared", "max_sites": 50}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let id = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    app.exec(&format!(
        "UPDATE vps_servers SET host_key = 'ssh-ed25519 AAAAtest', health = 'healthy' WHERE id = '{id}'"
    ))
    .await;
}

async fn tokens_named(app: &TestApp, token: &str, name: &str) -> usize {
    let list = body(app.get_as(token, "/api/v1/auth/tokens").await).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == name)
        .count()
}

async fn keys_stored(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM idempotency_keys").await
}

/// Token creation: the retry answers the same 201 and the same secret, one token exists, and
/// the secret is sealed at rest.
async fn a_token_creation_is_replayed_not_repeated(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, owner) = onboard(&app, &admin, "olga").await;
    let spec = json!({"name": "ci", "abilities": ["read"]});
    let first = parts(post_keyed(&app, &owner, "/api/v1/auth/tokens", "key-1", &spec).await).await;
    assert_eq!((first.0, first.1), (201, false));
    let again = parts(post_keyed(&app, &owner, "/api/v1/auth/tokens", "key-1", &spec).await).await;
    assert_eq!((again.0, again.1), (201, true));
    assert_eq!(
        again.3, first.3,
        "the replay is the first answer, byte for byte"
    );
    assert_eq!(tokens_named(&app, &owner, "ci").await, 1);
    // The replayed secret is the live token's.
    let issued: Value = serde_json::from_slice(&again.3).unwrap();
    let secret = issued["data"]["token"].as_str().unwrap();
    assert_eq!(
        app.get_as(secret, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200
    );
    // The kept answer holds the secret sealed: neither its text nor its bytes are in the
    // database (PostgreSQL dumps bytea as lower-case hex, SQLite as upper-case).
    let dump = app.dump().await;
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!dump.contains(secret));
    assert!(!dump.contains(&hex) && !dump.contains(&hex.to_uppercase()));
    assert_eq!(keys_stored(&app).await, 1);
    // Without a key, the same request acts again.
    let res = app.post_as(&owner, "/api/v1/auth/tokens", spec).await;
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(tokens_named(&app, &owner, "ci").await, 2);
}

/// Site creation: the retry answers the same 202 and `Location`; one site, one provisioning.
async fn a_site_creation_is_replayed_with_its_location(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin).await;
    let spec = json!({"domain": "shop.example.com", "site_type": "html"});
    let key = "9b2f7c1e-5d0a-4c1b-8e3f-2a6d4b9c0e17";
    let first = parts(post_keyed(&app, &owner, "/api/v1/sites", key, &spec).await).await;
    assert_eq!((first.0, first.1), (202, false));
    let location = first.2.clone().expect("Location");
    assert!(location.starts_with("/api/v1/operations/"), "{location}");
    for _ in 0..2 {
        let again = parts(post_keyed(&app, &owner, "/api/v1/sites", key, &spec).await).await;
        assert_eq!((again.0, again.1), (202, true));
        assert_eq!(again.2.as_deref(), Some(location.as_str()));
        assert_eq!(again.3, first.3);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM operations").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation'")
            .await,
        1
    );
}

/// A site operation (retry of a failed provisioning): the retry of the request replays the 202
/// (run again, it would meet its own operation: 409 `OPERATION_IN_PROGRESS`); one operation.
async fn an_operation_is_created_once(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin).await;
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "lost.example.com"})).await;
    // Its provisioning job dies: the reaper fails the site, which may then be retried.
    app.exec("UPDATE jobs SET state = 'dead' WHERE kind = 'site_hosting::run_operation'")
        .await;
    assert_eq!(app.app_services.sites.reap_abandoned().await.unwrap(), 1);
    let path = format!("/api/v1/sites/{site}/retry");
    let first = parts(post_keyed(&app, &owner, &path, "retry-1", &json!({})).await).await;
    assert_eq!((first.0, first.1), (202, false));
    let again = parts(post_keyed(&app, &owner, &path, "retry-1", &json!({})).await).await;
    assert_eq!((again.0, again.1), (202, true));
    assert_eq!(again.3, first.3);
    assert_eq!(again.2, first.2);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM operations WHERE site_id = '{site}'"
        ))
        .await,
        2,
        "the provisioning and one retry"
    );
}

/// A key reused with another body or another route is 422; nothing more is created.
async fn a_key_reused_for_another_request_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin).await;
    let spec = json!({"name": "ci", "abilities": ["read"]});
    let res = post_keyed(&app, &owner, "/api/v1/auth/tokens", "k", &spec).await;
    assert_eq!(res.status().as_u16(), 201);
    let other = json!({"name": "ci", "abilities": ["write"]});
    assert_problem(
        post_keyed(&app, &owner, "/api/v1/auth/tokens", "k", &other).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_problem(
        post_keyed(
            &app,
            &owner,
            "/api/v1/sites",
            "k",
            &json!({"domain": "a.example.com"}),
        )
        .await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // The tenant header is part of the request too (here naming the default tenant).
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/tokens"))
        .bearer_auth(&owner)
        .header("Idempotency-Key", "k")
        .json(&spec);
    let me = body(app.get_as(&owner, "/api/v1/auth/me").await).await;
    req = req.header("X-Tenant-Id", me["data"]["tenant"]["id"].as_str().unwrap());
    assert_problem(req.send().await.unwrap(), 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(tokens_named(&app, &owner, "ci").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 0);
}

/// Requests sent at once with one key: one acts; every other answer is its replay or 409
/// `IDEMPOTENCY_KEY_IN_USE` with `Retry-After: 1`.
async fn concurrent_requests_with_one_key_have_one_effect(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin).await;
    let spec = json!({"domain": "race.example.com", "site_type": "html"});
    let attempts = (0..6).map(|_| {
        let (app, owner, spec) = (&app, owner.clone(), spec.clone());
        async move {
            let res = post_keyed(app, &owner, "/api/v1/sites", "race", &spec).await;
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let (status, replayed, _, bytes) = parts(res).await;
            (status, replayed, retry_after, bytes)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut originals = 0;
    for (status, replayed, retry_after, bytes) in &answers {
        match (status, replayed) {
            (202, false) => originals += 1,
            (202, true) => {}
            (409, false) => {
                let problem: Value = serde_json::from_slice(bytes).unwrap();
                assert_eq!(problem["code"], "IDEMPOTENCY_KEY_IN_USE", "{problem}");
                assert_eq!(retry_after.as_deref(), Some("1"));
            }
            other => panic!(
                "unexpected answer {other:?}: {}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }
    assert_eq!(originals, 1, "exactly one request ran");
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM operations").await, 1);
}

/// A request whose key is held: 409 while the holder runs, 422 for another request; an
/// abandoned hold is taken over by the same request, and the old holder can no longer record
/// its answer over the new one.
async fn a_key_in_flight_is_busy_until_abandoned(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin).await;
    let spec = json!({"domain": "slow.example.com"});
    // Another replica holds the key for this very request (same fingerprint).
    let token_id = uuid::Uuid::try_parse(owner.split_once('.').unwrap().0).unwrap();
    let caller = chom_api::idempotency::caller(token_id);
    let key = IdempotencyKey::parse(b"held").unwrap();
    let store = app.app_services.idempotency.store().clone();
    let old_lock = uuid::Uuid::new_v4();
    let fingerprint = Fingerprint::of(
        "POST",
        "/api/v1/sites",
        None,
        &serde_json::to_vec(&spec).unwrap(),
    );
    let claim = NewClaim {
        caller: &caller,
        key: &key,
        fingerprint,
        lock: old_lock,
        now: time::OffsetDateTime::now_utc(),
    };
    assert_eq!(store.claim(&claim).await.unwrap(), Claim::Acquired);

    let res = post_keyed(&app, &owner, "/api/v1/sites", "held", &spec).await;
    assert_eq!(
        res.headers().get("retry-after").unwrap().to_str().unwrap(),
        "1"
    );
    assert_problem(res, 409, "IDEMPOTENCY_KEY_IN_USE").await;
    assert_problem(
        post_keyed(
            &app,
            &owner,
            "/api/v1/sites",
            "held",
            &json!({"domain": "other.example.com"}),
        )
        .await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 0);

    // The holder died two minutes ago: the retry takes the key over and acts once.
    let past = match db {
        Db::Sqlite => format!(
            "UPDATE idempotency_keys SET locked_at = locked_at - {}",
            121_000
        ),
        Db::Postgres => {
            "UPDATE idempotency_keys SET locked_at = locked_at - interval '121 seconds'".to_owned()
        }
    };
    app.exec(&past).await;
    let taken = parts(post_keyed(&app, &owner, "/api/v1/sites", "held", &spec).await).await;
    assert_eq!((taken.0, taken.1), (202, false));
    let again = parts(post_keyed(&app, &owner, "/api/v1/sites", "held", &spec).await).await;
    assert_eq!((again.0, again.1, &again.3), (202, true, &taken.3));
    // The old holder comes back: its answer and its release are refused.
    let stale = chom_kernel::idempotency::StoredResponse {
        status: 500,
        headers: Vec::new(),
        body: b"stale".to_vec(),
    };
    let now = time::OffsetDateTime::now_utc();
    assert!(
        !store
            .complete(&caller, &key, old_lock, &stale, now)
            .await
            .unwrap()
    );
    assert!(!store.release(&caller, &key, old_lock).await.unwrap());
    let replay = parts(post_keyed(&app, &owner, "/api/v1/sites", "held", &spec).await).await;
    assert_eq!((replay.0, replay.1, replay.3), (202, true, taken.3));
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 1);
}

/// Malformed keys are 400 `INVALID_IDEMPOTENCY_KEY` and nothing runs; on unauthenticated
/// routes the header is ignored (documented).
async fn malformed_keys_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (person, owner) = onboard(&app, &admin, "olga").await;
    let spec = json!({"name": "ci", "abilities": ["read"]});
    let too_long = "k".repeat(256);
    for bad in [
        &b""[..],
        too_long.as_bytes(),
        "clé".as_bytes(),
        b"tab\there",
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/tokens"))
            .bearer_auth(&owner)
            .header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(bad).unwrap(),
            )
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "INVALID_IDEMPOTENCY_KEY").await;
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/tokens"))
        .bearer_auth(&owner)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "INVALID_IDEMPOTENCY_KEY").await;
    assert_eq!(tokens_named(&app, &owner, "ci").await, 0);
    // The longest key is fine.
    let longest = "k".repeat(255);
    let res = post_keyed(&app, &owner, "/api/v1/auth/tokens", &longest, &spec).await;
    assert_eq!(res.status().as_u16(), 201);
    // Login is not covered: two logins with one key are two sessions, nothing is kept.
    let login = json!({"email": person.email, "password": PASSWORD});
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("Idempotency-Key", "login")
            .json(&login)
            .send()
            .await
            .unwrap();
        let (status, replayed, _, bytes) = parts(res).await;
        assert_eq!((status, replayed), (200, false));
        let b: Value = serde_json::from_slice(&bytes).unwrap();
        sessions.push(b["data"]["token"]["token"].as_str().unwrap().to_owned());
    }
    assert_ne!(sessions[0], sessions[1]);
    assert_eq!(keys_stored(&app).await, 1);
}

/// An error changes nothing, so its key is released: a 5xx (no capacity) or a 4xx (invalid
/// domain) and then the corrected request under the same key acts.
async fn errors_release_the_key(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    let spec = json!({"domain": "later.example.com"});
    // No server yet: 503.
    assert_problem(
        post_keyed(&app, &owner, "/api/v1/sites", "k1", &spec).await,
        503,
        "NO_CAPACITY",
    )
    .await;
    assert_eq!(keys_stored(&app).await, 0);
    dead_server(&app, &admin).await;
    let res = parts(post_keyed(&app, &owner, "/api/v1/sites", "k1", &spec).await).await;
    assert_eq!(
        (res.0, res.1),
        (202, false),
        "the same key acts once it can"
    );
    // A refused body, then the corrected one under the same key.
    assert_problem(
        post_keyed(
            &app,
            &owner,
            "/api/v1/sites",
            "k2",
            &json!({"domain": "bad domain"}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let res = parts(
        post_keyed(
            &app,
            &owner,
            "/api/v1/sites",
            "k2",
            &json!({"domain": "good.example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!((res.0, res.1), (202, false));
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 2);
    assert_eq!(keys_stored(&app).await, 2);
}

/// Keys belong to a token: another user, and another token of the same user, with the same key
/// and body get their own answer; a token that no longer authenticates replays nothing.
async fn another_caller_never_sees_the_answer(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (olga, owner) = onboard(&app, &admin, "olga").await;
    let (_, stranger) = onboard(&app, &admin, "sam").await;
    let spec = json!({"name": "ci", "abilities": ["read"]});
    let first = parts(post_keyed(&app, &owner, "/api/v1/auth/tokens", "shared", &spec).await).await;
    assert_eq!((first.0, first.1), (201, false));
    let theirs =
        parts(post_keyed(&app, &stranger, "/api/v1/auth/tokens", "shared", &spec).await).await;
    assert_eq!((theirs.0, theirs.1), (201, false));
    assert_ne!(theirs.3, first.3);
    assert_eq!(tokens_named(&app, &stranger, "ci").await, 1);
    let second_session = login(&app, &olga.email, PASSWORD).await;
    let mine = parts(
        post_keyed(
            &app,
            &second_session,
            "/api/v1/auth/tokens",
            "shared",
            &spec,
        )
        .await,
    )
    .await;
    assert_eq!((mine.0, mine.1), (201, false));
    assert_ne!(mine.3, first.3);
    assert_eq!(tokens_named(&app, &owner, "ci").await, 2);
    // Logged out, the first token cannot fetch its kept answer (it held a secret).
    let res = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&owner), None)
        .await;
    assert!(res.status().is_success());
    let res = post_keyed(&app, &owner, "/api/v1/auth/tokens", "shared", &spec).await;
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_problem(res, 401, "UNAUTHENTICATED").await;
}

/// Kept answers live 24 hours: an expired key is free again, and the prune-jobs job deletes
/// expired records (and only those).
async fn expired_keys_are_purged_by_prune_jobs(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, owner) = onboard(&app, &admin, "olga").await;
    for key in ["old", "fresh"] {
        let res = post_keyed(
            &app,
            &owner,
            "/api/v1/auth/tokens",
            key,
            &json!({"name": key, "abilities": ["read"]}),
        )
        .await;
        assert_eq!(res.status().as_u16(), 201);
    }
    let expire = match db {
        Db::Sqlite => {
            "UPDATE idempotency_keys SET expires_at = expires_at - 86400001 WHERE idempotency_key = 'old'"
        }
        Db::Postgres => {
            "UPDATE idempotency_keys SET expires_at = expires_at - interval '24 hours 1 second' WHERE idempotency_key = 'old'"
        }
    };
    app.exec(expire).await;
    assert_eq!(keys_stored(&app).await, 2);
    app.app_services
        .queue
        .enqueue(chom_kernel::jobs::NewJob::new(
            chom_api::jobs::PRUNE_JOBS,
            json!({}),
        ))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while keys_stored(&app).await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired key was not purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM idempotency_keys WHERE idempotency_key = 'fresh'")
            .await,
        1
    );
    // The fresh key still replays; the purged one acts again (a new token).
    let res = parts(
        post_keyed(
            &app,
            &owner,
            "/api/v1/auth/tokens",
            "fresh",
            &json!({"name": "fresh", "abilities": ["read"]}),
        )
        .await,
    )
    .await;
    assert_eq!((res.0, res.1), (201, true));
    let res = parts(
        post_keyed(
            &app,
            &owner,
            "/api/v1/auth/tokens",
            "old",
            &json!({"name": "old", "abilities": ["read"]}),
        )
        .await,
    )
    .await;
    assert_eq!((res.0, res.1), (201, false));
    assert_eq!(tokens_named(&app, &owner, "old").await, 2);
}

/// An expired record counts as absent even before the purge: the key is free for any request.
async fn an_expired_key_is_free_before_the_purge(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, owner) = onboard(&app, &admin, "olga").await;
    let spec = json!({"name": "a", "abilities": ["read"]});
    let res = post_keyed(&app, &owner, "/api/v1/auth/tokens", "k", &spec).await;
    assert_eq!(res.status().as_u16(), 201);
    let expire = match db {
        Db::Sqlite => "UPDATE idempotency_keys SET expires_at = expires_at - 86400001",
        Db::Postgres => {
            "UPDATE idempotency_keys SET expires_at = expires_at - interval '24 hours 1 second'"
        }
    };
    app.exec(expire).await;
    let other = json!({"name": "b", "abilities": ["read"]});
    let res = parts(post_keyed(&app, &owner, "/api/v1/auth/tokens", "k", &other).await).await;
    assert_eq!((res.0, res.1), (201, false));
    assert_eq!(keys_stored(&app).await, 1);
}

crate::both_backends!(
    a_token_creation_is_replayed_not_repeated,
    a_site_creation_is_replayed_with_its_location,
    an_operation_is_created_once,
    a_key_reused_for_another_request_is_refused,
    concurrent_requests_with_one_key_have_one_effect,
    a_key_in_flight_is_busy_until_abandoned,
    malformed_keys_are_refused,
    errors_release_the_key,
    another_caller_never_sees_the_answer,
    expired_keys_are_purged_by_prune_jobs,
    an_expired_key_is_free_before_the_purge,
);
