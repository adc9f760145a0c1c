//! Building and running the HTTP server (and, on the embedded default, the in-process worker).

use crate::config::Settings;
use crate::error::ApiError;
use crate::jobs::run_worker;
use crate::middleware::observe;
use crate::routes;
use crate::telemetry;
use crate::wiring::Services;
use actix_web::dev::Server;
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpServer, web};
use chom_jobs::RunStats;
use std::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Extra routes for tests (a panicking handler, say).
pub type ExtraRoutes = fn(&mut web::ServiceConfig);

pub use crate::middleware::{Answer, Observer};

/// What tests add to the app; production builds with none ([`Application::build`]).
#[derive(Clone, Default)]
pub struct Hooks {
    /// Routes mounted at the root, after the API's.
    pub extra_routes: Option<ExtraRoutes>,
    /// Shown every answer with its buffered body. Unset, the middleware that buffers is not
    /// mounted at all: no cost and no change to what is sent.
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("extra_routes", &self.extra_routes.is_some())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// A bound, ready-to-run API (and maybe its in-process worker).
pub struct Application {
    server: Server,
    port: u16,
    host: String,
    services: Services,
    worker: Option<(CancellationToken, JoinHandle<anyhow::Result<RunStats>>)>,
    /// The backup repositories' REST server and its address.
    repositories: Option<(Server, std::net::SocketAddr)>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            format!("the body does not match the expected shape: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::malformed_json(format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::malformed_json(format!("the body could not be read: {other}")),
    };
    api.into()
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    if let Some(allow) = crate::openapi::allowed_methods(req.path()) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{} is not allowed here; allowed: {allow}", req.method()),
        )
        .with_header("Allow", allow));
    }
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// `http://host:port`, with a wildcard host replaced by loopback.
fn base_url(host: &str, port: u16) -> String {
    let host = match host {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}")
}

impl Application {
    /// Connects, migrates, binds `server.host:server.port` (0 = any free port).
    ///
    /// # Errors
    /// The database cannot be opened or the port cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Hooks::default()).await
    }

    /// As [`Application::build`], with the tests' [`Hooks`].
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(settings: Settings, hooks: Hooks) -> anyhow::Result<Self> {
        let mut services = Services::from_settings(&settings).await?;
        let prometheus = telemetry::prometheus()?;
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot bind {}:{} (server.host/server.port): {e}",
                    settings.server.host,
                    settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        if settings.mail.public_url.is_none() {
            // Links in e-mails name the port really bound (`server.port = 0` picks one).
            services.core.public_url = base_url(&settings.server.host, port);
        }
        // Before anything clones the services: agents must be told the address really bound.
        let repositories =
            crate::repository_server::build(&settings, &services.core.backup_repositories)?;
        let max_body = settings.server.max_body_bytes;
        let data_services = web::Data::new(services.clone());
        // The breaker's own handle: its middleware needs nothing else from the state.
        let data_breaker = web::Data::new(services.db_breaker.clone());
        let data_prometheus = web::Data::new(prometheus);
        let Hooks {
            extra_routes,
            observer,
        } = hooks;
        let mut server = HttpServer::new(move || {
            let shown = observer.clone();
            App::new()
                // L4: no sniffing, no framing, no referrer leaks, on every answer.
                .wrap(
                    DefaultHeaders::new()
                        .add((X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((X_FRAME_OPTIONS, "DENY"))
                        .add((CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
                        .add((REFERRER_POLICY, "no-referrer")),
                )
                .wrap(from_fn(crate::middleware::body_deadline))
                .wrap(from_fn(observe))
                // Outermost: what it shows is what the client gets.
                .wrap(Condition::new(
                    shown.is_some(),
                    from_fn(move |req, next| {
                        crate::middleware::show_answer(shown.clone(), req, next)
                    }),
                ))
                .app_data(data_services.clone())
                .app_data(data_breaker.clone())
                .app_data(data_prometheus.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(json_error),
                )
                .app_data(web::PayloadConfig::default().limit(max_body))
                .configure(routes::mount(routes::probes))
                .configure(routes::docs::configure)
                .service(
                    web::scope("/api/v1")
                        .wrap(from_fn(crate::idempotency::honour))
                        // L3: API answers are per caller and may carry secrets (tokens, TOTP
                        // secrets, recovery codes, credentials): no cache may store them.
                        .wrap(DefaultHeaders::new().add((CACHE_CONTROL, "no-store")))
                        // M6: fail fast while the database is out.
                        .wrap(from_fn(crate::breaker::guard))
                        .configure(routes::mount(routes::api_v1)),
                )
                .configure(|cfg| {
                    if let Some(extra) = extra_routes {
                        extra(cfg);
                    }
                })
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .shutdown_timeout(settings.worker.shutdown_grace_secs.max(1));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();

        let worker = if settings.runs_embedded_worker() {
            let token = CancellationToken::new();
            let handle = tokio::spawn(run_worker(
                services.core.clone(),
                settings.clone(),
                "api",
                token.clone(),
            ));
            Some((token, handle))
        } else {
            None
        };
        Ok(Self {
            server,
            port,
            host: settings.server.host,
            services,
            worker,
            repositories,
        })
    }

    /// The bound port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://host:port`.
    #[must_use]
    pub fn base_url(&self) -> String {
        base_url(&self.host, self.port)
    }

    /// Where the backup repositories' REST server listens (`backup.listen`), if it runs.
    #[must_use]
    pub fn repository_addr(&self) -> Option<std::net::SocketAddr> {
        self.repositories.as_ref().map(|(_, addr)| *addr)
    }

    /// Whether jobs run in this process.
    #[must_use]
    pub fn has_embedded_worker(&self) -> bool {
        self.worker.is_some()
    }

    /// The wired ports (tests read the queue and the store through them).
    #[must_use]
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until SIGINT/SIGTERM (actix handles both, stopping gracefully), then stops the
    /// in-process worker, letting its running jobs finish or releasing them.
    ///
    /// # Errors
    /// The server failed, or the worker panicked.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let repositories = self.repositories.map(|(server, _)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        if let Some((handle, task)) = repositories {
            handle.stop(true).await;
            task.await??;
        }
        if let Some((token, handle)) = self.worker {
            token.cancel();
            let stats = handle.await??;
            tracing::info!(?stats, "in-process worker stopped");
        }
        result.map_err(Into::into)
    }
}
