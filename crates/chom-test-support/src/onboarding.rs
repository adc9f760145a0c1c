//! Customers made the way a person does it, over HTTP: register, the verification e-mail read
//! from the SMTP sink, approval by an administrator, login, a plan.

use crate::api::{Api, body};
use reqwest::Method;
use serde_json::json;

/// Every test customer's password.
pub const PASSWORD: &str = "a long enough passphrase";

/// A registered person: `<username>@example.com` and the ids registration answered with.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub user_id: String,
    pub org_id: String,
    pub tenant_id: String,
}

/// Registers `username` (with an organization of its own), password [`PASSWORD`].
pub async fn register(api: &Api, username: &str) -> Person {
    let email = format!("{username}@example.com");
    let res = api
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

/// Follows the link of the verification e-mail.
pub async fn verify(api: &Api, p: &Person) {
    let mail = api.smtp.wait_for(&p.email, "Confirm your e-mail").await;
    let token = mail.token().expect("a token in the verification e-mail");
    let res = api
        .post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await;
    assert_eq!(res.status().as_u16(), 200);
}

/// The answer to a login, whatever it is.
pub async fn login_res(api: &Api, email: &str, password: &str) -> reqwest::Response {
    api.post(
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// Logs in (200 expected): the session token.
pub async fn login(api: &Api, email: &str, password: &str) -> String {
    let res = login_res(api, email, password).await;
    assert_eq!(res.status().as_u16(), 200);
    body(res).await["data"]["token"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An administrator approves the person's account.
pub async fn approve(api: &Api, admin: &str, p: &Person) {
    let res = api
        .post_as(
            admin,
            &format!("/api/v1/admin/users/{}/approve", p.user_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
}

/// Registered, verified, approved, logged in.
pub async fn onboard(api: &Api, admin: &str, username: &str) -> (Person, String) {
    let p = register(api, username).await;
    verify(api, &p).await;
    approve(api, admin, &p).await;
    let token = login(api, &p.email, PASSWORD).await;
    (p, token)
}

/// An approved tenant with `plan` selected: (organization id, tenant id, owner token).
pub async fn customer(
    api: &Api,
    admin: &str,
    username: &str,
    plan: &str,
) -> (String, String, String) {
    let (p, token) = onboard(api, admin, username).await;
    let res = api
        .send(
            Method::PUT,
            "/api/v1/tenant/plan",
            Some(&token),
            Some(json!({ "plan": plan })),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    (p.org_id, p.tenant_id, token)
}
