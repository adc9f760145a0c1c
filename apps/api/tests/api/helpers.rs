//! `spawn_app()`: the real application on `127.0.0.1:0`, against a temporary SQLite file or a
//! fresh PostgreSQL database cloned from the migrated template, with real Redis under a
//! per-test key prefix.

use crate::smtp::SmtpSink;
use actix_web::{HttpResponse, web};
use chom_api::config::Settings;
use chom_api::startup::Application;
use chom_postgres::testing::TestDatabase;
use secrecy::SecretString;
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running app and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app_services: chom_api::wiring::Services,
    pub pg: Option<TestDatabase>,
    pub smtp: SmtpSink,
    pub db: Db,
    sqlite_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// A handle on an API running elsewhere (a real `chom-api` process) on PostgreSQL, with
    /// in-process services on the same database for set-up.
    pub fn external(
        address: String,
        app_services: chom_api::wiring::Services,
        pg: TestDatabase,
        smtp: SmtpSink,
    ) -> Self {
        Self {
            address,
            client: client(),
            app_services,
            pg: Some(pg),
            smtp,
            db: Db::Postgres,
            sqlite_path: std::path::PathBuf::new(),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A JSON request, optionally with a bearer token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// POST JSON without a token.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    /// POST JSON with a token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.sqlite_path.display()))
            .await
            .unwrap()
    }

    /// Runs raw SQL against the app's database (test set-up the API cannot express, like
    /// expiring a token).
    pub async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.db {
            Db::Sqlite => {
                let pool = self.sqlite_pool().await;
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&self.pg.as_ref().unwrap().url)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// The first column of the first row of a `SELECT COUNT(*)…`.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.db {
            Db::Sqlite => {
                let pool = self.sqlite_pool().await;
                let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&self.pg.as_ref().unwrap().url)
                    .await
                    .unwrap();
                let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
        }
    }

    /// Every row of every table, as text.
    pub async fn dump(&self) -> String {
        use sqlx::Row;
        let mut out = String::new();
        match self.db {
            Db::Sqlite => {
                let pool = self.sqlite_pool().await;
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                for t in tables {
                    let cols: Vec<String> =
                        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA table_info(\"{t}\")")))
                            .fetch_all(&pool)
                            .await
                            .unwrap()
                            .iter()
                            .map(|r| r.get::<String, _>("name"))
                            .collect();
                    if cols.is_empty() {
                        continue;
                    }
                    let expr = cols
                        .iter()
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || '|' || ");
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT {expr} FROM \"{t}\""
                    )))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
                }
                pool.close().await;
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&self.pg.as_ref().unwrap().url)
                    .await
                    .unwrap();
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                for t in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM \"{t}\" t"
                    )))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
                }
                pool.close().await;
            }
        }
        out
    }
}

/// Routes that exist only in tests: a JSON echo (to exercise body parsing) and a panic.
fn test_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/test/echo",
        web::post().to(|body: web::Json<serde_json::Value>| async move {
            HttpResponse::Ok().json(body.into_inner())
        }),
    )
    .route(
        "/test/typed",
        web::post().to(|body: web::Json<Typed>| async move {
            HttpResponse::Ok().json(serde_json::json!({"name": body.name}))
        }),
    )
    .route(
        "/test/panic",
        web::get().to(|| async {
            if std::hint::black_box(true) {
                panic!("boom in a handler");
            }
            HttpResponse::Ok().finish()
        }),
    );
}

