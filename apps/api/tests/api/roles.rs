//! The role matrix, on both backends: every organization member's operation (the table of
//! `chom_api::routes::policy`) × {owner, admin, member, viewer, another organization's owner,
//! a removed member's token, no token} × {own object, another organization's object, unknown
//! id} × {no `X-Tenant-Id`, the caller's own tenant, another organization's tenant, a tenant
//! that does not exist}, each answer checked against what the policy table says: 401 without a
//! token or with a removed member's, 404 `TENANT_NOT_FOUND` for a foreign or unknown tenant,
//! 403 `FORBIDDEN` for a role below the action, 404 for a foreign or unknown object, and for
//! the rest anything but 401, 403 `FORBIDDEN` and 5xx. Counts every request and every 2xx
//! that was not expected (there must be none).

use crate::helpers::{Db, TestApp, spawn_app_with};
use crate::identity::isolation::add_member;
use crate::identity::super_admin;
use crate::sites::{body, create_site, customer, dead_server};
use chom_api::routes::policy::OPERATIONS;
use chom_kernel::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// Operations left out of the matrix, and why: each ends or changes the caller's own session
/// or membership (all roles may; their own tests cover them), or takes a per-user object.
const LEFT_OUT: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/2fa/setup"),
    ("POST", "/api/v1/auth/2fa/confirm"),
    ("POST", "/api/v1/auth/2fa/disable"),
    ("POST", "/api/v1/organization/leave"),
    ("DELETE", "/api/v1/auth/tokens/{id}"),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Member(Role),
    OtherOwner,
    /// Removed from the organization after logging in: the token is dead at once.
    Removed,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Object {
    Own,
    Foreign,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tenant {
    Default,
    Own,
    Foreign,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Unauthenticated,
    TenantNotFound,
    Forbidden,
    NotFound,
    Allowed,
}

/// One organization's objects, by the path parameter they fill.
#[derive(Debug, Clone)]
struct Objects {
    site: String,
    operation: String,
    member: String,
    invitation: String,
    tenant: String,
    backup: String,
}

impl Objects {
    fn for_path(&self, path: &str) -> Option<&str> {
        if path.contains("{user_id}") {
            Some(&self.member)
        } else if path.starts_with("/api/v1/sites/{id}") {
            Some(&self.site)
        } else if path.starts_with("/api/v1/operations/{id}") {
            Some(&self.operation)
        } else if path.starts_with("/api/v1/invitations/{id}") {
            Some(&self.invitation)
        } else if path.starts_with("/api/v1/backups/{id}") {
            Some(&self.backup)
        } else {
            None
        }
    }
}

fn body_for(method: &str, path: &str, n: usize, other_member: &str) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/api/v1/sites") => json!({"domain": format!("matrix{n}.example.com")}),
        ("PATCH", "/api/v1/sites/{id}") => json!({"php_version": "8.3"}),
        ("POST", "/api/v1/sites/{id}/ssl") => json!({}),
        ("POST", "/api/v1/sites/{id}/backups") => json!({"kind": "files"}),
        // The backup is still pending: refused (409) before the server is asked.
        ("POST", "/api/v1/backups/{id}/restore") => json!({"dry_run": true}),
        ("PUT", "/api/v1/sites/{id}/backup-schedule") => {
            json!({"frequency": "daily", "hour": 1, "enabled": true})
        }
        ("PATCH", "/api/v1/organization") => json!({"name": format!("Matrix {n}")}),
        ("PUT", "/api/v1/tenant/plan") => json!({"plan": "enterprise"}),
        ("PATCH", "/api/v1/members/{user_id}") => json!({"role": "viewer"}),
        ("POST", "/api/v1/invitations") => {
            json!({"email": format!("matrix{n}@example.com"), "role": "viewer"})
        }
        // To a plain member: refused for owners too (409), so no transfer is ever pending.
        ("POST", "/api/v1/organization/transfer-ownership") => json!({"user_id": other_member}),
        ("POST", "/api/v1/auth/tokens") => {
            json!({"name": format!("matrix {n}"), "abilities": ["read"]})
        }
        _ => return None,
    })
}

