//! A site's life on a loopback "VPS" (a private sshd, the real agent in a sandbox root, the
//! machine's MariaDB), driven over HTTP: the servers, the operations and their events, and the
//! whole life of a WordPress site, shared by the API's tests (in-process, both backends) and the
//! end-to-end tests (the real binaries).

use crate::Sshd;
use crate::api::{Api, assert_problem, body};
use crate::onboarding::{PASSWORD, login};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Adds the loopback server, trusts its key, bootstraps the agent, checks its health.
pub async fn loopback_server(
    api: &Api,
    admin: &str,
    sshd: &Sshd,
    name: &str,
    max_sites: i32,
) -> String {
    let res = api
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
        let res = api
            .post_as(admin, &format!("/api/v1/admin/vps/{id}/{step}"), json!({}))
            .await;
        assert_eq!(res.status().as_u16(), 200, "{step}");
    }
    id
}

/// Polls an operation until it ends.
pub async fn finished(api: &Api, token: &str, op: &str) -> Value {
    for _ in 0..600 {
        let b = body(api.get_as(token, &format!("/api/v1/operations/{op}")).await).await;
        let status = b["data"]["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" || status == "failed" {
            return b["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operation {op} did not finish in 60 s");
}

/// Sends a site action and waits for its operation to succeed.
pub async fn act(
    api: &Api,
    token: &str,
    method: Method,
    path: &str,
    json_body: Option<Value>,
) -> Value {
    let res = api.send(method, path, Some(token), json_body).await;
    assert_eq!(res.status().as_u16(), 202, "{path}");
    let accepted = body(res).await;
    let op = accepted["data"]["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = finished(api, token, &op).await;
    assert_eq!(done["status"], "succeeded", "{path}: {done}");
    done
}

/// Runs SQL through the MariaDB client as root (the agent's own access).
pub fn mariadb(sql: &str) -> String {
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
async fn events(api: &Api, token: &str, op: &str) -> Vec<(String, Value)> {
    let res = api
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

/// Creates a site (202 expected): its id, its operation's id, and the whole answer.
pub async fn create_site(api: &Api, token: &str, spec: Value) -> (String, String, Value) {
    let res = api.post_as(token, "/api/v1/sites", spec).await;
    assert_eq!(res.status().as_u16(), 202);
    let accepted = body(res).await;
    let id = |what: &str| accepted["data"][what]["id"].as_str().unwrap().to_owned();
    (id("site"), id("operation"), accepted)
}

/// The whole life of a WordPress site (create → provisioning steps over SSE → active with
/// credentials only for `read:sensitive` → disable → enable → PHP switch → tenant and
/// organization suspension → history → delete → nothing left behind), on a control plane
/// (in-process or the real binaries) whose server's agent works in `sandbox`; `dump` gives every
/// row of its database as text (the password must not be there in clear). Returns the owner's
/// new token (the organization's suspension ended the old one).
pub async fn life_of_a_wordpress_site(
    api: &Api,
    dump: impl AsyncFn() -> String,
    admin: &str,
    owner: &str,
    sandbox: &Path,
) -> String {
    let (admin, owner) = (admin.to_owned(), owner.to_owned());
    // A unique domain per run: the MariaDB server is shared by every test.
    let domain = format!("wp{}.example.com", uuid::Uuid::new_v4().simple());

    // Create: 202 with the site and its operation, then the steps over SSE.
    let res = api
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
    let stream = events(api, &owner, &op).await;
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
    let shown = body(api.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    assert_eq!(shown["data"]["ip_address"], "127.0.0.1");
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    let read_only = body(
        api.post_as(
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
        api.get_as(&read_only, &format!("/api/v1/sites/{site}"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        api.get_as(
            &read_only,
            &format!("/api/v1/sites/{site}/database/credentials"),
        )
        .await,
        403,
        "INSUFFICIENT_ABILITY",
    )
    .await;
    let creds = body(
        api.get_as(
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
    let logged_in = std::process::Command::new("mariadb")
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
        logged_in.status.success(),
        "the stored credentials do not log in: {}",
        String::from_utf8_lossy(&logged_in.stderr)
    );
    // The password is not stored in clear.
    assert!(!dump().await.contains(&password));
    // The application got its configuration with the same credentials.
    let site_dir = sandbox.join("var/www/sites").join(&domain);
    let config = std::fs::read_to_string(site_dir.join("wp-config.php")).unwrap();
    assert!(config.contains(&format!("define('DB_PASSWORD', '{password}');")));
    let link = sandbox.join(format!("etc/nginx/sites-enabled/chom-{domain}.conf"));
    assert!(exists(&link));

    // Disable, enable: the vhost goes off and on for real.
    act(
        api,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/disable"),
        None,
    )
    .await;
    let shown = body(api.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "disabled");
    assert!(!exists(&link));
    assert_problem(
        api.post_as(&owner, &format!("/api/v1/sites/{site}/disable"), json!({}))
            .await,
        409,
        "INVALID_STATE",
    )
    .await;
    act(
        api,
        &owner,
        Method::POST,
        &format!("/api/v1/sites/{site}/enable"),
        None,
    )
    .await;
    assert!(exists(&link));

    // PHP switch: the pool moves.
    assert_problem(
        api.send(
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
        api,
        &owner,
        Method::PATCH,
        &format!("/api/v1/sites/{site}"),
        Some(json!({"php_version": "8.4"})),
    )
    .await;
    let shown = body(api.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["php_version"], "8.4");
    let pools = |v: &str| {
        std::fs::read_dir(sandbox.join(format!("etc/php/{v}/fpm/pool.d")))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!((pools("8.2"), pools("8.4")), (0, 1));

    // Suspending the tenant takes its sites off the air; reactivation brings them back.
    let tenant = body(api.get_as(&owner, "/api/v1/auth/me").await).await["data"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (action, status, served) in [("suspend", "disabled", false), ("activate", "active", true)] {
        let res = api
            .post_as(
                &admin,
                &format!("/api/v1/admin/tenants/{tenant}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 204);
        let mut now = Value::Null;
        for _ in 0..300 {
            now = body(api.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
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
    let me = body(api.get_as(&owner, "/api/v1/auth/me").await).await;
    let (org, email) = (
        me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        me["data"]["user"]["email"].as_str().unwrap().to_owned(),
    );
    for (action, served) in [("suspend", false), ("activate", true)] {
        let res = api
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
    let owner = login(api, &email, PASSWORD).await;
    let shown = body(api.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");

    // The site's history, newest first, in pages.
    let page = body(
        api.get_as(&owner, &format!("/api/v1/sites/{site}/operations?limit=3"))
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
        api.get_as(
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
        api,
        &owner,
        Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
    assert_problem(
        api.get_as(&owner, &format!("/api/v1/sites/{site}")).await,
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
    let list = body(api.get_as(&owner, "/api/v1/sites").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    owner
}

/// `POST /sites/{site}/backups` (a full backup) as `token`: 202; the backup's and its
/// operation's ids.
pub async fn request_backup(api: &Api, token: &str, site: &str) -> (String, String) {
    let res = api
        .post_as(
            token,
            &format!("/api/v1/sites/{site}/backups"),
            serde_json::json!({"kind": "full"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let accepted = body(res).await;
    let id = |what: &str| accepted["data"][what]["id"].as_str().unwrap().to_owned();
    (id("backup"), id("operation"))
}

/// `POST /backups/{backup}/restore` into its own site as `token`: 202; the restore's
/// operation once it has ended.
pub async fn restore_backup(api: &Api, token: &str, backup: &str) -> Value {
    let res = api
        .post_as(
            token,
            &format!("/api/v1/backups/{backup}/restore"),
            serde_json::json!({"dry_run": false}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let op = body(res).await["data"]["id"].as_str().unwrap().to_owned();
    finished(api, token, &op).await
}
