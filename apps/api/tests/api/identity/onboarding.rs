//! The happy path from sign-up to the first API call, and the smaller auth paths (2FA, refresh,
//! e-mail change, organization rename).

use super::*;

async fn onboarding_walks_from_sign_up_to_first_api_call(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;

    // Arrange: sign up; the super admin is told.
    let jane = register(&app, "jane").await;
    assert!(
        app.smtp
            .wait_for("root@example.com", "waiting for approval")
            .await
            .data
            .contains("jane@example.com")
    );
    assert_problem(
        login_res(&app, &jane.email, PASSWORD).await,
        403,
        "EMAIL_NOT_VERIFIED",
    )
    .await;

    // Verify with the token from the e-mail; still pending.
    verify(&app, &jane).await;
    assert_problem(
        login_res(&app, &jane.email, PASSWORD).await,
        403,
        "ACCOUNT_PENDING_APPROVAL",
    )
    .await;

    // The super admin sees and approves the sign-up; Jane is e-mailed.
    let pending = body(app.get_as(&admin, "/api/v1/admin/approvals").await).await;
    assert!(
        pending["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "user" && a["user"]["id"] == jane.user_id.as_str())
    );
    approve(&app, &admin, &jane).await;
    app.smtp.wait_for(&jane.email, "approved").await;

    // Log in, look at oneself.
    let token = login(&app, &jane.email, PASSWORD).await;
    let me = body(app.get_as(&token, "/api/v1/auth/me").await).await;
    assert_eq!(me["data"]["user"]["email"], jane.email.as_str());
    assert_eq!(me["data"]["role"], "owner");
    assert_eq!(me["data"]["organization"]["approval_status"], "approved");
    assert_eq!(me["data"]["tenant"]["id"], jane.tenant_id.as_str());
    assert!(me["data"]["tenant"]["plan"].is_null());

    // Select a plan.
    let res = app
        .send(
            Method::PUT,
            "/api/v1/tenant/plan",
            Some(&token),
            Some(json!({"plan": "starter"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["plan"], "starter");

    // Create, list, use and revoke a token.
    let res = app
        .post_as(
            &token,
            "/api/v1/auth/tokens",
            json!({"name": "ci", "abilities": ["read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let created = body(res).await;
    let ci_token = created["data"]["token"].as_str().unwrap().to_owned();
    let ci_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_as(&ci_token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200
    );
    let listed = body(app.get_as(&token, "/api/v1/auth/tokens").await).await;
    let tokens = listed["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens.iter().all(|t| t.get("token").is_none()),
        "a secret in the list: {listed}"
    );
    // A read token cannot write or mint tokens.
    assert_problem(
        app.post_as(
            &ci_token,
            "/api/v1/auth/tokens",
            json!({"name": "x", "abilities": ["read"]}),
        )
        .await,
        403,
        "INSUFFICIENT_ABILITY",
    )
    .await;
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/auth/tokens/{ci_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        app.get_as(&ci_token, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    // Refresh rotates: the old token dies, the new one works.
    let res = app.post_as(&token, "/api/v1/auth/refresh", json!({})).await;
    assert_eq!(res.status().as_u16(), 200);
    let fresh = body(res).await["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.get_as(&token, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    // Log out.
    let res = app.post_as(&fresh, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        app.get_as(&fresh, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
}

async fn the_smaller_auth_paths_work(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;

    // Resend: neutral answer; a new link for an unverified account, nothing for others.
    let dan = register(&app, "dan").await;
    app.smtp.wait_for(&dan.email, "Confirm").await;
    for email in [dan.email.as_str(), "nobody@example.com", "not an address"] {
        let res = app
            .post(
                "/api/v1/auth/resend-verification",
                json!({ "email": email }),
            )
            .await;
        assert_eq!(res.status().as_u16(), 202);
    }
    for _ in 0..100 {
        if app
            .smtp
            .for_recipient(&dan.email)
            .iter()
            .filter(|m| m.subject().contains("Confirm"))
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let confirms: Vec<_> = app
        .smtp
        .for_recipient(&dan.email)
        .into_iter()
        .filter(|m| m.subject().contains("Confirm"))
        .collect();
    assert_eq!(confirms.len(), 2);
    // The newest token works; the older one was superseded.
    let old = confirms[0].token().unwrap();
    let new = confirms[1].token().unwrap();
    let verify = |token: String| {
        let app = &app;
        async move {
            app.post("/api/v1/auth/verify-email", json!({ "token": token }))
                .await
        }
    };
    assert_problem(verify(old).await, 400, "INVALID_TOKEN").await;
    assert_eq!(verify(new.clone()).await.status().as_u16(), 200);
    assert_problem(verify(new).await, 400, "INVALID_TOKEN").await;
    approve(&app, &admin, &dan).await;
    let approved_again = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/users/{}/approve", dan.user_id),
            json!({}),
        )
        .await;
    assert_problem(approved_again, 409, "CONFLICT").await;
    let token = login(&app, &dan.email, PASSWORD).await;

    // 2FA off again needs the password and a code.
    let setup = body(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/setup",
            json!({"password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert!(
        setup["data"]["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/CHOM:dan%40example.com")
    );
    let secret = data_encoding::BASE32_NOPAD
        .decode(setup["data"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let totp = chom_auth::totp::TotpSecret::from_bytes(secret);
    let step = time::OffsetDateTime::now_utc().unix_timestamp() / 30;
    assert_problem(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/confirm",
            json!({"code": "000000"}),
        )
        .await,
        401,
        "TWO_FACTOR_REQUIRED",
    )
    .await;
    assert_eq!(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/confirm",
            json!({"code": totp.code_at_step(step - 1)})
        )
        .await
        .status()
        .as_u16(),
        200
    );
    assert_problem(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/setup",
            json!({"password": PASSWORD}),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_problem(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/disable",
            json!({"password": "wrong password!!", "code": totp.code_at_step(step)}),
        )
        .await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    assert_problem(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/disable",
            json!({"password": PASSWORD}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        app.post_as(
            &token,
            "/api/v1/auth/2fa/disable",
            json!({"password": PASSWORD, "code": totp.code_at_step(step)})
        )
        .await
        .status()
        .as_u16(),
        204
    );
    assert_eq!(
        login_res(&app, &dan.email, PASSWORD)
            .await
            .status()
            .as_u16(),
        200,
        "2FA still required after disabling"
    );

    // Refresh keeps the abilities of a restricted token.
    let created = body(
        app.post_as(
            &token,
            "/api/v1/auth/tokens",
            json!({"name": "ro", "abilities": ["read"]}),
        )
        .await,
    )
    .await;
    let ro = created["data"]["token"].as_str().unwrap();
    let refreshed = body(app.post_as(ro, "/api/v1/auth/refresh", json!({})).await).await;
    assert_eq!(refreshed["data"]["abilities"], json!(["read"]));
    assert_eq!(refreshed["data"]["name"], "ro");

    // The organization rename is visible.
    app.send(
        Method::PATCH,
        "/api/v1/organization",
        Some(&token),
        Some(json!({"name": "Dan's Hosting"})),
    )
    .await;
    let org = body(app.get_as(&token, "/api/v1/organization").await).await;
    assert_eq!(org["data"]["name"], "Dan's Hosting");
    assert_eq!(org["data"]["tenants"][0]["is_default"], true);
}

crate::both_backends!(
    onboarding_walks_from_sign_up_to_first_api_call,
    the_smaller_auth_paths_work,
);