async fn organization(app: &TestApp, admin: &str, name: &str) -> (Objects, String) {
    let (org, tenant, owner) = customer(app, admin, name, "enterprise").await;
    let (site, operation, _) = create_site(
        app,
        &owner,
        json!({"domain": format!("{name}-site.example.com")}),
    )
    .await;
    let backup = crate::backups::a_backup_of(app, &owner, &site).await;
    // Back to `creating`, as the rest of the matrix expects: routes that would ask the (dead)
    // server answer 409 instead.
    app.exec(&format!(
        "UPDATE sites SET status = 'creating' WHERE id = '{site}'"
    ))
    .await;
    let (member, _) = add_member(app, &org, &format!("{name}tgt"), Role::Member).await;
    let res = app
        .post_as(
            &owner,
            "/api/v1/invitations",
            json!({"email": format!("{name}-invitee@example.com"), "role": "viewer"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let invitation = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    let objects = Objects {
        site,
        operation,
        member,
        invitation,
        tenant,
        backup,
    };
    (objects, owner)
}

fn expected(
    caller: Caller,
    action: chom_team::Action,
    object: Option<Object>,
    tenant: Tenant,
) -> Expect {
    let role = match caller {
        Caller::Anonymous | Caller::Removed => return Expect::Unauthenticated,
        Caller::Member(r) => r,
        Caller::OtherOwner => Role::Owner,
    };
    if matches!(tenant, Tenant::Foreign | Tenant::Unknown) {
        return Expect::TenantNotFound;
    }
    if !chom_team::allows(role, action) {
        return Expect::Forbidden;
    }
    // `Own` is the first organization's object: the other owner's own is `Foreign`. An
    // operation without an object acts in the caller's own organization.
    let mine = match (caller, object) {
        (_, None) => true,
        (Caller::OtherOwner, Some(o)) => o == Object::Foreign,
        (_, Some(o)) => o == Object::Own,
    };
    if mine {
        Expect::Allowed
    } else {
        Expect::NotFound
    }
}

async fn every_route_answers_every_role_as_the_policy_says(db: Db) {
    // The sensitive-operation budget would answer 429 before the lookup decides 404.
    let app = spawn_app_with(db, |s| s.security.sensitive_operations_per_minute = 10_000).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-matrix.test", 10_000).await;
    let (ours, owner) = organization(&app, &admin, "olga").await;
    let (theirs, other_owner) = organization(&app, &admin, "bob").await;
    let org_id =
        body(app.get_as(&owner, "/api/v1/auth/me").await).await["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let (_, org_admin) = add_member(&app, &org_id, "ada", Role::Admin).await;
    let (_, member) = add_member(&app, &org_id, "mel", Role::Member).await;
    let (_, viewer) = add_member(&app, &org_id, "vic", Role::Viewer).await;
    let (gone_id, gone) = add_member(&app, &org_id, "rex", Role::Admin).await;
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/members/{gone_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let callers = [
        (Caller::Member(Role::Owner), Some(owner.as_str())),
        (Caller::Member(Role::Admin), Some(org_admin.as_str())),
        (Caller::Member(Role::Member), Some(member.as_str())),
        (Caller::Member(Role::Viewer), Some(viewer.as_str())),
        (Caller::OtherOwner, Some(other_owner.as_str())),
        (Caller::Removed, Some(gone.as_str())),
        (Caller::Anonymous, None),
    ];
    let unknown = uuid::Uuid::now_v7().to_string();
    let nowhere = uuid::Uuid::now_v7().to_string();
    let mut requests = 0;
    let mut unexpected_2xx = Vec::new();
    let mut wrong = Vec::new();
    let mut n = 0;
    for (method, path, action) in OPERATIONS {
        if LEFT_OUT.contains(&(*method, *path)) {
            continue;
        }
        let objects: &[Object] = if ours.for_path(path).is_some() {
            &[Object::Own, Object::Foreign, Object::Unknown]
        } else {
            &[Object::Own]
        };
        for (caller, token) in callers {
            let (home, away) = match caller {
                Caller::OtherOwner => (&theirs, &ours),
                _ => (&ours, &theirs),
            };
            for object in objects {
                for tenant in [
                    Tenant::Default,
                    Tenant::Own,
                    Tenant::Foreign,
                    Tenant::Unknown,
                ] {
                    n += 1;
                    let id = match object {
                        Object::Own => ours.for_path(path),
                        Object::Foreign => theirs.for_path(path),
                        Object::Unknown => Some(unknown.as_str()),
                    };
                    let uri = match id {
                        Some(id) => path.replace("{id}", id).replace("{user_id}", id),
                        None => (*path).to_owned(),
                    };
                    let m = Method::from_bytes(method.as_bytes()).unwrap();
                    let mut req = chom_test_support::api::client()
                        .request(m, app.url(&uri))
                        .timeout(std::time::Duration::from_secs(10));
                    if let Some(t) = token {
                        req = req.bearer_auth(t);
                    }
                    match tenant {
                        Tenant::Default => {}
                        Tenant::Own => req = req.header("x-tenant-id", &home.tenant),
                        Tenant::Foreign => req = req.header("x-tenant-id", &away.tenant),
                        Tenant::Unknown => req = req.header("x-tenant-id", &nowhere),
                    }
                    if let Some(b) = body_for(method, path, n, &home.member) {
                        req = req.json(&b);
                    }
                    let res = req.send().await.unwrap();
                    requests += 1;
                    let status = res.status().as_u16();
                    // Only the headers matter (an event stream is dropped here).
                    let code = if status >= 400 {
                        body(res).await["code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    } else {
                        String::new()
                    };
                    let has_object = ours.for_path(path).is_some();
                    let want = expected(caller, *action, has_object.then_some(*object), tenant);
                    let ok = match want {
                        Expect::Unauthenticated => status == 401,
                        Expect::TenantNotFound => status == 404 && code == "TENANT_NOT_FOUND",
                        Expect::Forbidden => status == 403 && code == "FORBIDDEN",
                        Expect::NotFound => status == 404,
                        Expect::Allowed => {
                            status < 500 && status != 401 && !(status == 403 && code == "FORBIDDEN")
                        }
                    };
                    let case = format!(
                        "{method} {uri} as {caller:?} ({object:?} object, {tenant:?} tenant): expected {want:?}, got {status} {code}"
                    );
                    if (200..300).contains(&status) && want != Expect::Allowed {
                        unexpected_2xx.push(case.clone());
                    }
                    if !ok {
                        wrong.push(case);
                    }
                }
            }
        }
    }
    eprintln!(
        "role matrix ({db:?}): {requests} requests, {} unexpected answers, {} unexpected 2xx",
        wrong.len(),
        unexpected_2xx.len()
    );
    assert!(unexpected_2xx.is_empty(), "{unexpected_2xx:#?}");
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(requests >= 3000, "{requests} requests: the matrix shrank");
}

crate::both_backends!(every_route_answers_every_role_as_the_policy_says);
