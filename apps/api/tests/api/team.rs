//! The team over HTTP on both backends: invitations end to end with the e-mail read from the
//! SMTP listener (a new account and an existing user joining; expired, revoked, reused,
//! unknown, replaced and wrong-account tokens refused with their codes; seats), a removed
//! member's token refused at once, the role rules (nobody raises their own role, only owners
//! make owners, the last owner protected) and ownership transfer.

use crate::helpers::{Db, TestApp, spawn_app};
use crate::identity::isolation::add_member;
use crate::identity::super_admin;
use crate::sites::{body, customer};
use chom_kernel::Role;
use chom_test_support::api::assert_problem;
use chom_test_support::onboarding::{PASSWORD, login};
use reqwest::Method;
use serde_json::json;

async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> reqwest::Response {
    app.post_as(
        token,
        "/api/v1/invitations",
        json!({"email": email, "role": role}),
    )
    .await
}

/// The token of the newest invitation e-mail to `email`.
async fn mailed_token(app: &TestApp, email: &str, nth: usize) -> String {
    for _ in 0..300 {
        let mails: Vec<_> = app
            .smtp
            .for_recipient(email)
            .into_iter()
            .filter(|m| m.subject().starts_with("Join "))
            .collect();
        if mails.len() >= nth {
            let mail = &mails[nth - 1];
            return mail
                .indented_token()
                .unwrap_or_else(|| panic!("no token in {}", mail.data));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no invitation e-mail #{nth} to {email}");
}

async fn accept_new(app: &TestApp, token: &str, username: &str) -> reqwest::Response {
    app.post(
        "/api/v1/invitations/accept",
        json!({"token": token, "username": username, "first_name": "New", "last_name": "Member", "password": PASSWORD}),
    )
    .await
}

async fn accept_as(app: &TestApp, bearer: &str, token: &str) -> reqwest::Response {
    app.post_as(
        bearer,
        "/api/v1/invitations/accept",
        json!({"token": token}),
    )
    .await
}

async fn roles(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let list = body(app.get_as(token, "/api/v1/members?limit=100").await).await;
    let mut out: Vec<(String, String)> = list["data"]
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
    out.sort();
    out
}

async fn invitations_bring_people_in_once_and_only_the_invited(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (org, tenant, owner) = customer(&app, &admin, "olga", "pro").await;
    let (_, _, bob) = customer(&app, &admin, "bob", "starter").await;

    // A new person signs up through the link.
    let res = invite(&app, &owner, "Ana@Example.com", "member").await;
    assert_eq!(res.status().as_u16(), 201);
    let made = body(res).await["data"].clone();
    assert_eq!(
        (&made["email"], &made["role"], &made["status"]),
        (
            &json!("ana@example.com"),
            &json!("member"),
            &json!("pending")
        )
    );
    let token = mailed_token(&app, "ana@example.com", 1).await;
    let res = accept_new(&app, &token, "ana").await;
    assert_eq!(res.status().as_u16(), 201);
    let joined = body(res).await["data"].clone();
    assert_eq!(
        (
            &joined["organization_id"],
            &joined["role"],
            &joined["new_account"]
        ),
        (&json!(org), &json!("member"), &json!(true))
    );
    assert_problem(
        accept_new(&app, &token, "ana2").await,
        410,
        "INVITATION_ALREADY_USED",
    )
    .await;
    let ana = login(&app, "ana@example.com", PASSWORD).await;
    let me = body(app.get_as(&ana, "/api/v1/auth/me").await).await;
    let ana_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&me["data"]["role"], &me["data"]["tenant"]["id"]),
        (&json!("member"), &json!(tenant))
    );

    // An existing user of another organization joins too, and chooses per request.
    assert_eq!(
        invite(&app, &owner, "bob@example.com", "viewer")
            .await
            .status()
            .as_u16(),
        201
    );
    let bob_token = mailed_token(&app, "bob@example.com", 1).await;
    let res = accept_as(&app, &bob, &bob_token).await;
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(body(res).await["data"]["new_account"], false);
    let in_olgas = |path: &str| {
        chom_test_support::api::client()
            .get(app.url(path))
            .bearer_auth(&bob)
            .header("x-tenant-id", &tenant)
    };
    let me = body(in_olgas("/api/v1/auth/me").send().await.unwrap()).await;
    assert_eq!(me["data"]["role"], "viewer", "{me}");
    let own = body(app.get_as(&bob, "/api/v1/auth/me").await).await;
    assert_eq!(
        own["data"]["role"], "owner",
        "without the header: the oldest membership"
    );
    let res = chom_test_support::api::client()
        .post(app.url("/api/v1/invitations"))
        .bearer_auth(&bob)
        .header("x-tenant-id", &tenant)
        .json(&json!({"email": "x@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "FORBIDDEN").await;
    assert_eq!(
        roles(&app, &owner).await,
        [
            ("ana".into(), "member".into()),
            ("bob".into(), "viewer".into()),
            ("olga".into(), "owner".into())
        ]
    );

    // Refusals, each with its code.
    assert_problem(
        invite(&app, &owner, "ana@example.com", "admin").await,
        409,
        "ALREADY_MEMBER",
    )
    .await;
    assert_eq!(
        invite(&app, &owner, "carl@example.com", "member")
            .await
            .status()
            .as_u16(),
        201
    );
    assert_problem(
        invite(&app, &owner, "carl@example.com", "viewer").await,
        409,
        "INVITATION_PENDING",
    )
    .await;
    let carl_token = mailed_token(&app, "carl@example.com", 1).await;
    assert_problem(
        accept_as(&app, &ana, &carl_token).await,
        403,
        "INVITATION_EMAIL_MISMATCH",
    )
    .await;
    let list = body(app.get_as(&owner, "/api/v1/invitations").await).await;
    let carl = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "carl@example.com")
        .unwrap()
        .clone();
    let carl_id = carl["id"].as_str().unwrap().to_owned();
    assert!(
        carl["sent_at"].is_string() && carl["send_count"] == 1,
        "{carl}"
    );
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/invitations/{carl_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        accept_new(&app, &carl_token, "carl").await,
        410,
        "INVITATION_REVOKED",
    )
    .await;
    assert_problem(
        accept_new(&app, "forged-token", "carl").await,
        404,
        "INVITATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.post("/api/v1/invitations/accept", json!({"token": ""}))
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;

    // Expired after 7 days; sent again, a new link works and the old one is unknown.
    assert_eq!(
        invite(&app, &owner, "dora@example.com", "member")
            .await
            .status()
            .as_u16(),
        201
    );
    let old = mailed_token(&app, "dora@example.com", 1).await;
    let past = match app.db {
        Db::Postgres => "now() - interval '1 minute'",
        Db::Sqlite => "0",
    };
    app.exec(&format!(
        "UPDATE invitations SET expires_at = {past} WHERE email = 'dora@example.com'"
    ))
    .await;
    assert_problem(
        accept_new(&app, &old, "dora").await,
        410,
        "INVITATION_EXPIRED",
    )
    .await;
    let list = body(app.get_as(&owner, "/api/v1/invitations").await).await;
    let dora = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "dora@example.com")
        .unwrap()
        .clone();
    assert_eq!(dora["status"], "expired");
    let dora_id = dora["id"].as_str().unwrap().to_owned();
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/invitations/{dora_id}/resend"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let new = mailed_token(&app, "dora@example.com", 2).await;
    assert_ne!(new, old);
    assert_problem(
        accept_new(&app, &old, "dora").await,
        404,
        "INVITATION_NOT_FOUND",
    )
    .await;
    assert_eq!(accept_new(&app, &new, "dora").await.status().as_u16(), 201);

    // Another organization's invitations are unknown; members and viewers cannot invite.
    let (_, _, stranger) = customer(&app, &admin, "sam", "starter").await;
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/invitations/{dora_id}/resend"),
        ),
        (Method::DELETE, format!("/api/v1/invitations/{dora_id}")),
        (
            Method::DELETE,
            format!("/api/v1/invitations/{}", uuid::Uuid::now_v7()),
        ),
        (Method::DELETE, "/api/v1/invitations/not-an-id".to_owned()),
    ] {
        assert_problem(
            app.send(method, &path, Some(&stranger), None).await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
    let theirs = body(app.get_as(&stranger, "/api/v1/invitations").await).await;
    assert_eq!(theirs["data"], json!([]));
    assert_problem(
        invite(&app, &ana, "x@example.com", "viewer").await,
        403,
        "FORBIDDEN",
    )
    .await;

    // Removed: the member's token is refused at once.
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/members/{ana_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        app.get_as(&ana, "/api/v1/auth/me").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_problem(
        app.get_as(&ana, "/api/v1/sites").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    // Every step is in the organization's audit log.
    let audit = body(app.get_as(&owner, "/api/v1/audit?limit=100").await).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "invitation.create",
        "invitation.accept",
        "invitation.revoke",
        "invitation.resend",
        "member.remove",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let verdict = body(app.get_as(&owner, "/api/v1/audit/verify").await).await;
    assert_eq!(verdict["data"]["intact"], true);
}

async fn seats_are_members_plus_open_invitations(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    // Starter: 3 seats. The owner, and two invitations.
    for who in ["a@example.com", "b@example.com"] {
        assert_eq!(
            invite(&app, &owner, who, "viewer").await.status().as_u16(),
            201
        );
    }
    assert_problem(
        invite(&app, &owner, "c@example.com", "viewer").await,
        403,
        "SEAT_LIMIT_EXCEEDED",
    )
    .await;
    // Revoking one frees its seat.
    let list = body(app.get_as(&owner, "/api/v1/invitations").await).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/invitations/{id}"),
            Some(&owner),
            None
        )
        .await
        .status()
        .as_u16(),
        204
    );
    assert_eq!(
        invite(&app, &owner, "c@example.com", "viewer")
            .await
            .status()
            .as_u16(),
        201
    );
}

async fn change(app: &TestApp, token: &str, user: &str, role: &str) -> reqwest::Response {
    app.send(
        Method::PATCH,
        &format!("/api/v1/members/{user}"),
        Some(token),
        Some(json!({"role": role})),
    )
    .await
}

async fn nobody_raises_their_own_role_and_only_owners_make_owners(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (org, _, owner) = customer(&app, &admin, "olga", "pro").await;
    let (ada_id, ada) = add_member(&app, &org, "ada", Role::Admin).await;
    let (mel_id, mel) = add_member(&app, &org, "mel", Role::Member).await;
    let (vic_id, vic) = add_member(&app, &org, "vic", Role::Viewer).await;
    assert_problem(change(&app, &mel, &mel_id, "admin").await, 403, "FORBIDDEN").await;
    assert_problem(
        change(&app, &vic, &vic_id, "member").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(change(&app, &ada, &ada_id, "owner").await, 403, "FORBIDDEN").await;
    assert_problem(change(&app, &ada, &mel_id, "owner").await, 403, "FORBIDDEN").await;
    assert_problem(
        invite(&app, &ada, "o@example.com", "owner").await,
        403,
        "FORBIDDEN",
    )
    .await;
    // An admin lowers themselves or manages non-owners; an owner makes owners.
    assert_eq!(
        change(&app, &ada, &mel_id, "viewer")
            .await
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        change(&app, &owner, &mel_id, "owner")
            .await
            .status()
            .as_u16(),
        204
    );
    assert_problem(
        change(&app, &ada, &mel_id, "member").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(
        change(&app, &ada, &ada_id, "member")
            .await
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        roles(&app, &owner).await,
        [
            ("ada".into(), "member".into()),
            ("mel".into(), "owner".into()),
            ("olga".into(), "owner".into()),
            ("vic".into(), "viewer".into())
        ]
    );
    let foreign = uuid::Uuid::now_v7().to_string();
    assert_problem(
        change(&app, &owner, &foreign, "viewer").await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_problem(
        change(&app, &owner, &vic_id, "root").await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
}

async fn the_last_owner_can_neither_leave_nor_be_removed_nor_demoted(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (org, _, owner) = customer(&app, &admin, "olga", "pro").await;
    let owner_id = body(app.get_as(&owner, "/api/v1/auth/me").await).await["data"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, ada) = add_member(&app, &org, "ada", Role::Admin).await;
    assert_problem(
        change(&app, &owner, &owner_id, "admin").await,
        409,
        "LAST_OWNER",
    )
    .await;
    assert_problem(
        app.send(
            Method::POST,
            "/api/v1/organization/leave",
            Some(&owner),
            None,
        )
        .await,
        409,
        "LAST_OWNER",
    )
    .await;
    assert_problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/members/{owner_id}"),
            Some(&ada),
            None,
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/members/{owner_id}"),
            Some(&owner),
            None,
        )
        .await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert_eq!(
        roles(&app, &owner).await,
        [
            ("ada".into(), "admin".into()),
            ("olga".into(), "owner".into())
        ]
    );
    // The admin leaves: fine, and their token no longer reaches the organization.
    assert_eq!(
        app.send(Method::POST, "/api/v1/organization/leave", Some(&ada), None)
            .await
            .status()
            .as_u16(),
        204
    );
    assert_eq!(roles(&app, &owner).await, [("olga".into(), "owner".into())]);
}

async fn ownership_moves_only_when_the_new_owner_confirms(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (org, _, owner) = customer(&app, &admin, "olga", "pro").await;
    let (ada_id, ada) = add_member(&app, &org, "ada", Role::Admin).await;
    let (mel_id, mel) = add_member(&app, &org, "mel", Role::Member).await;
    let propose = |token: String, to: String| {
        let app = &app;
        async move {
            app.post_as(
                &token,
                "/api/v1/organization/transfer-ownership",
                json!({"user_id": to}),
            )
            .await
        }
    };
    assert_problem(propose(ada.clone(), ada_id.clone()).await, 403, "FORBIDDEN").await;
    assert_problem(
        propose(owner.clone(), mel_id.clone()).await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert_problem(
        propose(owner.clone(), uuid::Uuid::now_v7().to_string()).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let res = propose(owner.clone(), ada_id.clone()).await;
    assert_eq!(res.status().as_u16(), 201);
    let pending = body(
        app.get_as(&mel, "/api/v1/organization/transfer-ownership")
            .await,
    )
    .await;
    assert_eq!(pending["data"]["to_user"], ada_id.as_str());
    // Only the addressee confirms.
    assert_problem(
        app.send(
            Method::POST,
            "/api/v1/organization/transfer-ownership/confirm",
            Some(&owner),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        roles(&app, &owner).await[2],
        ("olga".into(), "owner".into())
    );
    let res = app
        .send(
            Method::POST,
            "/api/v1/organization/transfer-ownership/confirm",
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(
        roles(&app, &owner).await,
        [
            ("ada".into(), "owner".into()),
            ("mel".into(), "member".into()),
            ("olga".into(), "admin".into())
        ]
    );
    assert_problem(
        app.get_as(&owner, "/api/v1/organization/transfer-ownership")
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    let audit = body(
        app.get_as(&ada, "/api/v1/audit?action=ownership.transfer")
            .await,
    )
    .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
}

crate::both_backends!(
    invitations_bring_people_in_once_and_only_the_invited,
    seats_are_members_plus_open_invitations,
    nobody_raises_their_own_role_and_only_owners_make_owners,
    the_last_owner_can_neither_leave_nor_be_removed_nor_demoted,
    ownership_moves_only_when_the_new_owner_confirms
);
