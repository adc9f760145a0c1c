//! The servers on record: adding, listing (cursor-paged), reading and editing one.

use super::views::{VpsList, VpsResponse, VpsView};
use super::vps_id;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, SuperAdmin};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, patch, post, web};
use chom_infrastructure::NewVps;
use chom_kernel::{TenantId, VpsId};
use serde::Deserialize;
use utoipa::ToSchema;

/// A server's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpsRequest {
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// IPv4 or IPv6 address.
    #[serde(default)]
    pub ip_address: String,
    /// SSH port (22).
    #[serde(default)]
    pub ssh_port: Option<u16>,
    /// SSH user (`chom`).
    #[serde(default)]
    pub ssh_user: Option<String>,
    /// Provider.
    #[serde(default)]
    pub provider: String,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// CPU cores.
    #[serde(default)]
    pub cpu_cores: i32,
    /// Memory, MB.
    #[serde(default)]
    pub memory_mb: i32,
    /// Disk, GB.
    #[serde(default)]
    pub disk_gb: i32,
    /// `shared` or `dedicated`.
    #[serde(default)]
    pub allocation: String,
    /// Tenant of a dedicated server.
    #[serde(default)]
    pub dedicated_tenant_id: Option<String>,
    /// Site cap (50).
    #[serde(default)]
    pub max_sites: Option<i32>,
}

fn new_vps(r: VpsRequest) -> Result<NewVps, ApiError> {
    let tenant = match r.dedicated_tenant_id {
        Some(t) => Some(t.parse::<TenantId>().map_err(|_| {
            ApiError::field("dedicated_tenant_id", "INVALID_FORMAT", "a tenant id")
        })?),
        None => None,
    };
    Ok(NewVps {
        hostname: r.hostname,
        ip_address: r.ip_address,
        ssh_port: r.ssh_port,
        ssh_user: r.ssh_user,
        provider: r.provider,
        region: r.region,
        cpu_cores: r.cpu_cores,
        memory_mb: r.memory_mb,
        disk_gb: r.disk_gb,
        allocation: r.allocation,
        dedicated_tenant_id: tenant,
        max_sites: r.max_sites,
    })
}

/// Adds a server. Trust its host key, then bootstrap it.
#[utoipa::path(post, path = "/api/v1/admin/vps", tag = "fleet", security(("bearer" = [])), request_body = VpsRequest,
    responses(
        (status = 201, description = "Added", body = VpsResponse),
        (status = 403, description = "`FORBIDDEN`: super admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`HOSTNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps")]
pub async fn add_vps(
    _a: SuperAdmin,
    services: web::Data<Services>,
    body: Body<VpsRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services.fleet.add(new_vps(body.0)?).await?;
    Ok(HttpResponse::Created().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}

/// The servers in the order they were added (cursor pagination: the cursor is the last
/// server's id, so a server added or removed meanwhile never shifts the pages).
#[utoipa::path(get, path = "/api/v1/admin/vps", tag = "fleet", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of servers", body = VpsList),
        (status = 403, description = "`FORBIDDEN`: super admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/vps")]
pub async fn list_vps(
    _a: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<VpsId>()?;
    let list = services.fleet.page(page.cursor, page.limit).await?;
    Ok(HttpResponse::Ok().json(VpsList {
        meta: PageMeta::after(&list, page.limit, |v| v.id.to_string()),
        data: list.iter().map(VpsView::from).collect(),
    }))
}

/// One server.
#[utoipa::path(get, path = "/api/v1/admin/vps/{id}", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server id")),
    responses((status = 200, description = "The server", body = VpsResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/vps/{id}")]
pub async fn get_vps(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let vps = services.fleet.get(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}

/// Edits a server (a new address or port forgets the trusted host key).
#[utoipa::path(patch, path = "/api/v1/admin/vps/{id}", tag = "fleet", security(("bearer" = [])), request_body = VpsRequest,
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "Updated", body = VpsResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[patch("/admin/vps/{id}")]
pub async fn edit_vps(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<VpsRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services
        .fleet
        .edit(vps_id(&path)?, new_vps(body.0)?)
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}
