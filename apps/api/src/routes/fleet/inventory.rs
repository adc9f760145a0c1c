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

/// A server's fields (all of them, when editing too). Every field is read leniently so that
/// every invalid one is reported at once (422 `VALIDATION_FAILED` with `errors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"hostname": "web-1.example.net", "ip_address": "203.0.113.7", "ssh_port": 22, "ssh_user": "chom", "provider": "hetzner", "region": "fsn1", "cpu_cores": 4, "memory_mb": 8192, "disk_gb": 160, "allocation": "shared", "max_sites": 50}))]
pub struct VpsRequest {
    /// Host name: labels of letters, digits and `-` (not at either end), 1 to 63 characters
    /// each, 253 in all.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 253,
        pattern = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
    )]
    pub hostname: String,
    /// IPv4 or IPv6 address.
    #[serde(default)]
    #[schema(required = true, example = "203.0.113.7")]
    pub ip_address: String,
    /// SSH port, 1 to 65535 (22).
    #[serde(default)]
    #[schema(nullable = false, minimum = 1, maximum = 65535, default = 22)]
    pub ssh_port: Option<u16>,
    /// SSH user: a Linux user name, 1–32 characters (`chom`).
    #[serde(default)]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z_][a-z0-9_-]*$",
        default = "chom"
    )]
    pub ssh_user: Option<String>,
    /// Provider: 1–50 characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 50)]
    pub provider: String,
    /// Region: at most 50 characters.
    #[serde(default)]
    #[schema(nullable = false, max_length = 50)]
    pub region: Option<String>,
    /// CPU cores, at least 1.
    #[serde(default)]
    #[schema(required = true, minimum = 1)]
    pub cpu_cores: i32,
    /// Memory, MB: at least 256.
    #[serde(default)]
    #[schema(required = true, minimum = 256)]
    pub memory_mb: i32,
    /// Disk, GB: at least 1.
    #[serde(default)]
    #[schema(required = true, minimum = 1)]
    pub disk_gb: i32,
    /// `shared` or `dedicated`.
    #[serde(default)]
    #[schema(required = true)]
    pub allocation: String,
    /// Tenant of a dedicated server (required when `allocation` is `dedicated`).
    #[serde(default)]
    #[schema(nullable = false, format = Uuid)]
    pub dedicated_tenant_id: Option<String>,
    /// Site cap, 0 to 10000 (50).
    #[serde(default)]
    #[schema(nullable = false, minimum = 0, maximum = 10000, default = 50)]
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
    a: SuperAdmin,
    services: web::Data<Services>,
    body: Body<VpsRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services.fleet.add(&a.0.actor(), new_vps(body.0)?).await?;
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
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<VpsRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services
        .fleet
        .edit(&a.0.actor(), vps_id(&path)?, new_vps(body.0)?)
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}
