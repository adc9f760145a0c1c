//! The audit log over HTTP on both backends: every change made through the API is recorded in
//! its organization's chain with who, from where and which request; owners and admins read
//! and verify it, members and viewers cannot, nobody sees another organization's; the
//! operators read every chain; editing a row in the database is reported at that row.

use crate::helpers::{Db, spawn_app};
use crate::identity::isolation::add_member;
use crate::identity::super_admin;
use crate::sites::{body, create_site, customer, dead_server};
use chom_kernel::Role;
use chom_test_support::api::assert_problem;
use reqwest::Method;
use serde_json::{Value, json};

fn actions(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn every_change_is_recorded_in_its_organizations_chain(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin(&app).await;
    dead_server(&app, &admin, "vps-audit.test", 50).await;
    let (org, tenant, owner) = customer(&app, &admin, "olga", "starter").await;
    let (their_org, _, stranger) = customer(&app, &admin, "bob", "starter").await;
    let me = body(app.get_as(&owner, "/api/v1/auth/me").await).await;
    let owner_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();

    // A rename from a known client: who, from where, which request, before and after.
    let res = chom_test_support::api::client()
        .patch(app.url("/api/v1/organization"))
        .bearer_auth(&owner)
        .header("user-agent", "audit-test/1.0")
        .json(&json!({"name": "Olga Hosting"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (site, _, _) = create_site(&app, &owner, json!({"domain": "audited.example.com"})).await;
    let schedule = json!({"frequency": "daily", "hour": 4, "enabled": true});
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/sites/{site}/backup-schedule"),
            Some(&owner),
            Some(schedule),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);

    let list = body(app.get_as(&owner, "/api/v1/audit?limit=100").await).await;
    assert_eq!(
        actions(&list),
        [
            "backup_schedule.update",
            "site.create",
            "organization.rename",
            "tenant.select_plan",
            "user.approve",
            "organization.register"
        ],
        "{list}"
    );
    let entries = list["data"].as_array().unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [6, 5, 4, 3, 2, 1], "one chain, numbered in order");
    assert!(entries.iter().all(|e| e["organization_id"] == org.as_str()));
    let rename = &entries[2];
    assert_eq!(rename["actor_id"], owner_id.as_str());
    assert_eq!(rename["actor_kind"], "user");
    assert_eq!(rename["user_agent"], "audit-test/1.0");
    assert_eq!(rename["client_addr"], "127.0.0.1");
    assert_eq!(rename["request_id"], request_id.as_str());
    assert_eq!(rename["summary"]["to"], "Olga Hosting");
    assert_eq!(rename["target_id"], org.as_str());
    assert_eq!(entries[3]["tenant_id"], tenant.as_str());
    assert_eq!(
        entries[3]["summary"],
        json!({"from": null, "to": "starter"})
    );
    assert_eq!(
        entries[4]["actor_kind"], "super_admin",
        "the operator's approval"
    );
    assert_eq!(entries[1]["target_id"], site.as_str());
    assert_eq!(entries[1]["summary"]["domain"], "audited.example.com");
    assert_eq!(entries[0]["summary"]["after"]["hour"], 4);
    assert_eq!(entries[5]["prev_hash"], "0".repeat(64));
    for pair in entries.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "linked");
    }

    // Filters and paging; a bad filter names its field.
    let created = body(app.get_as(&owner, "/api/v1/audit?action=site.create").await).await;
    assert_eq!(actions(&created), ["site.create"]);
    let by_me = body(
        app.get_as(
            &owner,
            &format!("/api/v1/audit?actor={owner_id}&target_type=organization"),
        )
        .await,
    )
    .await;
    assert_eq!(
        actions(&by_me),
        ["organization.rename", "organization.register"]
    );
    let page = body(app.get_as(&owner, "/api/v1/audit?limit=4").await).await;
    let next = page["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let rest = body(
        app.get_as(&owner, &format!("/api/v1/audit?cursor={next}"))
            .await,
    )
    .await;
    assert_eq!(actions(&rest), ["user.approve", "organization.register"]);
    let future = body(
        app.get_as(&owner, "/api/v1/audit?from=2999-01-01T00:00:00Z")
            .await,
    )
    .await;
    assert!(actions(&future).is_empty());
    let problem = assert_problem(
        app.get_as(&owner, "/api/v1/audit?actor=me&from=yesterday&limit=0")
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
    assert_eq!(fields, ["actor", "from", "limit"], "{problem}");

    // Owners and admins only; another organization sees only its own chain.
    let (_, viewer) = add_member(&app, &org, "vic", Role::Viewer).await;
    let (_, member) = add_member(&app, &org, "mel", Role::Member).await;
    let (_, org_admin) = add_member(&app, &org, "ada", Role::Admin).await;
    for token in [&viewer, &member] {
        assert_problem(app.get_as(token, "/api/v1/audit").await, 403, "FORBIDDEN").await;
        assert_problem(
            app.get_as(token, "/api/v1/audit/verify").await,
            403,
            "FORBIDDEN",
        )
        .await;
    }
    let seen = body(app.get_as(&org_admin, "/api/v1/audit?limit=100").await).await;
    assert_eq!(seen["data"], list["data"]);
    let theirs = body(app.get_as(&stranger, "/api/v1/audit?limit=100").await).await;
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["organization_id"] == their_org.as_str()),
        "{theirs}"
    );
    assert_problem(app.get("/api/v1/audit").await, 401, "UNAUTHENTICATED").await;

    // The operators see every chain, and their own.
    let ops = body(
        app.get_as(&admin, "/api/v1/admin/audit?organization=operators")
            .await,
    )
    .await;
    assert!(actions(&ops).contains(&"vps.add"), "{ops}");
    assert!(
        ops["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["organization_id"].is_null())
    );
    let olga = body(
        app.get_as(
            &admin,
            &format!("/api/v1/admin/audit?organization={org}&limit=100"),
        )
        .await,
    )
    .await;
    assert_eq!(olga["data"], list["data"]);
    assert_problem(
        app.get_as(&owner, "/api/v1/admin/audit").await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_problem(
        app.get_as(&admin, "/api/v1/admin/audit?organization=nobody")
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;

    // Intact; then one row edited in the database is reported at exactly that row, and the
    // other organization's chain is untouched.
    let verdict = body(app.get_as(&owner, "/api/v1/audit/verify").await).await;
    assert_eq!(
        (
            &verdict["data"]["intact"],
            &verdict["data"]["checked"],
            &verdict["data"]["head_seq"]
        ),
        (&json!(true), &json!(6), &json!(6)),
        "{verdict}"
    );
    assert_eq!(verdict["data"]["head_hash"], entries[0]["hash"]);
    app.exec(&format!(
        "UPDATE audit_log SET summary = '{{\"to\": \"Someone Else\"}}' WHERE chain = '{org}' AND seq = 4"
    ))
    .await;
    let verdict = body(app.get_as(&org_admin, "/api/v1/audit/verify").await).await;
    assert_eq!(verdict["data"]["intact"], false, "{verdict}");
    assert_eq!(
        verdict["data"]["broken"],
        json!({"seq": 4, "entry_id": entries[2]["id"], "kind": "edited"}),
        "{verdict}"
    );
    assert_eq!(verdict["data"]["checked"], 3);
    let theirs = body(app.get_as(&stranger, "/api/v1/audit/verify").await).await;
    assert_eq!(theirs["data"]["intact"], true, "{theirs}");
}

crate::both_backends!(every_change_is_recorded_in_its_organizations_chain);

/// On PostgreSQL an entry is appended to the inbox in the change's transaction and linked
/// after commit by the worker's linker (ADR 0010): with nobody reading the log, the app's
/// worker alone empties the inbox into the chain within moments. (Without the linker's loop in
/// the worker, the inbox stays full and this fails.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_links_what_changes_append() {
    let app = spawn_app(Db::Postgres).await;
    let admin = super_admin(&app).await;
    let (org, _, owner) = customer(&app, &admin, "lina", "starter").await;
    let res = chom_test_support::api::client()
        .patch(app.url("/api/v1/organization"))
        .bearer_auth(&owner)
        .json(&json!({"name": "Lina Hosting"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut pending = -1;
    for _ in 0..200 {
        pending = app.count("SELECT count(*) FROM audit_inbox").await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0, "the inbox is emptied by the worker");
    let renamed = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE chain = '{org}' AND action = 'organization.rename' AND seq > 0 AND hash <> ''"
        ))
        .await;
    assert_eq!(
        renamed, 1,
        "the rename is in its chain, numbered and hashed"
    );
}
