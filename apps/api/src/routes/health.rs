//! Liveness and readiness.

use crate::error::{ApiError, Problem};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(live).service(ready);
}

/// One dependency check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok` or `failed`.
    pub status: &'static str,
    /// Which backend answered (`postgres`, `sqlite`, `redis`, `memory`).
    pub backend: &'static str,
    /// Round-trip time.
    pub latency_ms: f64,
    /// Why it failed (absent when it did not).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

/// Readiness: every dependency answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: &'static str,
    /// Per dependency: `database`, `cache`, `queue`.
    pub checks: BTreeMap<&'static str, Check>,
}

/// Liveness body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// `alive`.
    pub status: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process serves requests", body = Liveness)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "alive" })
}

async fn check<F, E>(backend: &'static str, fut: F) -> Check
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(2), fut).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out after 2 s".to_owned()),
    };
    Check {
        status: if error.is_none() { "ok" } else { "failed" },
        backend,
        latency_ms,
        error,
    }
}

/// The database and the job queue answer (503 otherwise); the cache is reported, and its
/// failure only degrades (200, `status: degraded`).
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve (`ready`), or serving without the cache (`degraded`)", body = Readiness),
        (status = 503, description = "`NOT_READY`: a dependency failed; `failed` names it and `checks` has details",
         body = Problem, content_type = "application/problem+json")))]
#[get("/health/ready")]
pub async fn ready(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let (database, cache, queue) = tokio::join!(
        check(services.store.backend(), services.store.ping()),
        check(services.cache.backend(), services.cache.ping()),
        check(services.store.backend(), async {
            services.queue.counts().await.map(drop)
        }),
    );
    let checks = BTreeMap::from([("database", database), ("cache", cache), ("queue", queue)]);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| c.error.is_some())
        .map(|(name, _)| *name)
        .collect();
    // The cache is optional: without Redis, requests are served from the in-memory fallback,
    // so a replica stays in the load balancer ("degraded"), rather than every replica leaving
    // it at once over an optional dependency.
    if failed.iter().all(|f| *f == "cache") {
        return Ok(HttpResponse::Ok().json(Readiness {
            status: if failed.is_empty() {
                "ready"
            } else {
                "degraded"
            },
            checks,
        }));
    }
    let mut ext = serde_json::Map::new();
    ext.insert("failed".into(), serde_json::json!(failed));
    ext.insert(
        "checks".into(),
        serde_json::to_value(&checks).unwrap_or_default(),
    );
    Err(ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "NOT_READY",
        format!("not ready: {} failed", failed.join(", ")),
    )
    .with_extensions(ext))
}
