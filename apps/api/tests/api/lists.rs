//! Every list pages the same way: `{"data": [...], "meta": {"limit", "next_cursor"}}`,
//! `?cursor=&limit=` (1 to 100, 20 by default), a stable order, 422 `VALIDATION_FAILED` naming
//! `cursor` or `limit` for a bad one; and paging never crosses an organization's walls.

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
use crate::identity::isolation::add_member;
use crate::identity::{onboard, register, super_admin};
use chom_kernel::Role;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

async fn body(res: reqwest::Response) -> Value {
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.expect("json")
}

fn with(path: &str, query: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{query}")
}

/// Walks `path` in pages of `limit` through `next_cursor`; checks every page's `meta` and
/// returns the items in order.
async fn walk(app: &TestApp, token: Option<&str>, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = with(path, &format!("limit={limit}"));
    for _ in 0..50 {
        let page = body(app.send(Method::GET, &next, token, None).await).await;
        let data = page["data"].as_array().expect("data is a list");
        assert!(data.len() <= limit, "{page}");
        assert_eq!(page["meta"]["limit"], limit, "{page}");
        items.extend(data.iter().cloned());
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(data.len(), limit, "only a full page points further: {page}");
                next = with(path, &format!("limit={limit}&cursor={c}"));
            }
            None => return items,
        }
    }
    panic!("{path}: the pages never end");
}

/// The first page without `limit`: 20 per page.
async fn first_page(app: &TestApp, token: Option<&str>, path: &str) -> Value {
    let page = body(app.send(Method::GET, path, token, None).await).await;
    assert_eq!(page["meta"]["limit"], 20, "{page}");
    page
}

/// A bad cursor or limit is refused exactly as `GET /api/v1/sites` refuses it.
async fn refuses_bad_pages(app: &TestApp, token: Option<&str>, path: &str) {
    for (query, field, code) in [
        ("cursor=x", "cursor", "INVALID_FORMAT"),
        ("cursor=", "cursor", "INVALID_FORMAT"),
        ("limit=0", "limit", "INVALID_VALUE"),
        ("limit=101", "limit", "INVALID_VALUE"),
        ("limit=-1", "limit", "INVALID_VALUE"),
    ] {
        let res = app.send(Method::GET, &with(path, query), token, None).await;
        let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
        assert_eq!(
            problem["errors"][0]["field"], field,
            "{path}?{query}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["code"], code,
            "{path}?{query}: {problem}"
        );
    }
    // Not a query this API understands at all.
    for query in ["limit=ten", "page=2"] {
        let res = app.send(Method::GET, &with(path, query), token, None).await;
        assert_problem(res, 400, "BAD_REQUEST").await;
    }
}

fn strings(items: &[Value], pointer: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{pointer} in {i}"))
                .to_owned()
        })
        .collect()
}

/// Every item once: as many distinct ids as items.
fn assert_unique(ids: &[String]) {
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an item repeats: {ids:?}");
}

fn assert_newest_first(ids: &[String]) {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {ids:?}"
    );
}

async fn members_page_within_their_organization(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (alice, alice_token) = onboard(&app, &admin, "alice").await;
    let mut expected = vec![alice.user_id.clone()];
    for (name, role) in [
        ("amy", Role::Admin),
        ("abe", Role::Member),
        ("ann", Role::Viewer),
        ("art", Role::Member),
    ] {
        expected.push(add_member(&app, &alice.org_id, name, role).await.0);
    }
    let (bob, bob_token) = onboard(&app, &admin, "bob").await;
    let (bea, _) = add_member(&app, &bob.org_id, "bea", Role::Member).await;

    // Pages of two, then of one: every member once, oldest account first, nobody else.
    expected.sort();
    for limit in [2, 1, 100] {
        let members = walk(&app, Some(&alice_token), "/api/v1/members", limit).await;
        assert_eq!(strings(&members, "/user/id"), expected, "limit={limit}");
    }
    let page = first_page(&app, Some(&alice_token), "/api/v1/members").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    assert!(page["meta"]["next_cursor"].is_null());
    let roles = strings(
        &walk(&app, Some(&alice_token), "/api/v1/members", 2).await,
        "/role",
    );
    assert_eq!(roles.iter().filter(|r| *r == "owner").count(), 1);

    // Bob's organization pages on its own; a cursor naming one of its members leaks nothing
    // to Alice (it is only a position among Alice's members).
    let mut bobs = vec![bob.user_id.clone(), bea.clone()];
    bobs.sort();
    let seen = walk(&app, Some(&bob_token), "/api/v1/members", 1).await;
    assert_eq!(strings(&seen, "/user/id"), bobs);
    for cursor in [&bob.user_id, &bea] {
        let page = body(
            app.get_as(&alice_token, &format!("/api/v1/members?cursor={cursor}"))
                .await,
        )
        .await;
        let ids = strings(page["data"].as_array().unwrap(), "/user/id");
        assert!(ids.iter().all(|i| expected.contains(i)), "{page}");
        assert!(ids.iter().all(|i| i > cursor), "{page}");
    }
    refuses_bad_pages(&app, Some(&alice_token), "/api/v1/members").await;
}