#[derive(serde::Deserialize)]
struct Typed {
    name: String,
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: Db, customise: impl FnOnce(&mut Settings)) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.log.filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
    settings.security.encryption_key = Some(SecretString::from(
        data_encoding::BASE64URL_NOPAD.encode(&[42u8; 32]),
    ));
    // Generous limits: flows make many auth calls from one address. The rate-limit tests
    // lower them.
    settings.security.auth_requests_per_minute = 10_000;
    // Jobs (e-mails) run in the app under test on both backends.
    settings.worker.embedded = chom_api::config::EmbeddedWorker::On;
    settings.security.password_attempts_per_15_min = 10_000;
    // Flows poll operations with one token: per-token API limits (by plan, and this default)
    // are raised too; the tests of those limits lower them again.
    settings.security.api_requests_per_minute = 100_000;
    // Dozens of apps share the machine's cores and its PostgreSQL while the suite runs: a pool
    // may wait longer than production's 1 s for a connection without anything being down.
    // The outage test sets 1 s again.
    settings.database.acquire_timeout_ms = 5_000;
    let redis_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    settings.redis.url = Some(SecretString::from(redis_url()));
    settings.redis.key_prefix = redis_prefix.clone();
    let smtp = SmtpSink::start().await;
    settings.mail.smtp_url = Some(SecretString::from(smtp.url()));
    settings.mail.public_url = Some("http://chom.test".into());
    // The control plane's SSH key and pinned host keys live in the test's own directory, never
    // under the crate's `var/` (a generated private key must not land in the tree).
    settings.ssh.key_file = dir.path().join("ssh/id_ed25519");
    settings.ssh.state_dir = dir.path().join("ssh");
    let sqlite_path = dir.path().join("chom.db");
    let pg = match db {
        Db::Sqlite => {
            settings.database.sqlite_path = sqlite_path.clone();
            None
        }
        Db::Postgres => {
            let test_db = TestDatabase::new().await.expect("test database");
            settings.database.url = Some(SecretString::from(test_db.url.clone()));
            Some(test_db)
        }
    };
    customise(&mut settings);
    chom_api::telemetry::init_logging(&settings.log);
    let app = Application::build_with(settings, Some(test_routes))
        .await
        .expect("app builds");
    let address = app.base_url();
    let app_services = app.services().clone();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        client: client(),
        app_services,
        pg,
        smtp,
        db,
        sqlite_path,
        _dir: dir,
    };
    app.exec(GENEROUS_PLAN_LIMITS).await;
    app
}

/// Raises every plan's API rate limit out of the tests' way (before any request reads it).
pub const GENEROUS_PLAN_LIMITS: &str = "UPDATE plans SET api_requests_per_minute = 100000";

/// Asserts an RFC 9457 body with `code`, and returns it.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(ToOwned::to_owned);
    let body: serde_json::Value = res.json().await.expect("json body");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"].as_str(), header_id.as_deref(), "{body}");
    body
}

/// Generates a SQLite and a PostgreSQL variant of an `async fn(Db)` test.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await;
                }
            )+
        }
    };
}

/// The super admin's password in tests.
pub const ADMIN_PASSWORD: &str = "operator passphrase 1";

/// Creates the super admin (`root@example.com`) through the bootstrap use case and logs in.
pub async fn super_admin_token(app: &TestApp) -> String {
    app.app_services
        .admin
        .create_super_admin("root", "Root", "Admin", "root@example.com", ADMIN_PASSWORD)
        .await
        .unwrap();
    let res = app
        .post(
            "/api/v1/auth/login",
            serde_json::json!({"email": "root@example.com", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"]["token"]["token"].as_str().unwrap().to_owned()
}

/// The agent binary of this build (a sibling of the test binary's `deps/` directory).
pub fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("chom-agent");
    assert!(
        bin.exists(),
        "{} missing: build the workspace (cargo xtask test builds every binary)",
        bin.display()
    );
    bin
}

/// An app that reaches `sshd` with its client key; bootstrap installs the real agent at
/// `<work>/vps/usr/local/bin/chom-agent`, working in the sandbox `<work>/vps-root`.
pub struct SshRig {
    /// Where bootstrap installs the agent.
    pub agent_path: std::path::PathBuf,
    /// The agent's sandbox root (the "VPS").
    pub sandbox: std::path::PathBuf,
}

impl SshRig {
    pub fn new(work: &std::path::Path) -> Self {
        Self {
            agent_path: work.join("vps/usr/local/bin/chom-agent"),
            sandbox: work.join("vps-root"),
        }
    }

    /// Points the settings at `sshd` and this rig.
    pub fn configure(
        &self,
        s: &mut Settings,
        sshd: &chom_test_support::Sshd,
        state: std::path::PathBuf,
    ) {
        s.ssh.key_file = sshd.client_key();
        s.ssh.state_dir = state;
        s.ssh.agent_path = self.agent_path.display().to_string();
        s.ssh.agent_args = vec!["--root".into(), self.sandbox.display().to_string()];
        s.ssh.sudo = false;
        s.ssh.connect_timeout_secs = 3;
        s.ssh.agent_binary = Some(agent_binary());
    }
}
