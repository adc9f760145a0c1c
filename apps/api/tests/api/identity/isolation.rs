//! Tenant isolation between organizations, and the roles inside one.

use super::*;

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
        // L8: 404, like any foreign id, the same for another organization's and a made-up one.
        assert_problem(res, 404, "TENANT_NOT_FOUND").await;
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
pub(crate) async fn add_member(
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
        "LAST_OWNER",
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

crate::both_backends!(another_organization_is_invisible, roles_guard_ownership,);
