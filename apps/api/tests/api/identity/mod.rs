//! Identity and onboarding, end to end over HTTP, on both storage backends: register → e-mail
//! (read from a real SMTP listener) → verify → approval → login → me → plan → tokens → logout;
//! every refusal code; token death; secrets at rest; tenant isolation; roles; validation;
//! rate limits.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = "a long enough passphrase";

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

pub(crate) async fn register(app: &TestApp, username: &str) -> Person {
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

pub(crate) async fn verify(app: &TestApp, p: &Person) {
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

pub(crate) async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let res = login_res(app, email, password).await;
    assert_eq!(res.status().as_u16(), 200);
    body(res).await["data"]["token"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn super_admin(app: &TestApp) -> String {
    crate::helpers::super_admin_token(app).await
}

pub(crate) async fn approve(app: &TestApp, admin: &str, p: &Person) {
    let res = app
        .post_as(
            admin,
            &format!("/api/v1/admin/users/{}/approve", p.user_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
}

/// Starts 2FA enrolment for the account of `token` (its password confirms it) and returns the
/// secret the authenticator app would hold.
pub(crate) async fn totp_setup(
    app: &TestApp,
    token: &str,
    password: &str,
) -> chom_auth::totp::TotpSecret {
    let res = app
        .post_as(
            token,
            "/api/v1/auth/2fa/setup",
            json!({ "password": password }),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let setup = body(res).await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(setup["data"]["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    chom_auth::totp::TotpSecret::from_bytes(secret)
}

/// Registered, verified, approved, logged in.
pub(crate) async fn onboard(app: &TestApp, admin: &str, username: &str) -> (Person, String) {
    let p = register(app, username).await;
    verify(app, &p).await;
    approve(app, admin, &p).await;
    let token = login(app, &p.email, PASSWORD).await;
    (p, token)
}

pub(crate) mod isolation;
mod onboarding;
mod refusals;
mod secrets;
mod validation;
