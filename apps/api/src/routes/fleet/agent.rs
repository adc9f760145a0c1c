//! Asking a server's agent over SSH: connection test, bootstrap, health, sites, counters and
//! the security self-audit.

use super::views::{AgentAnswer, HealthResponse, HealthView};
use super::vps_id;
use crate::error::{ApiError, Problem};
use crate::extract::SuperAdmin;
use crate::wiring::Services;
use actix_web::{HttpResponse, get, post, web};

/// Runs the agent's `version` over SSH.
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/test-connection", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "The agent answered", body = AgentAnswer),
        (status = 409, description = "`HOST_KEY_NOT_TRUSTED`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/test-connection")]
pub async fn test_connection(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.test_connection(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// Installs the agent on the server and checks it answers.
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/bootstrap", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "Installed; the agent's version", body = AgentAnswer),
        (status = 409, description = "`HOST_KEY_NOT_TRUSTED`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/bootstrap")]
pub async fn bootstrap(
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services
        .fleet
        .bootstrap(&a.0.actor(), vps_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// Checks the server's health now and records the verdict (a failure is a verdict, not an error).
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/health", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "The verdict", body = HealthResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/health")]
pub async fn check_health(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (health, reason, report) = services.fleet.check_health(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(HealthResponse {
        data: HealthView {
            health: health.as_str().to_owned(),
            reason,
            report,
        },
    }))
}

/// The sites the agent reports on the server (super admins only).
#[utoipa::path(get, path = "/api/v1/admin/vps/{id}/sites", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "The agent's list", body = AgentAnswer), (status = 409, description = "`HOST_KEY_NOT_TRUSTED`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/vps/{id}/sites")]
pub async fn vps_sites(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.sites(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// The agent's counters: uptime, processes, sites, network and disk.
#[utoipa::path(get, path = "/api/v1/admin/vps/{id}/stats", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "Counters", body = AgentAnswer), (status = 409, description = "`HOST_KEY_NOT_TRUSTED`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/vps/{id}/stats")]
pub async fn vps_stats(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.stats(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// The server's security self-audit (score and failed checks).
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/security-audit", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "The audit", body = AgentAnswer), (status = 409, description = "`HOST_KEY_NOT_TRUSTED`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/security-audit")]
pub async fn security_audit(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.security_audit(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}
