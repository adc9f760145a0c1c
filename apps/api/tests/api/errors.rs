use crate::helpers::{Db, assert_problem, spawn_app};

async fn an_unknown_route_is_a_404_problem(db: Db) {
    let app = spawn_app(db).await;
    let body = assert_problem(app.get("/api/v1/no-such-thing").await, 404, "NOT_FOUND").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/no-such-thing")
    );
}

crate::both_backends!(an_unknown_route_is_a_404_problem);

#[tokio::test]
async fn malformed_json_is_a_400_problem_with_the_parse_error() {
    let app = spawn_app(Db::Sqlite).await;
    let res = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "application/json")
        .body(r#"{"name": "x",}"#)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 400, "MALFORMED_JSON").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("trailing comma") && detail.contains("column"),
        "{detail}"
    );
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_a_422_problem() {
    let app = spawn_app(Db::Sqlite).await;
    let res = app
        .client
        .post(app.url("/test/typed"))
        .json(&serde_json::json!({"nom": "x"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422, "VALIDATION_FAILED").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `name`")
    );
}

#[tokio::test]
async fn oversized_bodies_are_a_413_problem() {
    let app = spawn_app(Db::Sqlite).await;
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(300 * 1024));
    let res = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn a_non_json_content_type_is_a_415_problem() {
    let app = spawn_app(Db::Sqlite).await;
    let res = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_with_the_request_id_and_the_server_keeps_serving() {
    let app = spawn_app(Db::Sqlite).await;
    for i in 0..6 {
        let res = app
            .client
            .get(app.url("/test/panic"))
            .header("x-request-id", format!("panic-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], format!("panic-{i}").as_str());
        let body = assert_problem(res, 500, "INTERNAL_ERROR").await;
        assert_eq!(body["request_id"], format!("panic-{i}"));
        assert!(
            !body.to_string().contains("boom"),
            "internals leaked: {body}"
        );
        // Both HTTP worker threads still answer.
        assert_eq!(app.get("/health/live").await.status().as_u16(), 200);
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("chom_http_panics_total 6"), "{metrics}");
}

#[tokio::test]
async fn request_ids_are_echoed_when_valid_and_replaced_when_not() {
    let app = spawn_app(Db::Sqlite).await;
    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "abc-123.trace:1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123.trace:1");

    for bad in ["has space", "quote\"in", &"x".repeat(200)] {
        let res = app
            .client
            .get(app.url("/nope"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let body = assert_problem(res, 404, "NOT_FOUND").await;
        assert_eq!(body["request_id"], id.as_str());
    }
    let a = app.get("/health/live").await.headers()["x-request-id"].clone();
    let b = app.get("/health/live").await.headers()["x-request-id"].clone();
    assert_ne!(a, b);
}
