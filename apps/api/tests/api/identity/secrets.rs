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
        app.post_as(
            &session,
            "/api/v1/auth/2fa/setup",
            json!({"password": PASSWORD}),
        )
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

/// Turns 2FA on for the session's user: its TOTP secret and recovery codes. Confirms with the
/// previous step's code, so the current step is still free for a login.
async fn enable_2fa(app: &TestApp, session: &str) -> (chom_auth::totp::TotpSecret, Vec<String>) {
    let totp = totp_setup(app, session, PASSWORD).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = app
        .post_as(
            session,
            "/api/v1/auth/2fa/confirm",
            json!({"code": totp.code_at_step(now / 30 - 1)}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let codes = body(res).await["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (totp, codes)
}

/// L2: recovery codes carry 80 random bits (16 base32 characters in four groups), are stored
/// as a hash keyed by the application key (not plain SHA-256, which a dump could brute-force),
/// and still work once each, typed in any case with or without dashes.
async fn l2_recovery_codes_carry_80_bits_and_are_stored_under_a_keyed_hash(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (dee, session) = onboard(&app, &admin, "dee").await;
    let (_, codes) = enable_2fa(&app, &session).await;
    assert_eq!(codes.len(), 10);
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(
            groups.iter().all(|g| g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))),
            "{code} is not four groups of four base32 characters (80 bits)"
        );
    }
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);

    let dump = app.dump().await.to_ascii_lowercase();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let keyed = chom_kernel::crypto::KeyedHash::new(
        &[42u8; 32],
        chom_tenancy::identity::RECOVERY_CODES_PURPOSE,
    );
    for code in &codes {
        let bare = code.replace('-', "");
        assert!(
            !dump.contains(&hex(&chom_kernel::crypto::sha256(bare.as_bytes()))),
            "a recovery code is stored as its plain SHA-256"
        );
        assert!(
            dump.contains(&hex(&keyed.tag(bare.as_bytes()))),
            "a recovery code is not stored as its keyed hash"
        );
    }

    // Single use, whatever the case and dashes.
    let typed = codes[0].replace('-', "").to_ascii_uppercase();
    let with_recovery = json!({"email": dee.email, "password": PASSWORD, "recovery_code": typed});
    assert_eq!(
        app.post("/api/v1/auth/login", with_recovery)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.post(
            "/api/v1/auth/login",
            json!({"email": dee.email, "password": PASSWORD, "recovery_code": codes[0]}),
        )
        .await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
    assert_eq!(
        app.post(
            "/api/v1/auth/login",
            json!({"email": dee.email, "password": PASSWORD, "recovery_code": codes[1]}),
        )
        .await
        .status()
        .as_u16(),
        200
    );

    // A code of the first format (5 bytes of hex, stored as plain SHA-256) still works once,
    // until the user enrols again.
    let old = "0a1b2-c3d4e";
    let old_hash = hex(&chom_kernel::crypto::sha256(b"0a1b2c3d4e"));
    let literal = match app.db {
        Db::Sqlite => format!("X'{old_hash}'"),
        Db::Postgres => format!("'\\x{old_hash}'::bytea"),
    };
    app.exec(&format!(
        "INSERT INTO recovery_codes (user_id, code_hash) VALUES ('{}', {literal})",
        dee.user_id
    ))
    .await;
    let with_old = json!({"email": dee.email, "password": PASSWORD, "recovery_code": old});
    assert_eq!(
        app.post("/api/v1/auth/login", with_old.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.post("/api/v1/auth/login", with_old).await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
}

/// L11: a TOTP secret is sealed with a key id and bound to its user's row: copied into another
/// user's row (by someone who can write to the database), it no longer opens, so that user's
/// login cannot be passed with codes from the first user's device.
async fn l11_a_totp_secret_copied_to_another_users_row_does_not_open(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (eve, eve_session) = onboard(&app, &admin, "eve").await;
    let (fay, fay_session) = onboard(&app, &admin, "fay").await;
    let (eve_totp, _) = enable_2fa(&app, &eve_session).await;
    enable_2fa(&app, &fay_session).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE totp_secret_sealed LIKE 'v1.%'")
            .await,
        2,
        "TOTP secrets are not sealed in the v1 format"
    );
    app.exec(&format!(
        "UPDATE users SET totp_last_step = NULL, totp_secret_sealed = \
         (SELECT totp_secret_sealed FROM users WHERE email = '{}') WHERE email = '{}'",
        eve.email, fay.email
    ))
    .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = eve_totp.code_at_step(now / 30);
    // The code is good for its own user.
    assert_eq!(
        app.post(
            "/api/v1/auth/login",
            json!({"email": eve.email, "password": PASSWORD, "totp_code": code}),
        )
        .await
        .status()
        .as_u16(),
        200
    );
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": fay.email, "password": PASSWORD, "totp_code": code}),
        )
        .await;
    let status = res.status();
    let answer = body(res).await;
    assert!(
        !status.is_success() && answer["data"]["token"].is_null(),
        "the moved secret opened: {status} {answer}"
    );
}

crate::both_backends!(
    tokens_die_with_a_password_change_and_a_reset,
    no_secret_is_stored_in_plaintext,
    l2_recovery_codes_carry_80_bits_and_are_stored_under_a_keyed_hash,
    l11_a_totp_secret_copied_to_another_users_row_does_not_open,
);
