//! A server's life after it joined: maintenance, decommissioning, removal.

use super::views::{VpsResponse, VpsView};
use super::vps_id;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, SuperAdmin};
use crate::wiring::Services;
use actix_web::{HttpResponse, delete, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

/// Maintenance switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct MaintenanceRequest {
    /// On or off.
    pub enabled: bool,
}

/// Puts the server in or out of maintenance (no new sites while on).
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/maintenance", tag = "fleet", security(("bearer" = [])), request_body = MaintenanceRequest,
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "Updated", body = VpsResponse), (status = 409, description = "`CONFLICT`: decommissioned", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/maintenance")]
pub async fn maintenance(
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<MaintenanceRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services
        .fleet
        .set_maintenance(&a.0.actor(), vps_id(&path)?, body.0.enabled)
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}

/// Retires the server (no new sites, no health checks). Refused while site records that are not
/// deleted name it, or while its agent reports sites or cannot be asked. The agent is not asked
/// when the database knows the server never held a site (no site record ever named it, and it
/// was never trusted or never bootstrapped).
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/decommission", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "Decommissioned", body = VpsResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`VPS_HAS_SITES`: sites are placed there; `CONFLICT`: the agent reports sites, or cannot be asked", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/decommission")]
pub async fn decommission(
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let vps = services
        .fleet
        .decommission(&a.0.actor(), vps_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}

/// Removes a decommissioned server from the fleet. Refused while any site record, deleted or
/// not, names it (a deleted site keeps its server for its history).
#[utoipa::path(delete, path = "/api/v1/admin/vps/{id}", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`FORBIDDEN`: super admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`VPS_NOT_DECOMMISSIONED`: decommission it first; `VPS_HAS_SITES`: site records name it", body = Problem, content_type = "application/problem+json")))]
#[delete("/admin/vps/{id}")]
pub async fn remove_vps(
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services.fleet.remove(&a.0.actor(), vps_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
