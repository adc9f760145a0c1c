//! The fleet API over a private sshd on loopback, with the real agent binary installed by
//! bootstrap into a sandbox: add, trust the host key, bootstrap, health, sites, maintenance,
//! a changed key refused, an unreachable server recorded, decommission.

use crate::helpers::{
    Db, SshRig, TestApp, agent_binary, assert_problem, configure_ssh, spawn_app_with,
    super_admin_token,
};
use chom_test_support::Sshd;
use reqwest::Method;
use serde_json::{Value, json};

async fn body(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

/// A fresh ed25519 public key nobody serves (`ssh-ed25519 AAAA…`).
fn another_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fingerprint `ssh-keygen -lf` prints for `key` (`SHA256:…`).
fn keygen_fingerprint(key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pub");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let fp = text.split_whitespace().nth(1).unwrap().to_owned();
    assert!(fp.starts_with("SHA256:"), "{text}");
    fp
}

/// A server on `sshd` with nothing pinned yet: its id.
async fn unpinned_server(app: &TestApp, admin: &str, sshd: &Sshd, hostname: &str) -> String {
    let res = app
        .post_as(
            admin,
            "/api/v1/admin/vps",
            json!({"hostname": hostname, "ip_address": "127.0.0.1", "ssh_port": sshd.port, "ssh_user": "root",
                "provider": "custom", "cpu_cores": 2, "memory_mb": 4096, "disk_gb": 80, "allocation": "shared"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    body(res).await["data"]["id"].as_str().unwrap().to_owned()
}

/// A raw POST with `content_type` and `raw` as the body.
async fn post_raw(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    raw: &'static str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(raw)
        .send()
        .await
        .unwrap()
}

async fn pinned_key(app: &TestApp, admin: &str, id: &str) -> Value {
    body(app.get_as(admin, &format!("/api/v1/admin/vps/{id}")).await).await["data"]["host_key"]
        .clone()
}

/// M4: a body that does not parse is refused (it used to be dropped, skipping the fingerprint
/// check and pinning whatever answered); nothing is pinned by a refused call. Only a body left
/// out (or `{}`) means first contact, and the answer shows what was pinned, with its
/// fingerprint as `ssh-keygen -lf` prints it.
async fn m4_a_malformed_trust_body_pins_nothing(db: Db) {
    let sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        configure_ssh(s, &rig, &sshd, work.path().join("ssh-state"));
    })
    .await;
    let admin = super_admin_token(&app).await;
    let id = unpinned_server(&app, &admin, &sshd, "vps1.test").await;
    let trust = format!("/api/v1/admin/vps/{id}/trust-host-key");
    let wrong = another_key();

    // A typo'd field, a wrong type, a key that does not parse, replace without the old key.
    for (bad, field) in [
        (json!({"expected": wrong}), "expected"),
        (json!({"expected_key": 123}), "expected_key"),
        (
            json!({"expected_key": "ssh-ed25519 AAAAnotit"}),
            "expected_key",
        ),
        (json!({"replace": true}), "old_fingerprint"),
        (json!({"replace": "yes"}), "replace"),
    ] {
        let res = app.post_as(&admin, &trust, bad.clone()).await;
        let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
        assert_eq!(problem["errors"][0]["field"], field, "{bad}: {problem}");
        assert_eq!(pinned_key(&app, &admin, &id).await, Value::Null, "{bad}");
    }
    // Not JSON at all, or broken JSON: refused as everywhere else.
    let res = post_raw(&app, &admin, &trust, "text/plain", "ssh-ed25519 AAAA").await;
    assert_problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = post_raw(
        &app,
        &admin,
        &trust,
        "application/json",
        "{\"expected_key\": ",
    )
    .await;
    assert_problem(res, 400, "MALFORMED_JSON").await;
    assert_eq!(pinned_key(&app, &admin, &id).await, Value::Null);

    // A well-formed wrong key is a conflict naming what the server presents.
    let res = app
        .post_as(&admin, &trust, json!({"expected_key": wrong}))
        .await;
    let problem = assert_problem(res, 409, "HOST_KEY_UNEXPECTED").await;
    let presented = keygen_fingerprint(&sshd.host_key());
    assert!(
        problem["detail"].as_str().unwrap().contains(&presented),
        "{problem}"
    );
    assert_eq!(pinned_key(&app, &admin, &id).await, Value::Null);

    // The fingerprint works as the expected key too.
    let res = app
        .post_as(&admin, &trust, json!({"expected_key": presented}))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let pinned = body(res).await["data"].clone();
    assert_eq!(pinned["host_key"], sshd.host_key().as_str());
    assert_eq!(pinned["host_key_fingerprint"], presented.as_str());

    // First contact with no body at all.
    let other = unpinned_server(&app, &admin, &sshd, "vps2.test").await;
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/vps/{other}/trust-host-key"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let pinned = body(res).await["data"].clone();
    assert_eq!(pinned["host_key"], sshd.host_key().as_str());
    assert_eq!(pinned["host_key_fingerprint"], presented.as_str());
}

/// M4: once a key is pinned, a changed key is pinned only with proof: `expected_key` equal to
/// what the server presents now, or `replace` with the pinned key's fingerprint. A bare call
/// (the old "one click after HOST_KEY_MISMATCH") is a 409 and changes nothing; repeating it
/// while the server presents the pinned key is harmless.
async fn m4_a_pinned_key_changes_only_with_proof(db: Db) {
    let mut sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        configure_ssh(s, &rig, &sshd, work.path().join("ssh-state"));
    })
    .await;
    let admin = super_admin_token(&app).await;
    let id = unpinned_server(&app, &admin, &sshd, "vps1.test").await;
    let trust = format!("/api/v1/admin/vps/{id}/trust-host-key");
    let first = sshd.host_key();
    let res = app.post_as(&admin, &trust, json!({})).await;
    assert_eq!(res.status().as_u16(), 200);
    // Same key again, no proof: nothing to change, so nothing refused.
    let res = app.send(Method::POST, &trust, Some(&admin), None).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["host_key"], first.as_str());

    sshd.rotate_host_key();
    let second = sshd.host_key();
    assert_ne!(first, second);
    let (old_fp, new_fp) = (keygen_fingerprint(&first), keygen_fingerprint(&second));

    // No proof, the old key as the expected one, a wrong old fingerprint: all refused.
    let res = app.send(Method::POST, &trust, Some(&admin), None).await;
    let problem = assert_problem(res, 409, "HOST_KEY_ALREADY_PINNED").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&old_fp) && detail.contains(&new_fp),
        "{problem}"
    );
    let res = app.post_as(&admin, &trust, json!({})).await;
    assert_problem(res, 409, "HOST_KEY_ALREADY_PINNED").await;
    let res = app
        .post_as(&admin, &trust, json!({"expected_key": first}))
        .await;
    assert_problem(res, 409, "HOST_KEY_UNEXPECTED").await;
    let res = app
        .post_as(
            &admin,
            &trust,
            json!({"replace": true, "old_fingerprint": new_fp}),
        )
        .await;
    assert_problem(res, 409, "HOST_KEY_ALREADY_PINNED").await;
    assert_eq!(pinned_key(&app, &admin, &id).await, first.as_str());
    // Still refused when connecting.
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/vps/{id}/test-connection"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(res, 502, "HOST_KEY_MISMATCH").await;

    // replace with the pinned key's fingerprint: the presented key is pinned.
    let res = app
        .post_as(
            &admin,
            &trust,
            json!({"replace": true, "old_fingerprint": old_fp}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let pinned = body(res).await["data"].clone();
    assert_eq!(pinned["host_key"], second.as_str());
    assert_eq!(pinned["host_key_fingerprint"], new_fp.as_str());

    // Or the administrator names the new key.
    sshd.rotate_host_key();
    let third = sshd.host_key();
    let res = app
        .post_as(&admin, &trust, json!({"expected_key": third}))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["host_key"], third.as_str());
    assert_eq!(pinned_key(&app, &admin, &id).await, third.as_str());
}

