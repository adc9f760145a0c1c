//! The life of a WordPress site on a "VPS" (a loopback sshd, the real agent in a sandbox root,
//! the machine's MariaDB): create → provisioning steps over SSE → active with credentials only
//! for `read:sensitive` → disable → enable → PHP switch → delete → nothing left behind.

use super::{body, customer};
use crate::helpers::{Db, SshRig, TestApp, assert_problem, spawn_app_with};
use crate::identity::super_admin;
use chom_api::config::Settings;
use chom_test_support::Sshd;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// A starter customer with one loopback server, on an in-process app.
pub(crate) struct Hosting {
    pub app: TestApp,
    pub admin: String,
    pub owner: String,
    pub rig: SshRig,
    /// The server: bind it (`_sshd`, not `..`) so it runs as long as the test.
    pub _sshd: Sshd,
}

/// Starts the app on `sshd` with the agent's sandbox under `work`, onboards a customer on
/// starter and adds, trusts, bootstraps and checks the server.
pub(crate) async fn hosting(
    db: Db,
    work: &tempfile::TempDir,
    sshd: Sshd,
    customise: impl FnOnce(&mut Settings),
) -> Hosting {
    let rig = SshRig::new(work.path());
    let app = spawn_app_with(db, |s| {
        rig.configure(s, &sshd, work.path().join("ssh-state"));
        customise(s);
    })
    .await;
    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    loopback_server(&app, &admin, &sshd, "vps1.test", 8).await;
    Hosting {
        app,
        admin,
        owner,
        rig,
        _sshd: sshd,
    }
}

