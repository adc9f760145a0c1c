use crate::helpers::{Db, assert_problem, spawn_app, spawn_app_with};
use secrecy::SecretString;

async fn liveness_answers_200(db: Db) {
    let app = spawn_app(db).await;
    let res = app.get("/health/live").await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "alive"
    );
}

async fn readiness_checks_database_cache_and_queue(db: Db) {
    let app = spawn_app(db).await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let backend = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    assert_eq!(body["checks"]["database"]["backend"], backend);
    assert_eq!(body["checks"]["queue"]["status"], "ok");
    assert_eq!(body["checks"]["cache"]["backend"], "redis");
    assert_eq!(body["checks"]["cache"]["status"], "ok");
}

/// M6: a Redis outage degrades readiness (200, `degraded`) instead of taking the replica out,
/// and requests that use the cache (sessions, rate limits) keep working on the fallback.
async fn m6_readiness_is_degraded_not_failed_when_redis_is_down(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.redis.url = Some(SecretString::from("redis://127.0.0.1:1".to_owned()));
    })
    .await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["cache"]["status"], "failed");
    // Rate-limited, session-cached routes still answer.
    let token = crate::helpers::super_admin_token(&app).await;
    assert_eq!(
        app.get_as(&token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200
    );
    let res = app
        .post(
            "/api/v1/auth/forgot-password",
            serde_json::json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
}

crate::both_backends!(
    liveness_answers_200,
    readiness_checks_database_cache_and_queue,
    m6_readiness_is_degraded_not_failed_when_redis_is_down,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_naming_the_database_when_postgres_is_gone() {
    let mut app = spawn_app(Db::Postgres).await;
    assert_eq!(app.get("/health/ready").await.status().as_u16(), 200);
    // Drop the database under the running app (WITH (FORCE) ends its connections).
    drop(app.pg.take());
    let res = app.get("/health/ready").await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_problem(res, 503, "NOT_READY").await;
    let failed = body["failed"].as_array().unwrap();
    assert!(failed.contains(&"database".into()), "{body}");
    assert!(failed.contains(&"queue".into()), "{body}");
    assert_eq!(body["checks"]["cache"]["status"], "ok");
}
