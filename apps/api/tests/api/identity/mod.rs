//! Identity and onboarding, end to end over HTTP, on both storage backends: register → e-mail
//! (read from a real SMTP listener) → verify → approval → login → me → plan → tokens → logout;
//! every refusal code; token death; secrets at rest; tenant isolation; roles; validation;
//! rate limits.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) use chom_test_support::api::body;
pub(crate) use chom_test_support::onboarding::{
    PASSWORD, Person, approve, login, login_res, onboard, register, verify,
};

pub(crate) async fn super_admin(app: &TestApp) -> String {
    crate::helpers::super_admin_token(app).await
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

pub(crate) mod isolation;
mod onboarding;
mod refusals;
mod secrets;
mod validation;
