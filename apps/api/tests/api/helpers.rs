//! `spawn_app()`: the real application on `127.0.0.1:0`, against a temporary SQLite file or a
//! fresh PostgreSQL database cloned from the migrated template, with real Redis under a
//! per-test key prefix. Every answer the app gives is checked against the OpenAPI document
//! (`chom_test_support::conformance`): see [`TestApp::conformance`].

use actix_web::{HttpResponse, web};
use chom_api::config::Settings;
use chom_api::startup::Application;
use chom_postgres::testing::TestDatabase;
pub use chom_test_support::api::{Api, GENEROUS_PLAN_LIMITS, assert_problem, client};
pub use chom_test_support::binaries::{SshRig, agent_binary};
use chom_test_support::conformance::{Contract, Guard, Mode, Recorder};
use chom_test_support::smtp::SmtpSink;
use secrecy::SecretString;
use std::sync::{Arc, OnceLock};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running app: the HTTP side (`Api`: address, client, SMTP sink) and the in-process
/// services and database behind it.
pub struct TestApp {
    pub api: Api,
    pub app_services: chom_api::wiring::Services,
    pub pg: Option<TestDatabase>,
    pub db: Db,
    sqlite_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    /// Every answer of the app checked against the OpenAPI document; reports when the app is
    /// dropped, and fails the test as `CHOM_CONFORMANCE` says (by default on anything but an
    /// undeclared status). A test that provokes violations on purpose takes them
    /// (`app.conformance.recorder().take()`).
    pub conformance: Guard,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.sqlite_path.display()))
            .await
            .unwrap()
    }

    /// Runs raw SQL against the app's database (test set-up the API cannot express, like
    /// expiring a token).
    pub async fn exec(&self, sql: &str) {
        match self.db {
            Db::Sqlite => {
                let pool = self.sqlite_pool().await;
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Db::Postgres => self.postgres().execute(sql).await.unwrap(),
        }
    }

    /// The first column of the first row of a `SELECT COUNT(*)…`.
    pub async fn count(&self, sql: &str) -> i64 {
        match self.db {
            Db::Sqlite => {
                let pool = self.sqlite_pool().await;
                let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                n
            }
            Db::Postgres => self.postgres().count(sql).await.unwrap(),
        }
    }

    fn postgres(&self) -> &TestDatabase {
        self.pg.as_ref().expect("a PostgreSQL app")
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
            Db::Postgres => return self.postgres().dump().await.unwrap(),
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

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Paths the app serves outside the OpenAPI document on purpose: the document itself and its
/// docs page (docs/API.md), and the test-only routes.
pub const UNDOCUMENTED: [&str; 3] = ["/api/openapi.json", "/api/docs", "/test/"];

/// The app's own document as the contract: the one of the code under test, not the committed
/// file (a stale file is CI's other check).
pub fn contract() -> Arc<Contract> {
    static CONTRACT: OnceLock<Arc<Contract>> = OnceLock::new();
    CONTRACT
        .get_or_init(|| {
            let doc = serde_json::to_value(chom_api::openapi::document()).expect("document");
            Arc::new(contract_of(doc))
        })
        .clone()
}

/// A contract of `doc` with the paths served outside it ([`UNDOCUMENTED`]).
pub fn contract_of(doc: serde_json::Value) -> Contract {
    UNDOCUMENTED
        .into_iter()
        .fold(Contract::new(doc), Contract::undocumented)
}

/// The observer that shows the app's answers to `recorder`.
fn observer(recorder: Recorder) -> chom_api::startup::Observer {
    Arc::new(move |a: &chom_api::startup::Answer<'_>| {
        let headers = a
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        recorder.record(&chom_test_support::conformance::Answer {
            method: a.method.as_str(),
            path: a.path,
            status: a.status.as_u16(),
            headers,
            body: a.body,
        });
    })
}

pub async fn spawn_app_with(db: Db, customise: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_checked(db, customise, contract()).await
}

/// As [`spawn_app_with`], with the answers checked against `contract`.
pub async fn spawn_app_checked(
    db: Db,
    customise: impl FnOnce(&mut Settings),
    contract: Arc<Contract>,
) -> TestApp {
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
    // No periodic jobs: the fleet health check would mark the tests' agentless servers
    // unreachable at any five-minute boundary (and at start), and sites could no longer be
    // placed on them. The tests of periodic jobs run them explicitly.
    settings.worker.schedule = false;
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
    // The backup repositories in the test's directory (their REST server on any free port).
    settings.backup.repository_root = dir.path().join("repositories");
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
    let mode = Mode::from_env();
    let recorder = Recorder::new(contract, mode);
    let hooks = chom_api::startup::Hooks {
        extra_routes: Some(test_routes),
        observer: (mode != Mode::Off).then(|| observer(recorder.clone())),
    };
    let app = Application::build_with(settings, hooks)
        .await
        .expect("app builds");
    let address = app.base_url();
    let app_services = app.services().clone();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        api: Api::new(address, smtp),
        app_services,
        pg,
        db,
        sqlite_path,
        _dir: dir,
        conformance: recorder.guard(),
    };
    app.exec(GENEROUS_PLAN_LIMITS).await;
    app
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
    chom_test_support::onboarding::login(app, "root@example.com", ADMIN_PASSWORD).await
}

/// Points the settings at `sshd` and `rig` (the control plane's key, where bootstrap installs
/// the agent and its sandbox), with pinned host keys under `state`.
pub fn configure_ssh(
    s: &mut Settings,
    rig: &SshRig,
    sshd: &chom_test_support::Sshd,
    state: std::path::PathBuf,
) {
    s.ssh.key_file = sshd.client_key();
    s.ssh.state_dir = state;
    s.ssh.agent_path = rig.agent_path.display().to_string();
    s.ssh.agent_args = vec!["--root".into(), rig.sandbox.display().to_string()];
    s.ssh.sudo = false;
    s.ssh.connect_timeout_secs = 3;
    s.ssh.agent_binary = Some(agent_binary());
}
