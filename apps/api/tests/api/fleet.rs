//! The fleet API over a private sshd on loopback, with the real agent binary installed by
//! bootstrap into a sandbox: add, trust the host key, bootstrap, health, sites, maintenance,
//! a changed key refused, an unreachable server recorded, decommission.

use crate::helpers::{Db, SshRig, agent_binary, assert_problem, spawn_app_with, super_admin_token};
use chom_test_support::Sshd;
use reqwest::Method;
use serde_json::{Value, json};

async fn body(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

async fn the_fleet_is_managed_over_ssh(db: Db) {
    let mut sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        rig.configure(s, &sshd, work.path().join("ssh-state"));
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
        Some(json!({"expected_key": "ssh-ed25519 AAAAnotit"})),
    )
    .await;
    assert_problem(wrong, 409, "CONFLICT").await;
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

    // Re-trusted, then the server goes away: unreachable is recorded, not an error.
    call(
        Method::POST,
        format!("/api/v1/admin/vps/{id}/trust-host-key"),
        None,
    )
    .await;
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

crate::both_backends!(the_fleet_is_managed_over_ssh);
