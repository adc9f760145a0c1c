//! `/api/v1/admin/vps…`: the VPS fleet (super admins only; never exposed to tenants).

use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Body, SuperAdmin};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chom_infrastructure::{FleetError, GatewayError, NewVps, TrustHostKey, Vps};
use chom_kernel::{TenantId, VpsId};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

impl From<FleetError> for ApiError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::Invalid(errors) => Self::validation(
                errors
                    .into_iter()
                    .map(|(field, message)| FieldError {
                        field: field.to_owned(),
                        code: "INVALID_VALUE".into(),
                        message,
                    })
                    .collect(),
            ),
            FleetError::NotFound => Self::not_found("no such server"),
            FleetError::HostnameTaken => Self::new(
                StatusCode::CONFLICT,
                "HOSTNAME_TAKEN",
                "a server with this host name exists",
            ),
            FleetError::Conflict(m) => Self::new(StatusCode::CONFLICT, "CONFLICT", m),
            FleetError::Gateway(GatewayError::HostKeyMismatch(w)) => Self::new(
                StatusCode::BAD_GATEWAY,
                "HOST_KEY_MISMATCH",
                format!(
                    "the host key of {w} changed: nothing was sent; re-trust it only if the change is expected"
                ),
            ),
            FleetError::Gateway(GatewayError::HostKeyNotTrusted) => Self::new(
                StatusCode::CONFLICT,
                "HOST_KEY_NOT_TRUSTED",
                "trust the server's host key first (POST …/trust-host-key)",
            ),
            FleetError::Gateway(GatewayError::Unreachable(m)) => {
                Self::new(StatusCode::BAD_GATEWAY, "VPS_UNREACHABLE", m)
            }
            FleetError::Busy(m) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "VPS_BUSY", m)
                .with_header("Retry-After", "30"),
            FleetError::Gateway(GatewayError::BadAnswer(m)) | FleetError::Agent(m) => {
                Self::new(StatusCode::BAD_GATEWAY, "AGENT_ERROR", m)
            }
            FleetError::HostKeyAlreadyPinned(m) => {
                Self::new(StatusCode::CONFLICT, "HOST_KEY_ALREADY_PINNED", m)
            }
            FleetError::HostKeyUnexpected(presented) => Self::new(
                StatusCode::CONFLICT,
                "HOST_KEY_UNEXPECTED",
                format!(
                    "the server presents {presented}, not the expected key: nothing was pinned"
                ),
            ),
            FleetError::HasSites(n) => Self::new(
                StatusCode::CONFLICT,
                "VPS_HAS_SITES",
                format!(
                    "{n} site record(s) name this server (deleted sites keep theirs for their history)"
                ),
            ),
            FleetError::NotDecommissioned => Self::new(
                StatusCode::CONFLICT,
                "VPS_NOT_DECOMMISSIONED",
                "decommission the server first",
            ),
            FleetError::Store(s) => s.into(),
        }
    }
}

/// A server as the super admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsView {
    /// Id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Address.
    pub ip_address: String,
    /// SSH port.
    pub ssh_port: u16,
    /// SSH user.
    pub ssh_user: String,
    /// Provider.
    pub provider: String,
    /// Region.
    pub region: Option<String>,
    /// CPU cores.
    pub cpu_cores: i32,
    /// Memory.
    pub memory_mb: i32,
    /// Disk.
    pub disk_gb: i32,
    /// `shared` or `dedicated`.
    pub allocation: String,
    /// Tenant of a dedicated server.
    pub dedicated_tenant_id: Option<String>,
    /// Site cap.
    pub max_sites: i32,
    /// The pinned host key (`null` until trusted).
    pub host_key: Option<String>,
    /// Its SHA-256 fingerprint as `ssh-keygen -lf` prints it (`SHA256:…`).
    pub host_key_fingerprint: Option<String>,
    /// `active`, `maintenance`, `decommissioned`.
    pub status: String,
    /// `healthy`, `degraded`, `unhealthy`, `unreachable`, `unknown`.
    pub health: String,
    /// Why.
    pub health_reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339::option")]
    pub health_checked_at: Option<OffsetDateTime>,
    /// Agent version.
    pub agent_version: Option<String>,
}