/// Adds the loopback server, trusts its key, bootstraps the agent, checks its health.
pub(crate) async fn loopback_server(
    app: &TestApp,
    admin: &str,
    sshd: &Sshd,
    name: &str,
    max_sites: i32,
) -> String {
    let res = app
        .post_as(
            admin,
            "/api/v1/admin/vps",
            json!({"hostname": name, "ip_address": "127.0.0.1", "ssh_port": sshd.port, "ssh_user": "root",
                "provider": "custom", "cpu_cores": 2, "memory_mb": 4096, "disk_gb": 80, "allocation": "shared",
                "max_sites": max_sites}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let id = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    for step in ["trust-host-key", "bootstrap", "health"] {
        let res = app
            .post_as(admin, &format!("/api/v1/admin/vps/{id}/{step}"), json!({}))
            .await;
        assert_eq!(res.status().as_u16(), 200, "{step}");
    }
    id
}

/// Polls an operation until it ends.
pub(crate) async fn finished(app: &TestApp, token: &str, op: &str) -> Value {
    for _ in 0..600 {
        let b = body(app.get_as(token, &format!("/api/v1/operations/{op}")).await).await;
        let status = b["data"]["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" || status == "failed" {
            return b["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operation {op} did not finish in 60 s");
}

/// Sends a site action and waits for its operation to succeed.
pub(crate) async fn act(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    json_body: Option<Value>,
) -> Value {
    let res = app.send(method, path, Some(token), json_body).await;
    assert_eq!(res.status().as_u16(), 202, "{path}");
    let accepted = body(res).await;
    let op = accepted["data"]["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = finished(app, token, &op).await;
    assert_eq!(done["status"], "succeeded", "{path}: {done}");
    done
}

/// Runs SQL through the MariaDB client as root (the agent's own access).
pub(crate) fn mariadb(sql: &str) -> String {
    let out = std::process::Command::new("mariadb")
        .args(["--batch", "--skip-column-names", "-e", sql])
        .output()
        .expect("mariadb client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Reads a Server-Sent Events stream to its end: (event, data) pairs.
async fn events(app: &TestApp, token: &str, op: &str) -> Vec<(String, Value)> {
    let res = app
        .get_as(token, &format!("/api/v1/operations/{op}/events"))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(90), res.text())
        .await
        .expect("the stream ends with the operation")
        .unwrap();
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

async fn a_site_lives_and_dies_on_its_server(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let Hosting {
        app,
        admin,
        owner,
        rig,
        _sshd,
        ..
    } = hosting(db, &work, Sshd::start(), |_| {}).await;
    life_of_a_wordpress_site(&app, &admin, &owner, &rig.sandbox).await;
}

/// The whole life of a WordPress site, on an app (in-process or the real binaries) whose
/// server's agent works in `sandbox`. Returns the owner's new token (the organization's
/// suspension ended the old one).
pub(crate) async fn life_of_a_wordpress_site(
    app: &TestApp,
    admin: &str,
    owner: &str,
    sandbox: &Path,
) -> String {
    let (app, admin, owner) = (app, admin.to_owned(), owner.to_owned());
    // A unique domain per run: the MariaDB server is shared by every test.
    let domain = format!("wp{}.example.com", uuid::Uuid::new_v4().simple());

    // Create: 202 with the site and its operation, then the steps over SSE.
    let res = app
        .post_as(
            &owner,
            "/api/v1/sites",
            json!({"domain": domain, "site_type": "wordpress", "php_version": "8.2"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let accepted = body(res).await;
    let site = accepted["data"]["site"]["id"].as_str().unwrap().to_owned();
    let op = accepted["data"]["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(location, format!("/api/v1/operations/{op}"));
    let stream = events(app, &owner, &op).await;
    for step in ["site.create", "app.install"] {
        assert!(
            stream
                .iter()
                .any(|(e, d)| e == "step" && d["name"] == step && d["status"] == "done"),
            "{step} not shown done: {stream:?}"
        );
    }
    let (last, data) = stream.last().unwrap();
    assert_eq!(
        (last.as_str(), data["status"].as_str()),
        ("operation", Some("succeeded")),
        "{stream:?}"
    );

    // Active, with a database whose credentials need read:sensitive.
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    assert_eq!(shown["data"]["ip_address"], "127.0.0.1");
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    let read_only = body(
        app.post_as(
            &owner,
            "/api/v1/auth/tokens",
            json!({"name": "ci", "abilities": ["read"]}),
        )
        .await,
    )
    .await["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_as(&read_only, &format!("/api/v1/sites/{site}"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.get_as(
            &read_only,
            &format!("/api/v1/sites/{site}/database/credentials"),
        )
        .await,
        403,
        "INSUFFICIENT_ABILITY",
    )
    .await;
    let creds = body(
        app.get_as(
            &owner,
            &format!("/api/v1/sites/{site}/database/credentials"),
        )
        .await,
    )
    .await;
    let (user, password) = (
        creds["data"]["user"].as_str().unwrap().to_owned(),
        creds["data"]["password"].as_str().unwrap().to_owned(),
    );
    assert_eq!(creds["data"]["name"], db_name.as_str());
    let login = std::process::Command::new("mariadb")
        .args([
            "--batch",
            "--skip-column-names",
            &format!("--user={user}"),
            &format!("--password={password}"),
            &db_name,
            "-e",
            "SELECT DATABASE()",
        ])
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "the stored credentials do not log in: {}",
        String::from_utf8_lossy(&login.stderr)
    );
    // The password is not stored in clear.
    assert!(!app.dump().await.contains(&password));
    // The application got its configuration with the same credentials.
    let site_dir = sandbox.join("var/www/sites").join(&domain);
    let config = std::fs::read_to_string(site_dir.join("wp-config.php")).unwrap();
    assert!(config.contains(&format!("define('DB_PASSWORD', '{password}');")));
    let link = sandbox.join(format!("etc/nginx/sites-enabled/chom-{domain}.conf"));
    assert!(exists(&link));

    // Disable, enable: the vhost goes off and on for real.
    act(
        app,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/disable"),
        None,
    )
    .await;
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "disabled");
    assert!(!exists(&link));
    assert_problem(
        app.post_as(&owner, &format!("/api/v1/sites/{site}/disable"), json!({}))
            .await,
        409,
        "INVALID_STATE",
    )
    .await;
    act(
        app,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/enable"),
        None,
    )
    .await;
    assert!(exists(&link));

    // PHP switch: the pool moves.
    assert_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/sites/{site}"),
            Some(&owner),
            Some(json!({"php_version": "7.4"})),
        )
        .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    act(
        app,
        &owner,
        Method::PATCH,
        &format!("/api/v1/sites/{site}"),
        Some(json!({"php_version": "8.4"})),
    )
    .await;
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["php_version"], "8.4");
    let pools = |v: &str| {
        std::fs::read_dir(sandbox.join(format!("etc/php/{v}/fpm/pool.d")))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!((pools("8.2"), pools("8.4")), (0, 1));

    // Suspending the tenant takes its sites off the air; reactivation brings them back.
    let tenant = body(app.get_as(&owner, "/api/v1/auth/me").await).await["data"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (action, status, served) in [("suspend", "disabled", false), ("activate", "active", true)] {
        let res = app
            .post_as(
                &admin,
                &format!("/api/v1/admin/tenants/{tenant}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 204);
        let mut now = Value::Null;
        for _ in 0..300 {
            now = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
            if now["data"]["status"] == status {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(now["data"]["status"], status, "after {action}: {now}");
        assert_eq!(exists(&link), served, "after {action}");
    }
    // Suspending the organization does the same for every tenant it has (and ends its members'
    // sessions: the owner logs in again afterwards).
    let me = body(app.get_as(&owner, "/api/v1/auth/me").await).await;
    let (org, email) = (
        me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        me["data"]["user"]["email"].as_str().unwrap().to_owned(),
    );
    for (action, served) in [("suspend", false), ("activate", true)] {
        let res = app
            .post_as(
                &admin,
                &format!("/api/v1/admin/organizations/{org}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 204);
        for _ in 0..300 {
            if exists(&link) == served {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(exists(&link), served, "after the organization's {action}");
    }
    let owner = crate::identity::login(app, &email, crate::identity::PASSWORD).await;
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");

    // The site's history, newest first, in pages.
    let page = body(
        app.get_as(&owner, &format!("/api/v1/sites/{site}/operations?limit=3"))
            .await,
    )
    .await;
    let kinds: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["set_php", "enable", "disable"], "{page}");
    let cursor = page["meta"]["next_cursor"].as_str().unwrap();
    let rest = body(
        app.get_as(
            &owner,
            &format!("/api/v1/sites/{site}/operations?limit=3&cursor={cursor}"),
        )
        .await,
    )
    .await;
    assert_eq!(rest["data"][0]["kind"], "provision", "{rest}");
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["meta"]["next_cursor"].is_null());

    // Delete: nothing left on the server or in MariaDB; the record is gone for the tenant.
    act(
        app,
        &owner,
        Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
    assert_problem(
        app.get_as(&owner, &format!("/api/v1/sites/{site}")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(!site_dir.exists(), "the site's files are left");
    assert!(
        !exists(&link)
            && !exists(&sandbox.join(format!("etc/nginx/sites-available/chom-{domain}.conf")))
    );
    assert_eq!((pools("8.2"), pools("8.4")), (0, 0));
    let registry = std::fs::read_to_string(sandbox.join("var/lib/chom-agent/sites.json")).unwrap();
    assert!(!registry.contains(&domain), "{registry}");
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{db_name}'"
        )),
        "0"
    );
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM mysql.user WHERE user = '{user}'"
        )),
        "0"
    );
    // The domain is free again.
    let list = body(app.get_as(&owner, "/api/v1/sites").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    owner
}

async fn a_failed_provisioning_keeps_its_reason_and_can_be_retried_and_is_measured(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let Hosting {
        app,
        owner,
        rig,
        _sshd,
        ..
    } = hosting(db, &work, Sshd::start(), |_| {}).await;
    // The server's site registry is corrupt: the agent refuses to work on it.
    let registry = rig.sandbox.join("var/lib/chom-agent/sites.json");
    std::fs::create_dir_all(registry.parent().unwrap()).unwrap();
    std::fs::write(&registry, "{ not json").unwrap();
    let domain = format!("f{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) =
        super::create_site(&app, &owner, json!({"domain": domain, "site_type": "html"})).await;
    let done = finished(&app, &owner, &op).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["steps"][0]["status"], "failed");
    // L7: a stable code, never the agent's or a tool's own words (paths, other vhosts).
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("SERVER_REFUSED"), "{done}");
    assert!(
        !error.contains("sites.json") && !error.contains("corrupt"),
        "{done}"
    );
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "failed");
    assert!(
        shown["data"]["status_reason"]
            .as_str()
            .unwrap()
            .contains("site.create"),
        "{shown}"
    );
    // Only a retry (or a delete) is possible now.
    assert_problem(
        app.post_as(&owner, &format!("/api/v1/sites/{site}/disable"), json!({}))
            .await,
        409,
        "INVALID_STATE",
    )
    .await;
    // The operator repairs the server; the tenant retries.
    std::fs::remove_file(&registry).unwrap();
    act(
        &app,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/retry"),
        None,
    )
    .await;
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    assert!(shown["data"]["status_reason"].is_null());
    assert_eq!(shown["data"]["storage_used_mb"], 0);
    // The hourly measurement records what the site uses on its server.
    let public = rig
        .sandbox
        .join("var/www/sites")
        .join(&domain)
        .join("public");
    std::fs::write(public.join("big.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let (measured, skipped) = app.app_services.sites.measure_storage().await.unwrap();
    assert_eq!((measured, skipped), (1, 0));
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    let mb = shown["data"]["storage_used_mb"].as_i64().unwrap();
    assert!((3..=4).contains(&mb), "{shown}");
    act(
        &app,
        &owner,
        Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}

crate::both_backends!(
    a_site_lives_and_dies_on_its_server,
    a_failed_provisioning_keeps_its_reason_and_can_be_retried_and_is_measured,
);
