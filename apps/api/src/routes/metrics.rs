//! Prometheus exposition of the process's own metrics.

use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa_actix_web::service_config::ServiceConfig;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(metrics);
}

/// Prometheus text format: HTTP requests and latencies by route template, job outcomes and
/// durations, queue depth by state (sampled now), cache failures.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
               body = String, content_type = "text/plain; version=0.0.4")))]
#[get("/metrics")]
pub async fn metrics(
    handle: web::Data<PrometheusHandle>,
    services: web::Data<Services>,
) -> HttpResponse {
    match services.queue.counts().await {
        Ok(c) => {
            for (state, n) in [
                ("queued", c.queued),
                ("running", c.running),
                ("done", c.done),
                ("dead", c.dead),
            ] {
                #[expect(clippy::cast_precision_loss, reason = "a gauge; counts far below 2^52")]
                ::metrics::gauge!("chom_jobs", "state" => state).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue depth unavailable for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
