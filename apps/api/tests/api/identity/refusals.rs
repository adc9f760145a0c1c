//! Every refusal code of the auth routes, and the rate limits.

use super::*;

async fn every_refusal_has_its_code(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;

    assert_problem(
        login_res(&app, "nobody@example.com", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    let (amy, amy_token) = onboard(&app, &admin, "amy").await;
    assert_problem(
        login_res(&app, &amy.email, "wrong password!!").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;

    // Rejected: login and the old token refused; the e-mail is refused at the next sign-up.
    let rob = register(&app, "rob").await;
    verify(&app, &rob).await;
    let res = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/users/{}/reject", rob.user_id),
            json!({"reason": "duplicate account of a banned user"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert!(
        app.smtp
            .wait_for(&rob.email, "not approved")
            .await
            .data
            .contains("duplicate account")
    );
    assert_problem(
        login_res(&app, &rob.email, PASSWORD).await,
        403,
        "ACCOUNT_REJECTED",
    )
    .await;
    let res = app
        .post("/api/v1/auth/register", json!({"username": "rob2", "first_name": "R", "last_name": "B", "email": rob.email, "password": PASSWORD}))
        .await;
    assert_problem(res, 403, "EMAIL_REJECTED").await;

    // Suspended organization: login and existing tokens refused; reactivation lets login back in.
    let res = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/organizations/{}/suspend", amy.org_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        login_res(&app, &amy.email, PASSWORD).await,
        403,
        "ORGANIZATION_SUSPENDED",
    )
    .await;
    assert_problem(
        app.get_as(&amy_token, "/api/v1/auth/me").await,
        403,
        "ORGANIZATION_SUSPENDED",
    )
    .await;
    app.post_as(
        &admin,
        &format!("/api/v1/admin/organizations/{}/activate", amy.org_id),
        json!({}),
    )
    .await;
    assert_problem(
        app.get_as(&amy_token, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let amy_token = login(&app, &amy.email, PASSWORD).await;

    // Expired token.
    let res = app
        .post_as(
            &amy_token,
            "/api/v1/auth/tokens",
            json!({"name": "short", "abilities": ["read"], "expires_in_days": 1}),
        )
        .await;
    let short = body(res).await;
    let short_id = short["data"]["id"].as_str().unwrap();
    let past = match db {
        Db::Sqlite => "1000".to_owned(),
        Db::Postgres => "'2000-01-01T00:00:00Z'".to_owned(),
    };
    let id_literal = match db {
        Db::Sqlite => format!("'{}'", uuid::Uuid::try_parse(short_id).unwrap()),
        Db::Postgres => format!("'{short_id}'"),
    };
    app.exec(&format!(
        "UPDATE api_tokens SET expires_at = {past} WHERE id = {id_literal}"
    ))
    .await;
    let res = app
        .get_as(short["data"]["token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_problem(res, 401, "TOKEN_EXPIRED").await;

    // Missing, malformed and unknown tokens.
    assert_problem(app.get("/api/v1/auth/me").await, 401, "UNAUTHENTICATED").await;
    assert_problem(
        app.get_as("not-a-token", "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_problem(
        app.get_as(
            &format!("{}.guess", uuid::Uuid::now_v7().simple()),
            "/api/v1/auth/me",
        )
        .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    // Two-factor: required once enabled; a code works once; recovery codes work once.
    let totp = totp_setup(&app, &amy_token, PASSWORD).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = app
        .post_as(
            &amy_token,
            "/api/v1/auth/2fa/confirm",
            json!({"code": totp.code_at_step(now / 30 - 1)}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let codes: Vec<String> = body(res).await["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_problem(
        login_res(&app, &amy.email, PASSWORD).await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
    let with_code =
        json!({"email": amy.email, "password": PASSWORD, "totp_code": totp.code_at_step(now / 30)});
    assert_eq!(
        app.post("/api/v1/auth/login", with_code.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.post("/api/v1/auth/login", with_code).await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
    let with_recovery =
        json!({"email": amy.email, "password": PASSWORD, "recovery_code": codes[0]});
    assert_eq!(
        app.post("/api/v1/auth/login", with_recovery.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.post("/api/v1/auth/login", with_recovery).await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
}

async fn auth_routes_are_rate_limited(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.security.auth_requests_per_minute = 5;
        s.security.password_attempts_per_15_min = 3;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            app.post(
                "/api/v1/auth/forgot-password",
                json!({"email": "x@example.com"})
            )
            .await
            .status()
            .as_u16(),
            202
        );
    }
    let res = app
        .post(
            "/api/v1/auth/forgot-password",
            json!({"email": "x@example.com"}),
        )
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(res.headers()["ratelimit-limit"], "5");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert!(res.headers().contains_key("ratelimit-reset"));
    assert_problem(res, 429, "RATE_LIMITED").await;
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// M1: failures only count, a success clears them, and past the free ones an account slows
/// down (a pause of 1 s, 2 s, 4 s…) instead of locking its owner out.
async fn m1_wrong_passwords_slow_an_account_down_without_locking_its_owner_out(db: Db) {
    let app = spawn_app_with(db, |s| s.security.password_attempts_per_15_min = 3).await;
    let admin = super_admin(&app).await;
    let (p, _) = onboard(&app, &admin, "pat").await;
    // Successes do not count: onboard logged in once, and so do these.
    for _ in 0..3 {
        login(&app, &p.email, PASSWORD).await;
    }
    for _ in 0..3 {
        assert_problem(
            login_res(&app, &p.email, "wrong password guess").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
    }
    // The third failure opened a 1 s pause: an attempt inside it is refused unseen.
    let res = login_res(&app, &p.email, PASSWORD).await;
    assert_eq!(retry_after(&res), 1);
    assert_problem(res, 429, "RATE_LIMITED").await;
    // Other accounts are not affected.
    login(&app, "root@example.com", crate::helpers::ADMIN_PASSWORD).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_problem(
        login_res(&app, &p.email, "wrong password guess").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    // The next pause is longer.
    let res = login_res(&app, &p.email, PASSWORD).await;
    assert_eq!(retry_after(&res), 2);
    assert_problem(res, 429, "RATE_LIMITED").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The owner gets in after the pause, and the success clears the record.
    login(&app, &p.email, PASSWORD).await;
    for _ in 0..3 {
        assert_problem(
            login_res(&app, &p.email, "wrong password guess").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
    }
}

/// M2: every route that checks a password or a code shares the account's limiter, and at most
/// five wrong codes per account per 15 minutes are looked at, whichever route they come through.
async fn m2_password_and_code_checks_share_one_account_limiter(db: Db) {
    let app = spawn_app_with(db, |s| s.security.password_attempts_per_15_min = 3).await;
    let admin = super_admin(&app).await;
    let (p, session) = onboard(&app, &admin, "tfa").await;
    let totp = totp_setup(&app, &session, PASSWORD).await;
    let code_now = || totp.code_at_step(time::OffsetDateTime::now_utc().unix_timestamp() / 30);
    let res = app
        .post_as(
            &session,
            "/api/v1/auth/2fa/confirm",
            json!({"code": code_now()}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    // Wrong passwords through 2FA removal count for the account: the login pauses too.
    for _ in 0..3 {
        let res = app
            .post_as(
                &session,
                "/api/v1/auth/2fa/disable",
                json!({"password": "not the password", "code": "000000"}),
            )
            .await;
        assert_problem(res, 401, "INVALID_CREDENTIALS").await;
    }
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": p.email, "password": PASSWORD, "totp_code": code_now()}),
        )
        .await;
    assert_problem(res, 429, "RATE_LIMITED").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Five wrong codes, through login and removal alike...
    for _ in 0..3 {
        let res = app
            .post(
                "/api/v1/auth/login",
                json!({"email": p.email, "password": PASSWORD, "totp_code": "000000"}),
            )
            .await;
        assert_problem(res, 401, "TWO_FACTOR_REQUIRED").await;
    }
    for _ in 0..2 {
        let res = app
            .post_as(
                &session,
                "/api/v1/auth/2fa/disable",
                json!({"password": PASSWORD, "code": "000000"}),
            )
            .await;
        assert_problem(res, 401, "TWO_FACTOR_REQUIRED").await;
    }
    // ...and even the right one is refused unseen, on every route that takes a code.
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": p.email, "password": PASSWORD, "totp_code": code_now()}),
        )
        .await;
    assert!(retry_after(&res) > 800, "the rest of the 15-minute window");
    assert_problem(res, 429, "RATE_LIMITED").await;
    let res = app
        .post_as(
            &session,
            "/api/v1/auth/2fa/disable",
            json!({"password": PASSWORD, "code": code_now()}),
        )
        .await;
    assert_problem(res, 429, "RATE_LIMITED").await;
    // Logging in without a code is not a code failure: the password alone still answers.
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": p.email, "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 401, "TWO_FACTOR_REQUIRED").await;
}

/// A tenant reactivated while its organization is suspended stays suspended: the status event
/// its sites follow announces that standing, never "active".
async fn a_tenant_reactivated_in_a_suspended_organization_announces_its_standing(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (amy, _) = onboard(&app, &admin, "amy").await;
    for path in [
        format!("/api/v1/admin/organizations/{}/suspend", amy.org_id),
        format!("/api/v1/admin/tenants/{}/activate", amy.tenant_id),
    ] {
        let res = app.post_as(&admin, &path, json!({})).await;
        assert_eq!(res.status().as_u16(), 204, "{path}");
    }
    let status = match db {
        Db::Sqlite => "json_extract(payload, '$.status')",
        Db::Postgres => "payload->>'status'",
    };
    let announced = |wanted: &str| {
        format!(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'tenancy::tenant_status_changed' \
             AND tenant_id = '{}' AND {status} = '{wanted}'",
            amy.tenant_id
        )
    };
    assert_eq!(app.count(&announced("suspended")).await, 2, "both events");
    assert_eq!(app.count(&announced("active")).await, 0);
}

crate::both_backends!(
    a_tenant_reactivated_in_a_suspended_organization_announces_its_standing,
    m2_password_and_code_checks_share_one_account_limiter,
    every_refusal_has_its_code,
    auth_routes_are_rate_limited,
    m1_wrong_passwords_slow_an_account_down_without_locking_its_owner_out,
);
