//! One deployment of the real binaries on PostgreSQL, as the site tests need it: `chom-api`
//! (serving the restic REST server on a fixed loopback port), a separate `chom-worker` (a 3 s
//! lease, so a killed worker's job is taken over quickly), the loopback sshd whose agent pauses
//! 3 s inside `site.create`, `backup.create` and `backup.restore` (a window to kill the worker
//! in), mail to a sink; the first operator made with the CLI, a customer on a plan and one
//! server.

use chom_e2e::{Process, answers, create_super_admin, wait_for, write_config};
use chom_postgres::testing::TestDatabase;
use chom_test_support::api::{Api, GENEROUS_PLAN_LIMITS, client};
use chom_test_support::binaries::{SshRig, agent_binary};
use chom_test_support::hosting::loopback_server;
use chom_test_support::onboarding::{customer, login};
use chom_test_support::smtp::SmtpSink;
use chom_test_support::{Sshd, acme::free_port};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "operator passphrase 1";

/// The running deployment. Fields drop in order: the processes before the directories.
pub struct Deployment {
    _api: Process,
    /// The separate `chom-worker` (replace it with [`Deployment::start_worker`] after a kill).
    pub worker: Process,
    /// The API, as a client sees it.
    pub app: Api,
    /// A client (it installed the process's rustls provider).
    pub http: reqwest::Client,
    /// The super admin's token.
    pub admin: String,
    /// The customer's (owner "olga") token.
    pub owner: String,
    /// The database.
    pub pg: TestDatabase,
    /// The agent's sandbox and the control plane's key.
    pub rig: SshRig,
    _sshd: Sshd,
    config: PathBuf,
    work: tempfile::TempDir,
}

impl Deployment {
    /// Starts everything and waits until the API is ready.
    pub async fn start() -> Self {
        let http = client(); // first: it installs the process's rustls provider (ring)
        let sshd = Sshd::start_with_env(&[("CHOM_AGENT_SLOW_MS", "3000")]);
        let work = tempfile::tempdir().unwrap();
        let rig = SshRig::new(work.path());
        let pg = TestDatabase::new().await.unwrap();
        let smtp = SmtpSink::start().await;
        let port = free_port();
        let config = work.path().join("chom.toml");
        let repositories = work.path().join("repositories");
        configure(&config, port, &pg, &smtp, &sshd, &rig, &repositories);
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
        Self {
            _api: api,
            worker,
            app,
            http,
            admin,
            owner,
            pg,
            rig,
            _sshd: sshd,
            config,
            work,
        }
    }

    /// Starts another `chom-worker` with the same configuration.
    pub fn start_worker(&self) -> Process {
        Process::start("chom-worker", self.work.path(), |c| {
            c.arg("--config")
                .arg(&self.config)
                .env_remove("CHOM_DATABASE__URL");
        })
    }

    /// Kills the worker (SIGKILL) and starts a new one in its place.
    pub fn replace_worker(&mut self) {
        self.worker.kill();
        self.worker = self.start_worker();
    }
}

/// `chom.toml` for both binaries: the API on `port`, jobs only in the separate worker (a
/// 3 s lease, so a takeover comes quickly), mail to the sink, servers reached through the rig,
/// the repositories served on another fixed loopback port (the worker tells agents the same
/// address).
fn configure(
    path: &Path,
    port: u16,
    pg: &TestDatabase,
    smtp: &SmtpSink,
    sshd: &Sshd,
    rig: &SshRig,
    repositories: &Path,
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
            "backup": {"listen": format!("127.0.0.1:{}", free_port()),
                "repository_root": text(repositories)},
        }),
    );
}
