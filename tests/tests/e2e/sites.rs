//! The real binaries on PostgreSQL: `chom-api` and a separate `chom-worker`, the loopback sshd
//! and the agent in a sandbox. First the whole life of a WordPress site (register → approve →
//! plan → server → create → SSE → credentials → disable → enable → PHP → suspension → delete →
//! nothing left). Then the worker is killed (SIGKILL) in the middle of a provisioning; a new
//! worker takes the job over once its lease expires and the site converges to `active` with one
//! database, one database user and credentials that log in.

use super::lifecycle::{finished, life_of_a_wordpress_site, loopback_server};
use super::{body, customer};
use crate::helpers::{SshRig, TestApp, agent_binary};
use crate::identity::super_admin;
use crate::smtp::SmtpSink;
use chom_postgres::testing::TestDatabase;
use chom_test_support::Sshd;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A sibling binary of the agent (`cargo xtask test` builds every binary of the workspace).
fn binary(name: &str) -> PathBuf {
    let bin = agent_binary().with_file_name(name);
    assert!(
        bin.exists(),
        "{} missing: build the workspace",
        bin.display()
    );
    bin
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(name: &str, config: &Path, dir: &Path) -> Process {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(binary(name))
        .arg("--config")
        .arg(config)
        .current_dir(dir)
        .env_remove("CHOM_DATABASE__URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Process(child)
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

async fn the_worker_dies_mid_provisioning_and_the_site_still_converges() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The agent pauses 3 s inside site.create (after the database step): a window to kill in.
    let sshd = Sshd::start_with_env(&[("CHOM_AGENT_SLOW_MS", "3000")]);
    let work = tempfile::tempdir().unwrap();
    let rig = SshRig::new(work.path());
    let pg = TestDatabase::new().await.unwrap();
    let smtp = SmtpSink::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = data_encoding::BASE64URL_NOPAD.encode(&[7u8; 32]);
    let config = work.path().join("chom.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = {port}\nworkers = 2\n\
             [database]\nurl = {url:?}\nacquire_timeout_ms = 5000\n\
             [worker]\nembedded = \"off\"\nlease_secs = 3\nshutdown_grace_secs = 1\nmetrics_listen = \"127.0.0.1:0\"\n\
             [log]\nfilter = \"info\"\n\
             [security]\nencryption_key = {key:?}\nauth_requests_per_minute = 10000\npassword_attempts_per_15_min = 10000\napi_requests_per_minute = 100000\n\
             [mail]\nsmtp_url = {smtp:?}\npublic_url = \"http://chom.test\"\n\
             [ssh]\nkey_file = {client_key}\nstate_dir = {state}\nagent_path = {agent}\n\
             agent_args = [\"--root\", {sandbox}]\nsudo = false\nconnect_timeout_secs = 3\nagent_binary = {binary}\n",
            url = pg.url,
            smtp = smtp.url(),
            client_key = toml_str(&sshd.client_key()),
            state = toml_str(&work.path().join("ssh-state")),
            agent = toml_str(&rig.agent_path),
            sandbox = toml_str(&rig.sandbox),
            binary = toml_str(&agent_binary()),
        ),
    )
    .unwrap();
    let _api = spawn("chom-api", &config, work.path());
    let mut worker = spawn("chom-worker", &config, work.path());
    let address = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::client();
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("{address}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "chom-api did not become ready: {}",
        log(work.path(), "chom-api")
    );
    // The test's own handle on the same database (the super admin is made like the CLI does).
    let mut settings = chom_api::config::Settings::default();
    settings.database.url = Some(secrecy::SecretString::from(pg.url.clone()));
    settings.security.encryption_key = Some(secrecy::SecretString::from(key.clone()));
    settings.mail.log_only = true;
    settings.ssh.key_file = work.path().join("handle-ssh/id_ed25519");
    settings.ssh.state_dir = work.path().join("handle-ssh");
    let services = chom_api::wiring::Services::from_settings(&settings)
        .await
        .unwrap();
    let app = TestApp::external(address, services, pg, smtp);
    app.exec(crate::helpers::GENEROUS_PLAN_LIMITS).await;

    let admin = super_admin(&app).await;
    let (_, _, owner) = customer(&app, &admin, "olga", "starter").await;
    loopback_server(&app, &admin, &sshd, "vps1.test", 8).await;
    let owner = life_of_a_wordpress_site(&app, &admin, &owner, &rig.sandbox).await;

    let domain = format!("kill{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) = super::create_site(
        &app,
        &owner,
        json!({"domain": domain, "site_type": "laravel"}),
    )
    .await;

    // Wait until site.create runs on the server, then kill the worker in the middle of it.
    let mut running = false;
    for _ in 0..300 {
        let b = body(
            app.get_as(&owner, &format!("/api/v1/operations/{op}"))
                .await,
        )
        .await;
        if b["data"]["steps"][0]["status"] == "running" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        running,
        "site.create never started: {}",
        log(work.path(), "chom-worker")
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    worker.0.kill().unwrap();
    worker.0.wait().unwrap();
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "creating", "{shown}");

    // A new worker takes over after the lease expires; the site converges.
    let _worker = spawn("chom-worker", &config, work.path());
    let done = finished(&app, &owner, &op).await;
    assert_eq!(
        done["status"],
        "succeeded",
        "{done}\n{}",
        log(work.path(), "chom-worker")
    );
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    // The separate worker serves its own job metrics: the provisioning it took over is there.
    let scrape = worker_metrics(&client, work.path()).await;
    assert!(
        scrape
            .contains(r#"chom_jobs_total{kind="site_hosting::run_operation",outcome="succeeded"}"#),
        "{scrape}"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation' AND attempt >= 2 AND state = 'done'"
        )
        .await,
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
        super::lifecycle::mariadb(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '%{prefix}'"
        )),
        "1"
    );
    assert_eq!(
        super::lifecycle::mariadb(&format!(
            "SELECT COUNT(*) FROM mysql.user WHERE user LIKE '%{prefix}'"
        )),
        "1"
    );
    let login = Command::new("mariadb")
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
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
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
    super::lifecycle::act(
        &app,
        &owner,
        reqwest::Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}

/// `GET /metrics` of the worker, at the address its start-up log line names.
async fn worker_metrics(client: &reqwest::Client, dir: &Path) -> String {
    let log = log(dir, "chom-worker");
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

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_run_a_site_and_survive_a_killed_worker() {
    the_worker_dies_mid_provisioning_and_the_site_still_converges().await;
}