impl From<&Vps> for VpsView {
    fn from(v: &Vps) -> Self {
        Self {
            id: v.id.to_string(),
            hostname: v.hostname.clone(),
            ip_address: v.ip_address.clone(),
            ssh_port: v.ssh_port,
            ssh_user: v.ssh_user.clone(),
            provider: v.provider.clone(),
            region: v.region.clone(),
            cpu_cores: v.cpu_cores,
            memory_mb: v.memory_mb,
            disk_gb: v.disk_gb,
            allocation: v.allocation.as_str().to_owned(),
            dedicated_tenant_id: v.dedicated_tenant_id.map(|t| t.to_string()),
            max_sites: v.max_sites,
            host_key: v.host_key.clone(),
            host_key_fingerprint: v.host_key_fingerprint(),
            status: v.status.as_str().to_owned(),
            health: v.health.as_str().to_owned(),
            health_reason: v.health_reason.clone(),
            health_checked_at: v.health_checked_at,
            agent_version: v.agent_version.clone(),
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsResponse {
    /// Payload.
    pub data: VpsView,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsList {
    /// Servers in the order they were added.
    pub data: Vec<VpsView>,
    /// Paging.
    pub meta: PageMeta,
}

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

fn vps_id(raw: &str) -> Result<VpsId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such server"))
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

/// A JSON body that may be left out entirely (no bytes). A body that is present is read like
/// `Body` (415 if not JSON, 400 if malformed, 422 naming the bad field): never dropped.
#[derive(Debug)]
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            let body = Body::<T>::from_request(&req, &mut Payload::from(bytes)).await?;
            Ok(Self(Some(body.0)))
        })
    }
}

/// Who vouches for the key. Leave the body out (or send `{}`) only on first contact.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustRequest {
    /// The key the server must present now: `ssh-ed25519 AAAA…` or its `SHA256:…` fingerprint,
    /// compared out of band (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the
    /// server). Enough on its own to re-pin a server whose key changed.
    #[serde(default)]
    pub expected_key: Option<String>,
    /// Replace the pinned key by whatever the server presents now (needs `old_fingerprint`).
    #[serde(default)]
    pub replace: bool,
    /// With `replace`: the `SHA256:…` fingerprint of the key pinned now.
    #[serde(default)]
    pub old_fingerprint: Option<String>,
}

/// Reads the server's host key and pins it: every later connection checks it strictly.
///
/// First contact (no key pinned) trusts what answers, unless `expected_key` is given. Once a
/// key is pinned, changing it needs `expected_key` equal to what the server presents now, or
/// `replace: true` with `old_fingerprint` equal to the pinned key's fingerprint; without
/// either, the call only succeeds (changing nothing) if the server still presents the pinned
/// key. The answer carries the pinned key and its fingerprint.
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/trust-host-key", tag = "fleet", security(("bearer" = [])),
    request_body(content = Option<TrustRequest>, description = "Optional on first contact; required to change a pinned key"),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "Pinned (`host_key`, `host_key_fingerprint`)", body = VpsResponse),
        (status = 400, description = "`MALFORMED_JSON`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`HOST_KEY_UNEXPECTED`: the server presents another key than `expected_key`; `HOST_KEY_ALREADY_PINNED`: a key is pinned and the request neither names the presented key nor proves the pinned one", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: an unknown field, a wrong type, a key or fingerprint that does not parse, `replace` without `old_fingerprint`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR` (no usable key offered)", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/trust-host-key")]
pub async fn trust_host_key(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: OptionalBody<TrustRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = vps_id(&path)?;
    let req = body.0.unwrap_or_default();
    let vps = services
        .fleet
        .trust_host_key(
            id,
            &TrustHostKey {
                expected_key: req.expected_key,
                replace: req.replace,
                old_fingerprint: req.old_fingerprint,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}

/// `{"data": <agent answer>}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentAnswer {
    /// What the agent answered.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

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
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.bootstrap(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// A health verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `healthy`, `degraded`, `unhealthy`, `unreachable`.
    pub health: String,
    /// Why.
    pub reason: Option<String>,
    /// The agent's report, when it answered.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Payload.
    pub data: HealthView,
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
    responses((status = 200, description = "The agent's list", body = AgentAnswer), (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
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
    responses((status = 200, description = "Counters", body = AgentAnswer), (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
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
    responses((status = 200, description = "The audit", body = AgentAnswer), (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/security-audit")]
pub async fn security_audit(
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let answer = services.fleet.security_audit(vps_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentAnswer { data: answer }))
}

/// Maintenance switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<MaintenanceRequest>,
) -> Result<HttpResponse, ApiError> {
    let vps = services
        .fleet
        .set_maintenance(vps_id(&path)?, body.0.enabled)
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
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let vps = services.fleet.decommission(vps_id(&path)?).await?;
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
    _a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services.fleet.remove(vps_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