async fn the_fleet_is_managed_over_ssh(db: Db) {
    let mut sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        configure_ssh(s, &rig, &sshd, work.path().join("ssh-state"));
    })
    .await;
    let agent_path = rig.agent_path.clone();
    let admin = super_admin_token(&app).await;
    let call = |method: Method, path: String, json_body: Option<Value>| {
        let (app, admin) = (&app, admin.clone());
        async move { app.send(method, &path, Some(&admin), json_body).await }
    };

    // Add (validated), list.
    let bad = call(
        Method::POST,
        "/api/v1/admin/vps".into(),
        Some(json!({"hostname": "bad host", "ip_address": "nope"})),
    )
    .await;
    let problem = assert_problem(bad, 422, "VALIDATION_FAILED").await;
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for f in ["hostname", "ip_address", "provider", "allocation"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} not reported: {problem}"
        );
    }
    let spec = json!({"hostname": "vps1.test", "ip_address": "127.0.0.1", "ssh_port": sshd.port, "ssh_user": "root",
        "provider": "custom", "region": "lab", "cpu_cores": 2, "memory_mb": 4096, "disk_gb": 80, "allocation": "shared", "max_sites": 8});
    let res = call(Method::POST, "/api/v1/admin/vps".into(), Some(spec.clone())).await;
    assert_eq!(res.status().as_u16(), 201);
    let vps = body(res).await["data"].clone();
    let id = vps["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (vps["health"].as_str(), vps["host_key"].as_str()),
        (Some("unknown"), None)
    );
    assert_problem(
        call(Method::POST, "/api/v1/admin/vps".into(), Some(spec)).await,
        409,
        "HOSTNAME_TAKEN",
    )
    .await;

    // Nothing is sent before the key is trusted; a wrong expected key is refused.
    assert_problem(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/test-connection"),
            None,
        )
        .await,
        409,
        "HOST_KEY_NOT_TRUSTED",
    )
    .await;
    let wrong = call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/trust-host-key"),
        Some(json!({"expected_key": another_key()})),
    )
    .await;
    assert_problem(wrong, 409, "HOST_KEY_UNEXPECTED").await;
    let trusted = body(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/trust-host-key"),
            Some(json!({"expected_key": sshd.host_key()})),
        )
        .await,
    )
    .await;
    assert_eq!(trusted["data"]["host_key"], sshd.host_key().as_str());
    assert_eq!(
        trusted["data"]["host_key_fingerprint"],
        keygen_fingerprint(&sshd.host_key()).as_str()
    );

    // Bootstrap installs the real agent and checks it.
    let res = call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/bootstrap"),
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["protocol"], 1);
    assert_eq!(
        std::fs::read(&agent_path).unwrap(),
        std::fs::read(agent_binary()).unwrap()
    );
    let shown = body(call(Method::GET, format!("/api/v1/admin/vps/{id}"), None).await).await;
    assert_eq!(shown["data"]["agent_version"], env!("CARGO_PKG_VERSION"));

    // Health: a verdict from the agent's report, recorded.
    let health =
        body(call(Method::POST, format!("/api/v1/admin/vps/{id}/health"), None).await).await;
    let verdict = health["data"]["health"].as_str().unwrap().to_owned();
    assert!(verdict == "healthy" || verdict == "degraded", "{health}");
    assert_eq!(
        health["data"]["report"]["services"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let shown = body(call(Method::GET, format!("/api/v1/admin/vps/{id}"), None).await).await;
    assert_eq!(shown["data"]["health"], verdict.as_str());
    assert!(shown["data"]["health_checked_at"].is_string());

    // Stats and the security audit come from the agent.
    let stats = body(call(Method::GET, format!("/api/v1/admin/vps/{id}/stats"), None).await).await;
    assert_eq!(stats["data"]["sites_count"], 0);
    assert!(stats["data"]["uptime_seconds"].as_f64().unwrap() > 0.0);
    let audit = body(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/security-audit"),
            None,
        )
        .await,
    )
    .await;
    assert!(
        audit["data"]["score"].as_u64().unwrap() <= 100
            && audit["data"]["checks_total"].as_u64().unwrap() >= 5,
        "{audit}"
    );

    // Sites (none yet), maintenance.
    let sites = body(call(Method::GET, format!("/api/v1/admin/vps/{id}/sites"), None).await).await;
    assert_eq!(sites["data"]["count"], 0);
    let m = body(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/maintenance"),
            Some(json!({"enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(m["data"]["status"], "maintenance");
    call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/maintenance"),
        Some(json!({"enabled": false})),
    )
    .await;

    // The server's key changes: refused, and health says why.
    sshd.rotate_host_key();
    assert_problem(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/test-connection"),
            None,
        )
        .await,
        502,
        "HOST_KEY_MISMATCH",
    )
    .await;
    let h = body(call(Method::POST, format!("/api/v1/admin/vps/{id}/health"), None).await).await;
    assert_eq!(h["data"]["health"], "unhealthy", "{h}");
    assert!(h["data"]["reason"].as_str().unwrap().contains("host key"));

    // Re-trusted (naming the new key), then the server goes away: unreachable is recorded,
    // not an error.
    let res = call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/trust-host-key"),
        Some(json!({"expected_key": sshd.host_key()})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    sshd.stop();
    let h = body(call(Method::POST, format!("/api/v1/admin/vps/{id}/health"), None).await).await;
    assert_eq!(h["data"]["health"], "unreachable", "{h}");
    assert_problem(
        call(
            Method::POST,
            format!("/api/v1/admin/vps/{id}/decommission"),
            None,
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;

    // Back: decommission succeeds with no sites.
    sshd.spawn();
    let d = call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/decommission"),
        None,
    )
    .await;
    // The breaker may still be open right after the outage.
    if d.status().as_u16() == 409 {
        tokio::time::sleep(std::time::Duration::from_secs(11)).await;
        let d = body(
            call(
                Method::POST,
                format!("/api/v1/admin/vps/{id}/decommission"),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(d["data"]["status"], "decommissioned", "{d}");
    } else {
        assert_eq!(body(d).await["data"]["status"], "decommissioned");
    }

    // Tenants never see the fleet; unknown ids are 404.
    assert_problem(
        call(
            Method::GET,
            format!("/api/v1/admin/vps/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_problem(app.get("/api/v1/admin/vps").await, 401, "UNAUTHENTICATED").await;
}

/// L12: a server whose host key changed fails a site operation at once, with the reason (it
/// used to be retried as if the server were merely unreachable, eight times over hours), and
/// the server is marked unhealthy so nothing new is placed on it.
async fn l12_a_changed_host_key_fails_the_operation_at_once(db: Db) {
    let mut sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        configure_ssh(s, &rig, &sshd, work.path().join("ssh-state"));
    })
    .await;
    let admin = super_admin_token(&app).await;
    let (_, _, owner) = crate::sites::customer(&app, &admin, "olga", "starter").await;
    let id = unpinned_server(&app, &admin, &sshd, "vps1.test").await;
    for step in ["trust-host-key", "bootstrap", "health"] {
        let res = app
            .post_as(&admin, &format!("/api/v1/admin/vps/{id}/{step}"), json!({}))
            .await;
        assert_eq!(res.status().as_u16(), 200, "{step}");
    }

    sshd.rotate_host_key();
    let (site, op, _) = crate::sites::create_site(
        &app,
        &owner,
        json!({"domain": "hostkey.example.com", "site_type": "html"}),
    )
    .await;
    let started = std::time::Instant::now();
    let ended = loop {
        let b = body(
            app.get_as(&owner, &format!("/api/v1/operations/{op}"))
                .await,
        )
        .await;
        if b["data"]["status"] == "failed" || b["data"]["status"] == "succeeded" {
            break b["data"].clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the operation did not end in 20 s: {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(ended["status"], "failed", "{ended}");
    let why = ended["error"].as_str().unwrap_or_default();
    // Tenants see the stable code (L7); the transport's words go to the logs.
    assert!(why.contains("SERVER_IDENTITY_CHANGED"), "{ended}");
    assert_eq!(ended["steps"][0]["status"], "failed", "{ended}");
    // One attempt, no retry scheduled. The job is marked done just after the operation ends
    // (its own commit): wait for it, briefly.
    let done = "SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation' AND attempt = 1 AND state = 'done'";
    let mut finished = app.count(done).await;
    for _ in 0..50 {
        if finished == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        finished = app.count(done).await;
    }
    assert_eq!(finished, 1, "one attempt, done");
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "failed", "{shown}");
    let server = body(app.get_as(&admin, &format!("/api/v1/admin/vps/{id}")).await).await;
    assert_eq!(server["data"]["health"], "unhealthy", "{server}");
    assert!(
        server["data"]["health_reason"]
            .as_str()
            .is_some_and(|r| r.contains("host key")),
        "{server}"
    );
}

/// A server at an address nobody answers on (never trusted): its id.
async fn unreachable_server(app: &TestApp, admin: &str, hostname: &str) -> String {
    let res = app
        .post_as(
            admin,
            "/api/v1/admin/vps",
            json!({"hostname": hostname, "ip_address": "127.0.0.1", "ssh_port": 1, "provider": "test",
                "cpu_cores": 1, "memory_mb": 1024, "disk_gb": 10, "allocation": "shared"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    body(res).await["data"]["id"].as_str().unwrap().to_owned()
}

/// A dedicated server names a tenant that exists: an unknown one is a field error (it used to
/// be stored, pointing at nothing), on creation and on edit.
async fn a_dedicated_server_names_an_existing_tenant(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let admin = super_admin_token(&app).await;
    let (_, tenant, _) = crate::sites::customer(&app, &admin, "olga", "starter").await;
    let spec = |tenant: &str| {
        json!({"hostname": "dedicated.test", "ip_address": "10.0.0.9", "provider": "test", "cpu_cores": 2,
            "memory_mb": 2048, "disk_gb": 20, "allocation": "dedicated", "dedicated_tenant_id": tenant})
    };
    let nobody = uuid::Uuid::now_v7().to_string();
    let res = app
        .post_as(&admin, "/api/v1/admin/vps", spec(&nobody))
        .await;
    let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        problem["errors"][0]["field"], "dedicated_tenant_id",
        "{problem}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM vps_servers").await, 0);

    let res = app
        .post_as(&admin, "/api/v1/admin/vps", spec(&tenant))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let vps = body(res).await["data"].clone();
    assert_eq!(vps["dedicated_tenant_id"], tenant.as_str());
    let id = vps["id"].as_str().unwrap();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/admin/vps/{id}"),
            Some(&admin),
            Some(spec(&nobody)),
        )
        .await;
    let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        problem["errors"][0]["field"], "dedicated_tenant_id",
        "{problem}"
    );
    let shown = body(app.get_as(&admin, &format!("/api/v1/admin/vps/{id}")).await).await;
    assert_eq!(shown["data"]["dedicated_tenant_id"], tenant.as_str());
}

/// A server the database knows never held a site (never trusted, no site record ever named
/// it) is decommissioned without asking its agent (it used to be refused: "cannot tell"), and
/// a decommissioned server is removed with DELETE: 204, then 404. DELETE refuses a server in
/// service and one that site records name, deleted sites included; only super admins may.
async fn a_decommissioned_server_is_removed_unless_sites_name_it(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let admin = super_admin_token(&app).await;
    let (_, _, owner) = crate::sites::customer(&app, &admin, "olga", "starter").await;
    let server = |id: &str| format!("/api/v1/admin/vps/{id}");

    // Never trusted, never reachable: decommissioned at once, then removed.
    let typo = unreachable_server(&app, &admin, "typo.test").await;
    let res = app
        .send(Method::DELETE, &server(&typo), Some(&admin), None)
        .await;
    assert_problem(res, 409, "VPS_NOT_DECOMMISSIONED").await;
    let res = app
        .post_as(
            &admin,
            &format!("{}/decommission", server(&typo)),
            json!({}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(body(res).await["data"]["status"], "decommissioned");
    let res = app
        .send(Method::DELETE, &server(&typo), Some(&owner), None)
        .await;
    assert_problem(res, 403, "FORBIDDEN").await;
    let res = app
        .send(Method::DELETE, &server(&typo), Some(&admin), None)
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(app.get_as(&admin, &server(&typo)).await, 404, "NOT_FOUND").await;
    let res = app
        .send(Method::DELETE, &server(&typo), Some(&admin), None)
        .await;
    assert_problem(res, 404, "NOT_FOUND").await;
    let res = app
        .send(Method::DELETE, &server("not-an-id"), Some(&admin), None)
        .await;
    assert_problem(res, 404, "NOT_FOUND").await;

    // A server a site was placed on: refused while the site lives, and after it is deleted
    // (its record keeps naming the server).
    let used = unreachable_server(&app, &admin, "used.test").await;
    app.exec(&format!(
        "UPDATE vps_servers SET host_key = 'ssh-ed25519 AAAAtest', health = 'healthy' WHERE id = '{used}'"
    ))
    .await;
    let (site, _, _) =
        crate::sites::create_site(&app, &owner, json!({"domain": "a.example.com"})).await;
    let res = app
        .post_as(
            &admin,
            &format!("{}/decommission", server(&used)),
            json!({}),
        )
        .await;
    assert_problem(res, 409, "VPS_HAS_SITES").await;
    app.exec(&format!(
        "UPDATE sites SET deleted_at = created_at, status = 'deleting' WHERE id = '{site}'"
    ))
    .await;
    app.exec(&format!(
        "UPDATE vps_servers SET status = 'decommissioned' WHERE id = '{used}'"
    ))
    .await;
    let res = app
        .send(Method::DELETE, &server(&used), Some(&admin), None)
        .await;
    let problem = assert_problem(res, 409, "VPS_HAS_SITES").await;
    assert!(
        problem["detail"].as_str().unwrap().contains('1'),
        "{problem}"
    );
    assert_eq!(
        body(app.get_as(&admin, &server(&used)).await).await["data"]["status"],
        "decommissioned"
    );
}

/// The fleet list pages like every list: `meta.limit`, `meta.next_cursor` (the last server's
/// id) on full pages only, servers in the order they were added, none twice or skipped, and
/// 422 naming `cursor` or `limit` for a bad one.
async fn the_fleet_list_pages_with_a_cursor(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let admin = super_admin_token(&app).await;
    let mut added = Vec::new();
    // Host names in the opposite order: the list follows creation, not names.
    for n in (1..=5).rev() {
        added.push(unreachable_server(&app, &admin, &format!("vps{n}.test")).await);
    }
    let first = body(app.get_as(&admin, "/api/v1/admin/vps").await).await;
    assert_eq!(first["meta"]["limit"], 20, "{first}");
    assert_eq!(first["meta"]["next_cursor"], Value::Null, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 5);

    let mut seen = Vec::new();
    let mut url = "/api/v1/admin/vps?limit=2".to_owned();
    let mut sizes = Vec::new();
    loop {
        let page = body(app.get_as(&admin, &url).await).await;
        assert_eq!(page["meta"]["limit"], 2, "{page}");
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        seen.extend(data.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(Some(c), data.last().and_then(|v| v["id"].as_str()));
                url = format!("/api/v1/admin/vps?limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, added);

    for (query, field) in [
        ("cursor=nope", "cursor"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ] {
        let res = app
            .get_as(&admin, &format!("/api/v1/admin/vps?{query}"))
            .await;
        let problem = assert_problem(res, 422, "VALIDATION_FAILED").await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
}

crate::both_backends!(
    the_fleet_is_managed_over_ssh,
    the_fleet_list_pages_with_a_cursor,
    a_dedicated_server_names_an_existing_tenant,
    a_decommissioned_server_is_removed_unless_sites_name_it,
    m4_a_malformed_trust_body_pins_nothing,
    m4_a_pinned_key_changes_only_with_proof,
    l12_a_changed_host_key_fails_the_operation_at_once,
);
