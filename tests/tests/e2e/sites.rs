//! The real binaries on PostgreSQL: `chom-api` and a separate `chom-worker`, the loopback sshd
//! and the agent in a sandbox. First the whole life of a WordPress site (register → approve →
//! plan → server → create → SSE → credentials → disable → enable → PHP → suspension → delete →
//! nothing left). Then the worker is killed (SIGKILL) in the middle of a provisioning; a new
//! worker takes the job over once its lease expires and the site converges to `active` with one
//! database, one database user and credentials that log in.

use chom_e2e::{Process, answers, create_super_admin, wait_for, write_config};
use chom_postgres::testing::TestDatabase;
use chom_test_support::api::{Api, GENEROUS_PLAN_LIMITS, body, client};
use chom_test_support::binaries::{SshRig, agent_binary};
use chom_test_support::hosting::{
    act, create_site, finished, life_of_a_wordpress_site, loopback_server, mariadb,
};
use chom_test_support::onboarding::{customer, login};
use chom_test_support::smtp::SmtpSink;
use chom_test_support::{Sshd, acme::free_port};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "operator passphrase 1";

/// `chom.toml` for both binaries: the API on `port`, jobs only in the separate worker (a
/// 3 s lease, so a takeover comes quickly), mail to the sink, servers reached through the rig.
fn configure(
    path: &Path,
    port: u16,
    pg: &TestDatabase,
    smtp: &SmtpSink,
    sshd: &Sshd,
    rig: &SshRig,
) {
    let work = path.parent().unwrap();
    let text = |p: &Path| p.display().to_string();
    write_config(
        path,
        &json!({
            "server": {"port": port, "workers": 2},
            "database": {"url": pg.url, "acquire_timeout_ms": 5000},
            "worker": {"embedded": "off", "lease_secs": 3, "shutdown_grace_secs": 1,
                "metrics_listen": "127.0.0.1:0"},
            "log": {"filter": "info"},
            "security": {"encryption_key": data_encoding::BASE64URL_NOPAD.encode(&[7u8; 32]),
                "auth_requests_per_minute": 10000, "password_attempts_per_15_min": 10000,
                "api_requests_per_minute": 100000},
            "mail": {"smtp_url": smtp.url(), "public_url": "http://chom.test"},
            "ssh": {"key_file": text(&sshd.client_key()), "state_dir": text(&work.join("ssh-state")),
                "agent_path": text(&rig.agent_path), "agent_args": ["--root", text(&rig.sandbox)],
                "sudo": false, "connect_timeout_secs": 3, "agent_binary": text(&agent_binary())},
        }),
    );
}

/// The worker's `GET /metrics`, at the address its start-up log line names.
async fn worker_metrics(client: &reqwest::Client, worker: &Process) -> String {
    let log = worker.log();
    let url = log
        .lines()
        .rev()
        .filter(|l| l.contains("worker metrics served"))
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["metrics"].as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("the worker did not log its metrics address:\n{log}"));
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{url}");
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_run_a_site_and_survive_a_killed_worker() {
    let http = client(); // first: it installs the process's rustls provider (ring)
    // The agent pauses 3 s inside site.create (after the database step): a window to kill in.
    let sshd = Sshd::start_with_env(&[("CHOM_AGENT_SLOW_MS", "3000")]);
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let pg = TestDatabase::new().await.unwrap();
    let smtp = SmtpSink::start().await;
    let port = free_port();
    let config = work.path().join("chom.toml");
    configure(&config, port, &pg, &smtp, &sshd, &rig);
    let with_config = |c: &mut Command| {
        c.arg("--config")
            .arg(&config)
            .env_remove("CHOM_DATABASE__URL");
    };
    let mut api = Process::start("chom-api", work.path(), with_config);
    let mut worker = Process::start("chom-worker", work.path(), with_config);
    let app = Api::new(format!("http://127.0.0.1:{port}"), smtp);
    let ready = app.url("/health/ready");
    wait_for(
        "chom-api ready",
        Duration::from_secs(20),
        &mut [&mut api, &mut worker],
        async || answers(&http, &ready).await,
    )
    .await;
    // Set-up the API cannot express, on the database directly: plans' rate limits raised.
    pg.execute(GENEROUS_PLAN_LIMITS).await.unwrap();
    // The first operator, made with the CLI as on a fresh install.
    create_super_admin(&config, "root@example.com", "root", ADMIN_PASSWORD);
    let admin = login(&app, "root@example.com", ADMIN_PASSWORD).await;

    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    loopback_server(&app, &admin, &sshd, "vps1.test", 8).await;
    let dump = async || pg.dump().await.unwrap();
    let owner = life_of_a_wordpress_site(&app, dump, &admin, &owner, &rig.sandbox).await;

    let domain = format!("kill{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) = create_site(
        &app,
        &owner,
        json!({"domain": domain, "site_type": "laravel"}),
    )
    .await;

    // Wait until site.create runs on the server, then kill the worker in the middle of it.
    let operation = format!("/api/v1/operations/{op}");
    wait_for(
        "site.create running",
        Duration::from_secs(15),
        &mut [&mut worker],
        async || {
            body(app.get_as(&owner, &operation).await).await["data"]["steps"][0]["status"]
                == "running"
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    worker.kill();
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "creating", "{shown}");

    // A new worker takes over after the lease expires; the site converges.
    let worker = Process::start("chom-worker", work.path(), with_config);
    let done = finished(&app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", worker.report());
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    // The separate worker serves its own job metrics: the provisioning it took over is there.
    let scrape = worker_metrics(&http, &worker).await;
    assert!(
        scrape
            .contains(r#"chom_jobs_total{kind="site_hosting::run_operation",outcome="succeeded"}"#),
        "{scrape}"
    );
    assert_eq!(
        pg.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation' AND attempt >= 2 AND state = 'done'"
        )
        .await
        .unwrap(),
        1,
        "the provisioning was not taken over by a second attempt"
    );
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    let creds = body(
        app.get_as(
            &owner,
            &format!("/api/v1/sites/{site}/database/credentials"),
        )
        .await,
    )
    .await;
    let (user, password) = (
        creds["data"]["user"].as_str().unwrap(),
        creds["data"]["password"].as_str().unwrap(),
    );
    // One database and one user for the site, and the stored password is the live one.
    let prefix = db_name.rsplit_once('_').unwrap().1;
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '%{prefix}'"
        )),
        "1"
    );
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM mysql.user WHERE user LIKE '%{prefix}'"
        )),
        "1"
    );
    let logged_in = Command::new("mariadb")
        .args([
            &format!("--user={user}"),
            &format!("--password={password}"),
            &db_name,
            "-e",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(
        logged_in.status.success(),
        "{}",
        String::from_utf8_lossy(&logged_in.stderr)
    );
    let env = std::fs::read_to_string(rig.sandbox.join("var/www/sites").join(&domain).join(".env"))
        .unwrap();
    assert!(
        env.contains(&format!("DB_PASSWORD={password}\n")),
        "the app config has another password"
    );
    let registry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rig.sandbox.join("var/lib/chom-agent/sites.json")).unwrap(),
    )
    .unwrap();
    let sites = registry["sites"].as_object().unwrap();
    assert!(
        sites.len() == 1 && sites.contains_key(&domain),
        "{registry}"
    );
    // Tidy the shared MariaDB.
    act(
        &app,
        &owner,
        reqwest::Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}