async fn tokens_page_and_stay_their_owners(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, alice_token) = onboard(&app, &admin, "alice").await;
    let (_, bob_token) = onboard(&app, &admin, "bob").await;
    let mut mine = Vec::new();
    for n in 0..4 {
        let res = app
            .post_as(
                &alice_token,
                "/api/v1/auth/tokens",
                json!({"name": format!("ci {n}"), "abilities": ["read"]}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 201);
        let issued: Value = res.json().await.unwrap();
        mine.push(issued["data"]["id"].as_str().unwrap().to_owned());
    }
    let res = app
        .post_as(
            &bob_token,
            "/api/v1/auth/tokens",
            json!({"name": "bob's", "abilities": ["read"]}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);

    // Alice's login token and her four, newest first, each once; none of Bob's.
    let all = walk(&app, Some(&alice_token), "/api/v1/auth/tokens", 2).await;
    let ids = strings(&all, "/id");
    assert_eq!(ids.len(), 5, "{all:?}");
    assert_unique(&ids);
    assert_newest_first(&ids);
    mine.reverse();
    assert_eq!(ids[..4], mine[..]);
    assert_eq!(all.iter().filter(|t| t["current"] == true).count(), 1);
    assert!(!all.iter().any(|t| t["name"] == "bob's"));
    let bobs = walk(&app, Some(&bob_token), "/api/v1/auth/tokens", 1).await;
    assert_eq!(bobs.len(), 2);
    assert!(strings(&bobs, "/id").iter().all(|i| !ids.contains(i)));

    // Revoking the token a cursor names does not lose the rest of the walk.
    let first = body(
        app.get_as(&alice_token, "/api/v1/auth/tokens?limit=2")
            .await,
    )
    .await;
    let cursor = first["meta"]["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(cursor, ids[1]);
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/auth/tokens/{cursor}"),
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    let rest = body(
        app.get_as(
            &alice_token,
            &format!("/api/v1/auth/tokens?limit=2&cursor={cursor}"),
        )
        .await,
    )
    .await;
    assert_eq!(strings(rest["data"].as_array().unwrap(), "/id"), ids[2..4]);
    let page = first_page(&app, Some(&alice_token), "/api/v1/auth/tokens").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    refuses_bad_pages(&app, Some(&alice_token), "/api/v1/auth/tokens").await;
}

async fn admin_lists_page(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let mut people = Vec::new();
    for name in ["ada", "ben", "cyd"] {
        people.push(register(&app, name).await);
    }
    let users = |p: &[crate::identity::Person]| -> HashSet<String> {
        p.iter().map(|p| p.user_id.clone()).collect()
    };

    // Users: the super admin and the three sign-ups.
    let listed = walk(&app, Some(&admin), "/api/v1/admin/users", 1).await;
    let ids = strings(&listed, "/id");
    assert_eq!(ids.len(), 4);
    assert_unique(&ids);
    assert_newest_first(&ids);
    assert!(users(&people).iter().all(|u| ids.contains(u)));
    assert_eq!(listed[3]["username"], "root", "the oldest comes last");

    // Organizations and tenants: one each per sign-up.
    let orgs = strings(
        &walk(&app, Some(&admin), "/api/v1/admin/organizations", 2).await,
        "/id",
    );
    assert_newest_first(&orgs);
    let expected: Vec<_> = people.iter().rev().map(|p| p.org_id.clone()).collect();
    assert_eq!(orgs, expected);
    let tenants = strings(
        &walk(&app, Some(&admin), "/api/v1/admin/tenants", 2).await,
        "/id",
    );
    assert_eq!(
        tenants,
        people
            .iter()
            .rev()
            .map(|p| p.tenant_id.clone())
            .collect::<Vec<_>>()
    );

    // Approvals: each pending user and pending organization once, in one newest-first
    // sequence.
    let pending = walk(&app, Some(&admin), "/api/v1/admin/approvals", 1).await;
    let mut ids = Vec::new();
    for a in &pending {
        match a["kind"].as_str() {
            Some("user") => {
                assert!(a["organization"].is_null(), "{a}");
                ids.push(a["user"]["id"].as_str().unwrap().to_owned());
            }
            Some("organization") => {
                assert!(a["user"].is_null(), "{a}");
                ids.push(a["organization"]["id"].as_str().unwrap().to_owned());
            }
            _ => panic!("{a}"),
        }
    }
    assert_eq!(ids.len(), 6);
    assert_unique(&ids);
    assert_newest_first(&ids);
    assert!(users(&people).iter().all(|u| ids.contains(u)));
    assert!(expected.iter().all(|o| ids.contains(o)));
    for limit in [4, 5, 6, 20] {
        let again = walk(&app, Some(&admin), "/api/v1/admin/approvals", limit).await;
        assert_eq!(again, pending, "limit={limit}");
    }

    // Approving Ben takes him and his organization off the queue.
    let res = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/users/{}/approve", people[1].user_id),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    let left = walk(&app, Some(&admin), "/api/v1/admin/approvals", 3).await;
    assert_eq!(left.len(), 4);
    assert!(
        !left
            .iter()
            .any(|a| a["user"]["id"] == people[1].user_id.as_str()
                || a["organization"]["id"] == people[1].org_id.as_str())
    );

    for path in [
        "/api/v1/admin/users",
        "/api/v1/admin/organizations",
        "/api/v1/admin/tenants",
        "/api/v1/admin/approvals",
    ] {
        let page = first_page(&app, Some(&admin), path).await;
        assert!(page["meta"]["next_cursor"].is_null(), "{path}: {page}");
        refuses_bad_pages(&app, Some(&admin), path).await;
    }
}

async fn every_list_answers_the_same_meta(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, owner) = onboard(&app, &admin, "olga").await;

    // The public catalogue pages too (its cursor is a plan code).
    let plans = walk(&app, None, "/api/v1/plans", 1).await;
    assert_eq!(strings(&plans, "/code"), ["starter", "pro", "enterprise"]);
    let page = first_page(&app, None, "/api/v1/plans").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    assert!(page["meta"]["next_cursor"].is_null());
    refuses_bad_pages(&app, None, "/api/v1/plans").await;
    let res = app.get("/api/v1/plans?cursor=no-such-plan").await;
    assert_problem(res, 422, "VALIDATION_FAILED").await;

    // Sites answer the same meta, and refuse bad pages with the same codes.
    let sites = first_page(&app, Some(&owner), "/api/v1/sites").await;
    assert_eq!(sites["meta"], json!({"limit": 20, "next_cursor": null}));
    refuses_bad_pages(&app, Some(&owner), "/api/v1/sites").await;
    for path in [
        "/api/v1/members",
        "/api/v1/auth/tokens",
        "/api/v1/admin/users",
        "/api/v1/admin/organizations",
        "/api/v1/admin/tenants",
        "/api/v1/admin/approvals",
    ] {
        let token = if path.starts_with("/api/v1/admin") {
            &admin
        } else {
            &owner
        };
        let page = first_page(&app, Some(token), path).await;
        let meta = page["meta"].as_object().unwrap();
        let mut keys: Vec<_> = meta.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["limit", "next_cursor"], "{path}: {page}");
    }
}

crate::both_backends!(
    members_page_within_their_organization,
    tokens_page_and_stay_their_owners,
    admin_lists_page,
    every_list_answers_the_same_meta,
);
