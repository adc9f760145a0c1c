//! Token death on password change and reset; no secret stored in plaintext.

use super::*;

async fn tokens_die_with_a_password_change_and_a_reset(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (bea, token) = onboard(&app, &admin, "bea").await;
    let other = login(&app, &bea.email, PASSWORD).await;

    // Change: wrong current password refused; every token dies.
    assert_problem(app.post_as(&token, "/api/v1/auth/password", json!({"current_password": "nope nope nope", "new_password": "another long passphrase"})).await, 401, "INVALID_CREDENTIALS").await;
    let res = app
        .post_as(
            &token,
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        app.get_as(&token, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_problem(
        app.get_as(&other, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let token = login(&app, &bea.email, "another long passphrase").await;

    // Forgot: same answer for unknown addresses, and no e-mail for them.
    for email in [bea.email.as_str(), "ghost@example.com"] {
        let res = app
            .post("/api/v1/auth/forgot-password", json!({ "email": email }))
            .await;
        assert_eq!(res.status().as_u16(), 202);
        assert_eq!(body(res).await, json!({"data": {"status": "accepted"}}));
    }
    let mail = app.smtp.wait_for(&bea.email, "Reset your password").await;
    let reset = mail.indented_token().expect("reset token in the e-mail");
    assert!(app.smtp.for_recipient("ghost@example.com").is_empty());

    // Reset: weak password refused without using the token; then works once; tokens die.
    let res = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "password": "short"}),
        )
        .await;
    let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(problem["errors"][0]["field"], "password");
    let res = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "password": "the third passphrase"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_problem(
        app.post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "password": "the fourth passphrase"}),
        )
        .await,
        400,
        "INVALID_TOKEN",
    )
    .await;
    assert_problem(
        app.get_as(&token, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    login(&app, &bea.email, "the third passphrase").await;
    assert_problem(
        app.post("/api/v1/auth/verify-email", json!({"token": "made-up"}))
            .await,
        400,
        "INVALID_TOKEN",
    )
    .await;
}

async fn no_secret_is_stored_in_plaintext(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let cal = register(&app, "cal").await;
    let verify_mail = app.smtp.wait_for(&cal.email, "Confirm").await;
    let verification = verify_mail.token().unwrap();
    app.post(
        "/api/v1/auth/verify-email",
        json!({ "token": verification }),
    )
    .await;
    approve(&app, &admin, &cal).await;
    let session = login(&app, &cal.email, PASSWORD).await;
    let created = body(
        app.post_as(
            &session,
            "/api/v1/auth/tokens",
            json!({"name": "ci", "abilities": ["read", "write"]}),
        )
        .await,
    )
    .await;
    let api_token = created["data"]["token"].as_str().unwrap().to_owned();
    let setup = body(
        app.post_as(&session, "/api/v1/auth/2fa/setup", json!({"password": PASSWORD}))
            .await,
    )
    .await;
    let secret_b32 = setup["data"]["secret"].as_str().unwrap().to_owned();
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .unwrap();
    let totp = chom_auth::totp::TotpSecret::from_bytes(secret.clone());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let codes = body(
        app.post_as(
            &session,
            "/api/v1/auth/2fa/confirm",
            json!({"code": totp.code_at_step(now / 30)}),
        )
        .await,
    )
    .await;
    let recovery: Vec<String> = codes["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    app.post("/api/v1/auth/forgot-password", json!({"email": cal.email}))
        .await;
    let reset = app
        .smtp
        .wait_for(&cal.email, "Reset")
        .await
        .indented_token()
        .unwrap();

    let dump = app.dump().await;
    assert!(
        dump.contains("cal@example.com"),
        "the dump is empty or wrong:\n{dump}"
    );
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut secrets = vec![
        ("password", PASSWORD.to_owned()),
        (
            "super admin password",
            crate::helpers::ADMIN_PASSWORD.to_owned(),
        ),
        ("session token", session.clone()),
        (
            "session secret",
            session.split_once('.').unwrap().1.to_owned(),
        ),
        (
            "API token secret",
            api_token.split_once('.').unwrap().1.to_owned(),
        ),
        ("verification token", verification),
        ("reset token", reset),
        ("TOTP secret (base32)", secret_b32),
        ("TOTP secret (hex)", hex(&secret)),
    ];
    for (i, code) in recovery.iter().enumerate() {
        secrets.push(("recovery code", code.clone()));
        secrets.push(("recovery code (bare)", code.replace('-', "")));
        let _ = i;
    }
    for (what, value) in secrets {
        assert!(!dump.contains(&value), "{what} stored in plaintext");
    }
}

crate::both_backends!(
    tokens_die_with_a_password_change_and_a_reset,
    no_secret_is_stored_in_plaintext,
);
