//! Every field rule is a 422 naming the field, and nothing is written.

use super::*;

async fn count_users(app: &TestApp) -> usize {
    app.app_services.admin.users(None, 100).await.unwrap().len()
}

async fn every_field_rule_is_a_422_naming_the_field(db: Db) {
    let app = spawn_app(db).await;
    let valid = json!({"username": "valid_user", "first_name": "Val", "last_name": "Id", "email": "valid@example.com", "password": PASSWORD, "organization_name": "Valid Org"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("username", json!(""), "REQUIRED"),
        ("username", json!("ab"), "TOO_SHORT"),
        ("username", json!("a".repeat(33)), "TOO_LONG"),
        ("username", json!("bad name"), "INVALID_FORMAT"),
        ("username", json!(123), "INVALID_TYPE"),
        ("first_name", json!(""), "REQUIRED"),
        ("first_name", json!("x".repeat(101)), "TOO_LONG"),
        ("first_name", json!("a\u{0007}b"), "INVALID_FORMAT"),
        ("last_name", json!("   "), "REQUIRED"),
        ("last_name", json!(["Doe"]), "INVALID_TYPE"),
        ("email", json!(""), "REQUIRED"),
        ("email", json!("not-an-email"), "INVALID_FORMAT"),
        (
            "email",
            json!(format!("{}@example.com", "a".repeat(250))),
            "TOO_LONG",
        ),
        ("password", json!("short"), "TOO_SHORT"),
        ("password", json!("p".repeat(129)), "TOO_LONG"),
        ("password", json!("aaaaaaaaaaaaaaaa"), "TOO_WEAK"),
        ("password", json!("valid@example.com"), "TOO_WEAK"),
        ("organization_name", json!("o".repeat(101)), "TOO_LONG"),
        ("organization_name", json!(false), "INVALID_TYPE"),
        ("nickname", json!("extra"), "INVALID_TYPE"),
    ];
    for (field, value, code) in cases {
        let mut input = valid.clone();
        input[field] = value.clone();
        let problem = assert_problem(
            app.post("/api/v1/auth/register", input).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{field}={value}: expected {code}, got {problem}"
        );
    }
    assert_eq!(
        count_users(&app).await,
        0,
        "an invalid sign-up reached the database"
    );

    // Oversized and malformed bodies.
    let huge = json!({"username": "x".repeat(300 * 1024)});
    assert_problem(
        app.post("/api/v1/auth/register", huge).await,
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "MALFORMED_JSON").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;

    // Duplicates.
    assert_eq!(
        app.post("/api/v1/auth/register", valid.clone())
            .await
            .status()
            .as_u16(),
        201
    );
    let mut dup = valid.clone();
    dup["username"] = json!("other_name");
    assert_problem(
        app.post("/api/v1/auth/register", dup).await,
        409,
        "EMAIL_TAKEN",
    )
    .await;
    let mut dup = valid.clone();
    dup["email"] = json!("other@example.com");
    assert_problem(
        app.post("/api/v1/auth/register", dup).await,
        409,
        "USERNAME_TAKEN",
    )
    .await;
    assert_eq!(count_users(&app).await, 1);

    // Token, plan and decision rules.
    let admin = super_admin(&app).await;
    let (_, token) = onboard(&app, &admin, "tess").await;
    for (body_json, field, code) in [
        (
            json!({"name": "", "abilities": ["read"]}),
            "name",
            "INVALID_FORMAT",
        ),
        (
            json!({"name": "x", "abilities": []}),
            "abilities",
            "REQUIRED",
        ),
        (
            json!({"name": "x", "abilities": ["root"]}),
            "abilities[0]",
            "INVALID_VALUE",
        ),
        (
            json!({"name": "x", "abilities": ["read"], "expires_in_days": 0}),
            "expires_in_days",
            "OUT_OF_RANGE",
        ),
        (
            json!({"name": "x", "abilities": ["read"], "expires_in_days": 366}),
            "expires_in_days",
            "OUT_OF_RANGE",
        ),
        (
            json!({"name": "x", "abilities": "read"}),
            "abilities",
            "INVALID_TYPE",
        ),
    ] {
        let problem = assert_problem(
            app.post_as(&token, "/api/v1/auth/tokens", body_json.clone())
                .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{body_json}: {problem}"
        );
    }
    let problem = assert_problem(
        app.send(
            Method::PUT,
            "/api/v1/tenant/plan",
            Some(&token),
            Some(json!({"plan": "platinum"})),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "plan");
    for (method, path, body_json, field, code) in [
        (
            Method::POST,
            "/api/v1/auth/verify-email",
            json!({"token": " "}),
            "token",
            "REQUIRED",
        ),
        (
            Method::POST,
            "/api/v1/auth/reset-password",
            json!({"token": "", "password": "a fine new passphrase"}),
            "token",
            "REQUIRED",
        ),
        (
            Method::POST,
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
            "TOO_SHORT",
        ),
        (
            Method::PATCH,
            "/api/v1/organization",
            json!({"name": ""}),
            "name",
            "REQUIRED",
        ),
        (
            Method::PATCH,
            "/api/v1/organization",
            json!({"name": "n".repeat(101)}),
            "name",
            "TOO_LONG",
        ),
        (
            Method::POST,
            "/api/v1/auth/2fa/disable",
            json!({"password": PASSWORD}),
            "code",
            "REQUIRED",
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            json!({"email": 42, "password": PASSWORD}),
            "email",
            "INVALID_TYPE",
        ),
    ] {
        let problem = assert_problem(
            app.send(method, path, Some(&token), Some(body_json.clone()))
                .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{path} {body_json}: {problem}"
        );
    }
    let me = body(app.get_as(&token, "/api/v1/auth/me").await).await;
    let my_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();
    let problem = assert_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/members/{my_id}"),
            Some(&token),
            Some(json!({"role": "god"})),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        (
            problem["errors"][0]["field"].as_str(),
            problem["errors"][0]["code"].as_str()
        ),
        (Some("role"), Some("INVALID_VALUE"))
    );
    let me_org = me["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let problem = assert_problem(
        app.post_as(
            &admin,
            &format!("/api/v1/admin/organizations/{me_org}/reject"),
            json!({}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "reason");
    let someone = register(&app, "sam").await;
    let problem = assert_problem(
        app.post_as(
            &admin,
            &format!("/api/v1/admin/users/{}/reject", someone.user_id),
            json!({"reason": "no"}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "reason");
}

crate::both_backends!(every_field_rule_is_a_422_naming_the_field,);
