//! Identity and onboarding, end to end over HTTP, on both storage backends: register → e-mail
//! (read from a real SMTP listener) → verify → approval → login → me → plan → tokens → logout;
//! every refusal code; token death; secrets at rest; tenant isolation; roles; validation;
//! rate limits.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough passphrase";

#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub user_id: String,
    pub org_id: String,
    pub tenant_id: String,
}

async fn body(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

async fn register(app: &TestApp, username: &str) -> Person {
    let email = format!("{username}@example.com");
    let res = app
        .post(
            "/api/v1/auth/register",
            json!({"username": username, "first_name": "Jane", "last_name": "Doe", "email": email, "password": PASSWORD, "organization_name": format!("{username} Ltd")}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let b = body(res).await;
    Person {
        email,
        user_id: b["data"]["user"]["id"].as_str().unwrap().to_owned(),
        org_id: b["data"]["organization"]["id"].as_str().unwrap().to_owned(),
        tenant_id: b["data"]["tenant"]["id"].as_str().unwrap().to_owned(),
    }
}

async fn verify(app: &TestApp, p: &Person) {
    let mail = app.smtp.wait_for(&p.email, "Confirm your e-mail").await;
    let token = mail.token().expect("a token in the verification e-mail");
    let res = app
        .post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await;
    assert_eq!(res.status().as_u16(), 200);
}

async fn login_res(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let res = login_res(app, email, password).await;
    assert_eq!(res.status().as_u16(), 200);
    body(res).await["data"]["token"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn super_admin(app: &TestApp) -> String {
    crate::helpers::super_admin_token(app).await
}

async fn approve(app: &TestApp, admin: &str, p: &Person) {
    let res = app
        .post_as(
            admin,
            &format!("/api/v1/admin/users/{}/approve", p.user_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
}

/// Registered, verified, approved, logged in.
async fn onboard(app: &TestApp, admin: &str, username: &str) -> (Person, String) {
    let p = register(app, username).await;
    verify(app, &p).await;
    approve(app, admin, &p).await;
    let token = login(app, &p.email, PASSWORD).await;
    (p, token)
}

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
        pending["data"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == jane.user_id.as_str())
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
    let setup = body(
        app.post_as(&amy_token, "/api/v1/auth/2fa/setup", json!({}))
            .await,
    )
    .await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(setup["data"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let totp = chom_auth::totp::TotpSecret::from_bytes(secret);
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
        app.post_as(&session, "/api/v1/auth/2fa/setup", json!({}))
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

async fn another_organization_is_invisible(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (a, a_token) = onboard(&app, &admin, "alice").await;
    let (b, b_token) = onboard(&app, &admin, "bob").await;
    let b_tokens = body(app.get_as(&b_token, "/api/v1/auth/tokens").await).await;
    let b_token_id = b_tokens["data"][0]["id"].as_str().unwrap().to_owned();

    // Ids of B's resources are 404 for A, on every endpoint that takes an id.
    assert_problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/auth/tokens/{b_token_id}"),
            Some(&a_token),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/members/{}", b.user_id),
            Some(&a_token),
            Some(json!({"role": "viewer"})),
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        app.get_as(&b_token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200,
        "B's token was revoked by A"
    );

    // A cannot act for B's tenant, nor a made-up one, nor pass a malformed id.
    for tenant in [b.tenant_id.clone(), uuid::Uuid::now_v7().to_string()] {
        let res = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&a_token)
            .header("x-tenant-id", tenant)
            .send()
            .await
            .unwrap();
        assert_problem(res, 403, "TENANT_FORBIDDEN").await;
    }
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&a_token)
        .header("x-tenant-id", "nope")
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&a_token)
        .header("x-tenant-id", &a.tenant_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // A sees only A's organization and members.
    let org = body(app.get_as(&a_token, "/api/v1/organization").await).await;
    assert_eq!(org["data"]["id"], a.org_id.as_str());
    let members = body(app.get_as(&a_token, "/api/v1/members").await).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);
    assert_eq!(members["data"][0]["user"]["id"], a.user_id.as_str());

    // Members are not super admins.
    for path in [
        "/api/v1/admin/approvals",
        "/api/v1/admin/users",
        "/api/v1/admin/organizations",
        "/api/v1/admin/tenants",
    ] {
        assert_problem(app.get_as(&a_token, path).await, 403, "FORBIDDEN").await;
    }
    assert_problem(
        app.post_as(
            &a_token,
            &format!("/api/v1/admin/organizations/{}/suspend", b.org_id),
            json!({}),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
}

/// Adds a verified, approved user to `org` with `role` (invitations come with the team issue).
async fn add_member(
    app: &TestApp,
    org: &str,
    username: &str,
    role: chom_kernel::Role,
) -> (String, String) {
    use chom_auth::*;
    let ports = app.app_services.identity.ports();
    let email = format!("{username}@example.com");
    let user = NewUser {
        id: chom_kernel::UserId::new(),
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(&email).unwrap(),
        first_name: PersonName::parse("M").unwrap(),
        last_name: PersonName::parse("Ember").unwrap(),
        password_hash: PasswordHash::of(PASSWORD).unwrap(),
        is_super_admin: false,
        approval: ApprovalStatus::Approved,
        email_verified_at: Some(time::OffsetDateTime::now_utc()),
    };
    let mut uow = ports.store.begin().await.unwrap();
    ports.users.insert_user(uow.as_mut(), &user).await.unwrap();
    let membership = chom_tenancy::model::Membership {
        user_id: user.id,
        organization_id: org.parse().unwrap(),
        role,
    };
    ports
        .orgs
        .insert_membership(uow.as_mut(), &membership)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    (user.id.to_string(), login(app, &email, PASSWORD).await)
}

async fn roles_guard_ownership(db: Db) {
    use chom_kernel::Role;
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (owner, owner_token) = onboard(&app, &admin, "olga").await;
    let (admin_id, admin_token) = add_member(&app, &owner.org_id, "adam", Role::Admin).await;
    let (member_id, member_token) = add_member(&app, &owner.org_id, "mia", Role::Member).await;
    let (viewer_id, viewer_token) = add_member(&app, &owner.org_id, "vic", Role::Viewer).await;
    let role = |token: String, user: String, role: &'static str| {
        let app = &app;
        async move {
            app.send(
                Method::PATCH,
                &format!("/api/v1/members/{user}"),
                Some(&token),
                Some(json!({ "role": role })),
            )
            .await
        }
    };

    // An admin can make nobody an owner, not even themselves, and cannot touch owners.
    assert_problem(
        role(admin_token.clone(), admin_id.clone(), "owner").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        role(admin_token.clone(), member_id.clone(), "owner").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        role(admin_token.clone(), owner.user_id.clone(), "viewer").await,
        403,
        "FORBIDDEN",
    )
    .await;
    // Members and viewers change no roles; a viewer cannot raise itself.
    assert_problem(
        role(member_token.clone(), viewer_id.clone(), "member").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        role(viewer_token.clone(), viewer_id.clone(), "admin").await,
        403,
        "FORBIDDEN",
    )
    .await;
    // An admin manages non-owners.
    assert_eq!(
        role(admin_token.clone(), viewer_id.clone(), "member")
            .await
            .status()
            .as_u16(),
        204
    );
    // The last owner cannot step down; with a second owner it can.
    assert_problem(
        role(owner_token.clone(), owner.user_id.clone(), "admin").await,
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(
        role(owner_token.clone(), admin_id.clone(), "owner")
            .await
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        role(owner_token.clone(), owner.user_id.clone(), "admin")
            .await
            .status()
            .as_u16(),
        204
    );
    let members = body(app.get_as(&admin_token, "/api/v1/members").await).await;
    let roles: Vec<_> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&("adam".into(), "owner".into()))
            && roles.contains(&("olga".into(), "admin".into())),
        "{roles:?}"
    );
    // Role-checked mutations of this issue: only owners pick plans, viewers cannot rename.
    assert_problem(
        app.send(
            Method::PUT,
            "/api/v1/tenant/plan",
            Some(&member_token),
            Some(json!({"plan": "pro"})),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        app.send(
            Method::PATCH,
            "/api/v1/organization",
            Some(&viewer_token),
            Some(json!({"name": "Viewers Inc"})),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(
        app.send(
            Method::PATCH,
            "/api/v1/organization",
            Some(&owner_token),
            Some(json!({"name": "Olga & Co"}))
        )
        .await
        .status()
        .as_u16(),
        200
    );
    assert_problem(
        role(owner_token, member_id, "root").await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
}

async fn count_users(app: &TestApp) -> usize {
    app.app_services.admin.users().await.unwrap().len()
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

async fn password_attempts_are_limited_per_account(db: Db) {
    let app = spawn_app_with(db, |s| s.security.password_attempts_per_15_min = 10).await;
    let admin = super_admin(&app).await;
    let (p, _) = onboard(&app, &admin, "pat").await;
    // onboard logged in once: 9 more attempts are evaluated, the 11th is refused unseen.
    for _ in 0..9 {
        assert_problem(
            login_res(&app, &p.email, "wrong password guess").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
    }
    assert_problem(
        login_res(&app, &p.email, PASSWORD).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // Other accounts are not affected.
    assert_eq!(
        login_res(&app, "root@example.com", crate::helpers::ADMIN_PASSWORD)
            .await
            .status()
            .as_u16(),
        200
    );
}

crate::both_backends!(
    onboarding_walks_from_sign_up_to_first_api_call,
    every_refusal_has_its_code,
    tokens_die_with_a_password_change_and_a_reset,
    no_secret_is_stored_in_plaintext,
    another_organization_is_invisible,
    roles_guard_ownership,
    every_field_rule_is_a_422_naming_the_field,
    auth_routes_are_rate_limited,
    password_attempts_are_limited_per_account,
    the_smaller_auth_paths_work,
);

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
    // The newest link works (through GET, as clicked); the older one was superseded.
    let old = confirms[0].token().unwrap();
    let new = confirms[1].token().unwrap();
    assert_problem(
        app.get(&format!("/api/v1/auth/verify-email?token={old}"))
            .await,
        400,
        "INVALID_TOKEN",
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/auth/verify-email?token={new}"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.get(&format!("/api/v1/auth/verify-email?token={new}"))
            .await,
        400,
        "INVALID_TOKEN",
    )
    .await;
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
        app.post_as(&token, "/api/v1/auth/2fa/setup", json!({}))
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
        app.post_as(&token, "/api/v1/auth/2fa/setup", json!({}))
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
