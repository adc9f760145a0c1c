//! Sites over HTTP on both backends: the creation checks in order (role, approval, plan, quota,
//! fields, capacity), tenant isolation on every route, placement under concurrency, and (in
//! `lifecycle`) the whole life of a site on a loopback sshd with the real agent. The same life
//! on the real binaries is an end-to-end test (`tests/tests/e2e/`).

use crate::helpers::{Db, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::identity::isolation::add_member;
use crate::identity::{onboard, super_admin};
use reqwest::Method;
use serde_json::{Value, json};

mod backup;
mod lifecycle;
mod ssl;

pub(crate) use chom_test_support::api::body;
pub(crate) use chom_test_support::hosting::create_site;
pub(crate) use chom_test_support::onboarding::customer;

/// A server placement will use, that nobody answers on (its jobs retry in the background).
pub(crate) async fn dead_server(
    app: &TestApp,
    admin: &str,
    hostname: &str,
    max_sites: i32,
) -> String {
    let res = app
        .post_as(
            admin,
            "/api/v1/admin/vps",
            json!({"hostname": hostname, "ip_address": "127.0.0.1", "ssh_port": 1, "provider": "test",
                "cpu_cores": 1, "memory_mb": 1024, "disk_gb": 10, "allocation": "shared", "max_sites": max_sites}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let id = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    app.exec(&format!(
        "UPDATE vps_servers SET host_key = 'ssh-ed25519 AAAAtest', health = 'healthy' WHERE id = '{id}'"
    ))
    .await;
    id
}

async fn create(app: &TestApp, token: &str, spec: Value) -> reqwest::Response {
    app.post_as(token, "/api/v1/sites", spec).await
}

async fn operations_queued(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation'")
        .await
}

async fn creation_is_checked_in_order(db: Db) {
    // The test changes the organization's approval with raw SQL, behind the API's back: no
    // session may be served from the memory cache (it could still say "pending" after the
    // approval is restored, and the next request would be refused).
    let app = spawn_app_with(db, |s| s.security.session_cache_ms = 0).await;
    let admin = super_admin(&app).await;
    let (org, _, owner) = onboard_without_plan(&app, &admin, "olga").await;

    // A viewer is refused before anything else is looked at.
    let (_, viewer) = add_member(&app, &org, "vic", chom_kernel::Role::Viewer).await;
    assert_problem(
        create(&app, &viewer, json!({"domain": "a.example.com"})).await,
        403,
        "FORBIDDEN",
    )
    .await;
    // No plan yet.
    assert_problem(
        create(&app, &owner, json!({"domain": "a.example.com"})).await,
        403,
        "PLAN_NOT_SELECTED",
    )
    .await;
    let res = app
        .send(
            Method::PUT,
            "/api/v1/tenant/plan",
            Some(&owner),
            Some(json!({"plan": "starter"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    // No server at all.
    assert_problem(
        create(&app, &owner, json!({"domain": "a.example.com"})).await,
        503,
        "NO_CAPACITY",
    )
    .await;
    dead_server(&app, &admin, "vps-a.test", 50).await;

    // Bad input: 422 naming the field, nothing stored, nothing enqueued.
    let bad_domains = [
        "",
        "localhost",
        "example",
        ".example.com",
        "example.com.",
        "ex..ample.com",
        "-a.example.com",
        "a-.example.com",
        "a_b.example.com",
        "a b.example.com",
        "example.c",
        "example.123",
        "ünicode.example.com",
        "a;rm -rf /.example.com",
        "$(id).example.com",
        "`id`.example.com",
        "a/b.example.com",
        "a\nb.example.com",
        "http://example.com",
        "example.com:80",
        "*.example.com",
        &format!("{}.example.com", "a".repeat(64)),
    ];
    assert!(bad_domains.len() >= 20);
    for bad in bad_domains {
        let problem = assert_problem(
            create(&app, &owner, json!({ "domain": bad })).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"], "domain",
            "{bad:?}: {problem}"
        );
    }
    let problem = assert_problem(
        create(
            &app,
            &owner,
            json!({"domain": "ok.example.com", "site_type": "joomla", "php_version": "7.4"}),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["site_type", "php_version"], "{problem}");
    assert_problem(
        create(&app, &owner, json!({"domain": 42})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM sites").await, 0);
    assert_eq!(operations_queued(&app).await, 0);

    // Five sites on starter; the sixth is refused with current and limit.
    for n in 1..=5 {
        let res = create(
            &app,
            &owner,
            json!({"domain": format!("site{n}.example.com"), "site_type": "html", "php_version": "8.3"}),
        )
        .await;
        assert_eq!(res.status().as_u16(), 202);
        let b = body(res).await;
        assert_eq!(b["data"]["site"]["status"], "creating");
        assert_eq!(b["data"]["operation"]["kind"], "provision");
        assert_eq!(b["data"]["operation"]["steps"][0]["name"], "site.create");
    }
    let problem = assert_problem(
        create(&app, &owner, json!({"domain": "site6.example.com"})).await,
        403,
        "SITE_LIMIT_EXCEEDED",
    )
    .await;
    assert_eq!(
        (problem["current"].as_i64(), problem["limit"].as_i64()),
        (Some(5), Some(5))
    );
    // Viewers read sites but never their secrets; nothing is there before provisioning.
    let listed = body(app.get_as(&viewer, "/api/v1/sites").await).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 5);
    let first = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let credentials = format!("/api/v1/sites/{first}/database/credentials");
    assert_problem(app.get_as(&viewer, &credentials).await, 403, "FORBIDDEN").await;
    assert_problem(app.get_as(&owner, &credentials).await, 409, "NO_DATABASE").await;
    assert_eq!(operations_queued(&app).await, 5);
    // The domain is unique in the tenant (case and spaces do not matter).
    app.exec("UPDATE plans SET max_sites = 10 WHERE code = 'starter'")
        .await;
    assert_problem(
        create(&app, &owner, json!({"domain": " SITE1.example.com "})).await,
        409,
        "DOMAIN_TAKEN",
    )
    .await;

    // An organization that is not approved gets its code; a suspended tenant its own.
    app.exec(&format!(
        "UPDATE organizations SET approval_status = 'pending' WHERE id = '{org}'"
    ))
    .await;
    let res = create(&app, &owner, json!({"domain": "p.example.com"})).await;
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(body(res).await["code"], "ACCOUNT_PENDING_APPROVAL");
    app.exec(&format!(
        "UPDATE organizations SET approval_status = 'approved' WHERE id = '{org}'"
    ))
    .await;
    let tenant = onboard_tenant(&app, &owner).await;
    let res = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/tenants/{tenant}/suspend"),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        create(&app, &owner, json!({"domain": "s.example.com"})).await,
        403,
        "TENANT_NOT_ACTIVE",
    )
    .await;
    // A suspended tenant may take a site down (here: still provisioning, so not yet), not
    // bring one back or change it.
    let any = body(app.get_as(&owner, "/api/v1/sites").await).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.post_as(&owner, &format!("/api/v1/sites/{any}/enable"), json!({}))
            .await,
        403,
        "TENANT_NOT_ACTIVE",
    )
    .await;
    assert_problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/sites/{any}"),
            Some(&owner),
            None,
        )
        .await,
        409,
        "OPERATION_IN_PROGRESS",
    )
    .await;
    assert_eq!(operations_queued(&app).await, 5);
}

async fn onboard_without_plan(
    app: &TestApp,
    admin: &str,
    username: &str,
) -> (String, String, String) {
    let (p, token) = onboard(app, admin, username).await;
    (p.org_id, p.tenant_id, token)
}

async fn onboard_tenant(app: &TestApp, token: &str) -> String {
    let me = body(app.get_as(token, "/api/v1/auth/me").await).await;
    me["data"]["tenant"]["id"].as_str().unwrap().to_owned()
}

async fn a_foreign_site_is_not_found_on_every_route(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    let (_, _, stranger) = customer(&app, &admin, "sam", "starter").await;
    dead_server(&app, &admin, "vps-a.test", 50).await;
    let res = create(&app, &owner, json!({"domain": "mine.example.com"})).await;
    assert_eq!(res.status().as_u16(), 202);
    let b = body(res).await;
    let site = b["data"]["site"]["id"].as_str().unwrap().to_owned();
    let op = b["data"]["operation"]["id"].as_str().unwrap().to_owned();
    // The owner sees it.
    assert_eq!(
        app.get_as(&owner, &format!("/api/v1/sites/{site}"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.get_as(&owner, &format!("/api/v1/operations/{op}"))
            .await
            .status()
            .as_u16(),
        200
    );

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/sites/{site}"), None),
        (
            Method::PATCH,
            format!("/api/v1/sites/{site}"),
            Some(json!({"php_version": "8.4"})),
        ),
        (Method::DELETE, format!("/api/v1/sites/{site}"), None),
        (Method::POST, format!("/api/v1/sites/{site}/enable"), None),
        (Method::POST, format!("/api/v1/sites/{site}/disable"), None),
        (Method::POST, format!("/api/v1/sites/{site}/retry"), None),
        (Method::POST, format!("/api/v1/sites/{site}/ssl"), None),
        (
            Method::POST,
            format!("/api/v1/sites/{site}/ssl/renew"),
            None,
        ),
        (Method::GET, format!("/api/v1/sites/{site}/ssl"), None),
        (Method::GET, format!("/api/v1/sites/{site}/info"), None),
        (
            Method::POST,
            format!("/api/v1/sites/{site}/cache/clear"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sites/{site}/database/export"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sites/{site}/database/optimize"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/sites/{site}/database/credentials"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/sites/{site}/operations"),
            None,
        ),
        (Method::GET, format!("/api/v1/operations/{op}"), None),
        (Method::GET, format!("/api/v1/operations/{op}/events"), None),
        (Method::GET, "/api/v1/sites/not-a-uuid".to_owned(), None),
    ];
    for (method, path, json_body) in routes {
        let res = app
            .send(method.clone(), &path, Some(&stranger), json_body)
            .await;
        assert_problem(res, 404, "NOT_FOUND").await;
    }
    // The stranger's list is empty; the owner's has the site.
    let list = body(app.get_as(&stranger, "/api/v1/sites").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let list = body(app.get_as(&owner, "/api/v1/sites").await).await;
    assert_eq!(list["data"][0]["id"], site.as_str());
    // Nothing of the owner's changed.
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "creating");
    assert_eq!(operations_queued(&app).await, 1);
}

async fn sites_are_listed_with_filters_and_cursors(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "pro").await;
    dead_server(&app, &admin, "vps-a.test", 50).await;
    for (n, kind) in ["wordpress", "html", "laravel", "html", "wordpress"]
        .iter()
        .enumerate()
    {
        let res = create(
            &app,
            &owner,
            json!({"domain": format!("s{n}.shop.example.com"), "site_type": kind}),
        )
        .await;
        assert_eq!(res.status().as_u16(), 202);
    }
    let html = body(app.get_as(&owner, "/api/v1/sites?type=html").await).await;
    assert_eq!(html["data"].as_array().unwrap().len(), 2);
    let search = body(app.get_as(&owner, "/api/v1/sites?search=S4.SHOP").await).await;
    assert_eq!(search["data"][0]["domain"], "s4.shop.example.com");
    assert_eq!(search["data"].as_array().unwrap().len(), 1);
    let none = body(app.get_as(&owner, "/api/v1/sites?search=%25").await).await;
    assert_eq!(
        none["data"].as_array().unwrap().len(),
        0,
        "% is not a wildcard"
    );
    // Pages of two, newest first, every site once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/sites?limit=2".to_owned();
    loop {
        let page = body(app.get_as(&owner, &path).await).await;
        for s in page["data"].as_array().unwrap() {
            seen.push(s["domain"].as_str().unwrap().to_owned());
        }
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/sites?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["s4", "s3", "s2", "s1", "s0"].map(|s| format!("{s}.shop.example.com"))
    );
    for bad in [
        "status=gone",
        "type=php",
        "limit=0",
        "limit=101",
        "cursor=x",
    ] {
        assert_problem(
            app.get_as(&owner, &format!("/api/v1/sites?{bad}")).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
    }
}

async fn concurrent_creations_never_overfill_a_server(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    // Four tenants, five creations each, all at once: only the servers' rows serialise them.
    let mut owners = Vec::new();
    for name in ["olga", "sam", "tom", "uma"] {
        owners.push(customer(&app, &admin, name, "enterprise").await.2);
    }
    let a = dead_server(&app, &admin, "vps-a.test", 8).await;
    let b = dead_server(&app, &admin, "vps-b.test", 8).await;
    let attempts = (0..20).map(|n| {
        let (app, owner) = (&app, owners[n % 4].clone());
        async move {
            create(
                app,
                &owner,
                json!({"domain": format!("c{n}.example.com"), "site_type": "html"}),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let mut codes = Vec::new();
    for res in results {
        let status = res.status().as_u16();
        let b = body(res).await;
        codes.push(match status {
            202 => "ACCEPTED".to_owned(),
            _ => b["code"].as_str().unwrap_or("?").to_owned(),
        });
    }
    let accepted = codes.iter().filter(|c| *c == "ACCEPTED").count();
    let full = codes.iter().filter(|c| *c == "NO_CAPACITY").count();
    assert_eq!((accepted, full), (16, 4), "{codes:?}");
    for vps in [a, b] {
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM sites WHERE vps_id = '{vps}' AND deleted_at IS NULL"
            ))
            .await;
        assert_eq!(n, 8, "server {vps} holds {n} sites");
    }
    assert_eq!(operations_queued(&app).await, 16);
}

async fn an_operation_whose_job_died_is_failed_by_the_reaper(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin, "vps-a.test", 50).await;
    let (site, op, _) = create_site(&app, &owner, json!({"domain": "lost.example.com"})).await;
    let sites = &app.app_services.sites;
    // While its job is queued or running, an operation is left alone.
    assert_eq!(sites.reap_abandoned().await.unwrap(), 0);
    // The job dies (its worker was lost on the last attempt): the operation would block the
    // site for good.
    app.exec("UPDATE jobs SET state = 'dead' WHERE kind = 'site_hosting::run_operation'")
        .await;
    assert_eq!(sites.reap_abandoned().await.unwrap(), 1);
    let failed = body(
        app.get_as(&owner, &format!("/api/v1/operations/{op}"))
            .await,
    )
    .await;
    assert_eq!(failed["data"]["status"], "failed", "{failed}");
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "failed", "{shown}");
    assert!(
        shown["data"]["status_reason"]
            .as_str()
            .unwrap()
            .contains("job stopped")
    );
    // The site can be retried again; the new operation has a live job.
    let res = app
        .post_as(&owner, &format!("/api/v1/sites/{site}/retry"), json!({}))
        .await;
    assert_eq!(res.status().as_u16(), 202);
    assert_eq!(sites.reap_abandoned().await.unwrap(), 0);
}

/// L6: at most five event streams per token at a time (another token has its own), a closed
/// stream frees its slot, and a revoked token's streams end.
async fn l6_event_streams_are_capped_per_token_and_end_with_it(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    dead_server(&app, &admin, "vps-a.test", 50).await;
    let (_, op, _) = create_site(
        &app,
        &owner,
        json!({"domain": "a.example.com", "site_type": "html"}),
    )
    .await;
    let url = app.url(&format!("/api/v1/operations/{op}/events"));
    let open = |token: String| {
        let (client, url) = (app.client.clone(), url.clone());
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mut streams = Vec::new();
    for _ in 0..5 {
        let res = open(owner.clone()).await;
        assert_eq!(res.status().as_u16(), 200);
        streams.push(res);
    }
    assert_problem(open(owner.clone()).await, 429, "TOO_MANY_STREAMS").await;
    let other = crate::identity::login(&app, "olga@example.com", crate::identity::PASSWORD).await;
    assert_eq!(open(other).await.status().as_u16(), 200);
    // A stream the client closed frees its slot (noticed when a keep-alive, every 5 s, fails
    // to be written: the first write after the close may still be accepted by the kernel).
    drop(streams.pop());
    let mut reopened = None;
    for _ in 0..100 {
        let res = open(owner.clone()).await;
        if res.status().as_u16() == 200 {
            reopened = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    streams.push(reopened.expect("a closed stream's slot was never freed"));
    // Logging out revokes the token: its streams end (they would run for 30 minutes).
    let res = app.post_as(&owner, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(res.status().as_u16(), 204);
    for s in streams {
        let ended = tokio::time::timeout(std::time::Duration::from_secs(15), s.bytes()).await;
        assert!(ended.is_ok(), "a revoked token's stream kept running");
    }
}

/// L13: domains are global: another tenant cannot claim a name a live site answers for, nor its
/// `www.` alias (each vhost serves both); a deleted site's name is free again.
async fn l13_a_domain_or_its_www_alias_belongs_to_one_site(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    let (_, _, alice) = customer(&app, &admin, "alice", "starter").await;
    let (_, _, bob) = customer(&app, &admin, "bob", "starter").await;
    dead_server(&app, &admin, "vps-a.test", 50).await;
    create_site(
        &app,
        &alice,
        json!({"domain": "a-corp.example.com", "site_type": "html"}),
    )
    .await;
    create_site(
        &app,
        &alice,
        json!({"domain": "www.b-corp.example.com", "site_type": "html"}),
    )
    .await;
    for taken in [
        "a-corp.example.com",
        "www.a-corp.example.com",
        "b-corp.example.com",
        "www.www.b-corp.example.com",
    ] {
        let res = create(&app, &bob, json!({"domain": taken, "site_type": "html"})).await;
        assert_problem(res, 409, "DOMAIN_TAKEN").await;
    }
    let res = create(
        &app,
        &bob,
        json!({"domain": "shop.a-corp.example.com", "site_type": "html"}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 202, "a sub-domain is another name");
}

crate::both_backends!(
    l13_a_domain_or_its_www_alias_belongs_to_one_site,
    l6_event_streams_are_capped_per_token_and_end_with_it,
    an_operation_whose_job_died_is_failed_by_the_reaper,
    creation_is_checked_in_order,
    a_foreign_site_is_not_found_on_every_route,
    sites_are_listed_with_filters_and_cursors,
    concurrent_creations_never_overfill_a_server,
);
