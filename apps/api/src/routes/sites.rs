//! `/api/v1/sites…` and `/api/v1/operations…`: a tenant's sites and the progress of the work on
//! them. Every lookup is scoped to the caller's tenant: a foreign id is 404.

use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Auth, Body};
use crate::request_id::current_request_id;
use crate::routes::paging::{Page, PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chom_agent_protocol::{Command, PhpVersion, SiteType};
use chom_auth::Ability;
use chom_kernel::{OperationId, Role, SiteId, TenantId};
use chom_site_hosting::{
    CreateSite, Operation, Refusal, Site, SiteAction, SiteError, SiteFilter, SiteStatus, Step,
};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

impl From<SiteError> for ApiError {
    fn from(e: SiteError) -> Self {
        match e {
            SiteError::Refused(r) => refusal(r),
            SiteError::NotFound => Self::not_found("no such site or operation"),
            SiteError::Forbidden(m) => Self::forbidden(m),
            SiteError::Invalid(errors) => Self::validation(field_errors(errors)),
            SiteError::Conflict(code, m) => Self::new(StatusCode::CONFLICT, code, m),
            SiteError::Fleet(f) => f.into(),
            SiteError::Store(s) => s.into(),
        }
    }
}

fn field_errors(errors: Vec<(&'static str, &'static str, String)>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|(field, code, message)| FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message,
        })
        .collect()
}

fn refusal(r: Refusal) -> ApiError {
    let code = r.code();
    let message = r.to_string();
    match r {
        Refusal::Invalid(errors) => ApiError::validation(field_errors(errors)),
        Refusal::SiteLimitExceeded { current, limit } => {
            let mut ext = serde_json::Map::new();
            ext.insert("current".into(), current.into());
            ext.insert("limit".into(), limit.into());
            ApiError::new(StatusCode::FORBIDDEN, code, message).with_extensions(ext)
        }
        Refusal::DomainTaken => ApiError::new(StatusCode::CONFLICT, code, message),
        Refusal::NoCapacity => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message),
        Refusal::Forbidden(_)
        | Refusal::TenantNotActive
        | Refusal::OrganizationNotApproved
        | Refusal::PlanNotSelected => ApiError::new(StatusCode::FORBIDDEN, code, message),
    }
}

/// A site as its tenant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    /// Id.
    pub id: String,
    /// Domain.
    pub domain: String,
    /// `https://` once a certificate is served, else `http://`.
    pub url: String,
    /// `wordpress`, `html`, `laravel`.
    pub site_type: String,
    /// `8.2`, `8.3`, `8.4`.
    pub php_version: String,
    /// `creating`, `active`, `disabled`, `failed`, `deleting`, `restoring`.
    pub status: String,
    /// Why it failed, or what disabled it.
    pub status_reason: Option<String>,
    /// Served over HTTPS.
    pub ssl_enabled: bool,
    /// Certificate expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ssl_expires_at: Option<OffsetDateTime>,
    /// Database name (the credentials need the `read:sensitive` ability).
    pub db_name: Option<String>,
    /// Disk used, MB.
    pub storage_used_mb: i64,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Site> for SiteView {
    fn from(s: &Site) -> Self {
        let scheme = if s.ssl_enabled { "https" } else { "http" };
        Self {
            id: s.id.to_string(),
            domain: s.domain.as_str().to_owned(),
            url: format!("{scheme}://{}", s.domain.as_str()),
            site_type: s.site_type.as_str().to_owned(),
            php_version: s.php_version.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            status_reason: s.status_reason.clone(),
            ssl_enabled: s.ssl_enabled,
            ssl_expires_at: s.ssl_expires_at,
            db_name: s.db_name.clone(),
            storage_used_mb: s.storage_used_mb,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One step of an operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// Name (`site.create`, `ssl.issue`…).
    pub name: String,
    /// `pending`, `running`, `done`, `failed`.
    pub status: String,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed (or why it waits for a retry).
    pub error: Option<String>,
}

impl From<&Step> for StepView {
    fn from(s: &Step) -> Self {
        Self {
            name: s.name.clone(),
            status: serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(ToOwned::to_owned))
                .unwrap_or_default(),
            started_at: s.started_at,
            finished_at: s.finished_at,
            error: s.error.clone(),
        }
    }
}

/// A long-running operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationView {
    /// Id (poll `GET /api/v1/operations/{id}`, stream `…/events`).
    pub id: String,
    /// `provision`, `enable`, `disable`, `delete`, `set_php`, `ssl_issue`, `ssl_renew`,
    /// `cache_clear`, `db_export`, `db_optimize`.
    pub kind: String,
    /// The site.
    pub site_id: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// Steps in order.
    pub steps: Vec<StepView>,
    /// What stopped it.
    pub error: Option<String>,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Operation> for OperationView {
    fn from(o: &Operation) -> Self {
        Self {
            id: o.id.to_string(),
            kind: o.kind.clone(),
            site_id: o.site_id.map(|s| s.to_string()),
            status: o.status.as_str().to_owned(),
            steps: o.steps.iter().map(StepView::from).collect(),
            error: o.error.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// A site and the operation now working on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteAndOperation {
    /// The site.
    pub site: SiteView,
    /// The operation.
    pub operation: OperationView,
}

/// Envelope (202).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    /// Payload.
    pub data: SiteAndOperation,
}

/// A site with where to point its DNS.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDetail {
    /// The site.
    #[serde(flatten)]
    pub site: SiteView,
    /// The address the domain's A/AAAA records must point to.
    pub ip_address: Option<String>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteResponse {
    /// Payload.
    pub data: SiteDetail,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    /// Sites, newest first.
    pub data: Vec<SiteView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationResponse {
    /// Payload.
    pub data: OperationView,
}

/// The database credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    /// Host, from the site's point of view.
    pub host: String,
    /// Database.
    pub name: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsResponse {
    /// Payload.
    pub data: Credentials,
}

/// `{"data": <agent answer>}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteAgentAnswer {
    /// The site.
    pub site: SiteView,
    /// What the server reported.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentReportResponse {
    /// Payload.
    pub data: SiteAgentAnswer,
}

fn tenant_role(auth: &Auth) -> Result<(TenantId, Role), ApiError> {
    let (_, role) = auth.membership()?;
    Ok((auth.tenant()?.tenant_id(), role))
}

fn reader(auth: &Auth) -> Result<TenantId, ApiError> {
    auth.require(Ability::Read)?;
    Ok(tenant_role(auth)?.0)
}

fn writer(auth: &Auth) -> Result<(TenantId, Role), ApiError> {
    auth.require(Ability::Write)?;
    tenant_role(auth)
}

fn site_id(raw: &str) -> Result<SiteId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such site or operation"))
}

fn accepted(site: &Site, op: &Operation) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/operations/{}", op.id)))
        .json(AcceptedResponse {
            data: SiteAndOperation {
                site: SiteView::from(site),
                operation: OperationView::from(op),
            },
        })
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this type (`wordpress`, `html`, `laravel`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub site_type: Option<String>,
    /// Domain contains this.
    pub search: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

fn filter(q: ListQuery) -> Result<SiteFilter, ApiError> {
    let mut errors = Vec::new();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => SiteStatus::parse(s)
            .map_err(|_| {
                errors.push((
                    "status",
                    "INVALID_VALUE",
                    format!("{s:?} is not a site status"),
                ))
            })
            .ok(),
    };
    let site_type = match q.site_type.as_deref() {
        None => None,
        Some(t) => SiteType::parse(t)
            .map_err(|e| errors.push(("type", "INVALID_VALUE", e.0)))
            .ok(),
    };
    if let Some(s) = &q.search
        && s.len() > 253
    {
        errors.push(("search", "INVALID_VALUE", "at most 253 characters".into()));
    }
    let mut errors = field_errors(errors);
    let page = Page::<SiteId>::collect(q.cursor.as_deref(), q.limit, &mut errors);
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    Ok(SiteFilter {
        status,
        site_type,
        search: q
            .search
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        before: page.cursor,
        limit: page.limit,
    })
}

/// The tenant's sites, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of sites", body = SiteList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad filter", body = Problem, content_type = "application/problem+json")))]
#[get("/sites")]
pub async fn list_sites(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(&auth)?;
    let f = filter(query.into_inner())?;
    let sites = services.sites.list(tenant, &f).await?;
    Ok(HttpResponse::Ok().json(SiteList {
        meta: PageMeta::after(&sites, f.limit, |s| s.id.to_string()),
        data: sites.iter().map(SiteView::from).collect(),
    }))
}

/// A site to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSiteRequest {
    /// Domain (`shop.example.com`).
    #[serde(default)]
    pub domain: String,
    /// `wordpress` (default), `html`, `laravel`.
    pub site_type: Option<String>,
    /// `8.2` (default), `8.3`, `8.4`.
    pub php_version: Option<String>,
    /// Obtain a Let's Encrypt certificate once provisioned (false).
    #[serde(default)]
    pub ssl: bool,
}

/// Creates a site: checks the role, the tenant (active, approved, plan selected), the plan's
/// quota, the fields, then places it on a server with room. Answers 202: the provisioning runs
/// in the background (follow the operation).
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), request_body = CreateSiteRequest,
    responses(
        (status = 202, description = "Accepted: the site (`creating`) and its provisioning operation", body = AcceptedResponse),
        (status = 403, description = "`FORBIDDEN` (role), `TENANT_NOT_ACTIVE`, `ACCOUNT_PENDING_APPROVAL`, `PLAN_NOT_SELECTED`, `SITE_LIMIT_EXCEEDED` (with `current` and `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`DOMAIN_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: domain, type or PHP version", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`NO_CAPACITY`: no server has room", body = Problem, content_type = "application/problem+json")))]
#[post("/sites")]
pub async fn create_site(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<CreateSiteRequest>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, role) = writer(&auth)?;
    let b = body.0;
    let (site, op) = services
        .sites
        .create(
            tenant,
            role,
            CreateSite {
                domain: b.domain,
                site_type: b.site_type,
                php_version: b.php_version,
                ssl: b.ssl,
            },
            current_request_id(),
        )
        .await?;
    Ok(accepted(&site, &op))
}

/// One site, with the address its DNS must point to.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses((status = 200, description = "The site", body = SiteResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}")]
pub async fn get_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(&auth)?;
    let site = services.sites.get(tenant, site_id(&path)?).await?;
    let ip_address = services
        .fleet
        .get(site.vps_id)
        .await
        .ok()
        .map(|v| v.ip_address);
    Ok(HttpResponse::Ok().json(SiteResponse {
        data: SiteDetail {
            site: SiteView::from(&site),
            ip_address,
        },
    }))
}

/// Site changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSiteRequest {
    /// The new PHP version (`8.2`, `8.3`, `8.4`): the pool moves on the server.
    pub php_version: String,
}

async fn act(
    auth: &Auth,
    services: &Services,
    raw: &str,
    action: SiteAction,
) -> Result<HttpResponse, ApiError> {
    let (tenant, role) = writer(auth)?;
    if matches!(action, SiteAction::Delete | SiteAction::DbExport) {
        // Sensitive: a stolen token must not delete or dump a tenant's sites in bulk.
        crate::ratelimit::sensitive(services, tenant).await?;
    }
    let (site, op) = services
        .sites
        .request(tenant, role, site_id(raw)?, action, current_request_id())
        .await?;
    Ok(accepted(&site, &op))
}

/// Switches the site's PHP version (202: follow the operation).
#[utoipa::path(patch, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])), request_body = UpdateSiteRequest,
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 202, description = "Accepted", body = AcceptedResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: unsupported version", body = Problem, content_type = "application/problem+json")))]
#[patch("/sites/{id}")]
pub async fn update_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<UpdateSiteRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let version = PhpVersion::parse(&body.0.php_version)
        .map_err(|e| ApiError::field("php_version", "INVALID_VALUE", e.0))?;
    act(&auth, &services, &path, SiteAction::SetPhp(version)).await
}

/// Deletes the site: everything on the server, then the record (202: follow the operation).
#[utoipa::path(delete, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 202, description = "Accepted (the site is `deleting`)", body = AcceptedResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json")))]
#[delete("/sites/{id}")]
pub async fn delete_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&auth, &services, &path, SiteAction::Delete).await
}

macro_rules! site_action {
    ($(#[$doc:meta])* $name:ident, $route:literal, $action:expr, $summary:literal) => {
        $(#[$doc])*
        #[utoipa::path(post, path = concat!("/api/v1", $route), tag = "sites", security(("bearer" = [])),
            params(("id" = String, Path, description = "Site id")),
            responses(
                (status = 202, description = $summary, body = AcceptedResponse),
                (status = 403, description = "`FORBIDDEN` (viewer), `INSUFFICIENT_ABILITY`", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json")))]
        #[post($route)]
        pub async fn $name(
            auth: Auth,
            services: web::Data<Services>,
            path: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            act(&auth, &services, &path, $action).await
        }
    };
}

site_action!(
    /// Serves a disabled site again.
    enable_site, "/sites/{id}/enable", SiteAction::Enable, "Accepted: the vhost goes back on");
site_action!(
    /// Stops serving the site (files and database kept).
    disable_site, "/sites/{id}/disable", SiteAction::Disable, "Accepted: the vhost goes off");
site_action!(
    /// Re-runs a failed provisioning.
    retry_site, "/sites/{id}/retry", SiteAction::Retry, "Accepted: provisioning again");
site_action!(
    /// Obtains a Let's Encrypt certificate (ACME HTTP-01) and serves the site over HTTPS.
    issue_ssl, "/sites/{id}/ssl", SiteAction::SslIssue, "Accepted: certificate requested");
site_action!(
    /// Renews the site's certificate now.
    renew_ssl, "/sites/{id}/ssl/renew", SiteAction::SslRenew, "Accepted: renewal requested");
site_action!(
    /// Clears the application's caches.
    clear_cache, "/sites/{id}/cache/clear", SiteAction::CacheClear, "Accepted");
site_action!(
    /// Dumps the database into the site's `backups/` directory.
    export_database, "/sites/{id}/database/export", SiteAction::DbExport, "Accepted");
site_action!(
    /// Optimizes the database's tables.
    optimize_database, "/sites/{id}/database/optimize", SiteAction::DbOptimize, "Accepted");

async fn report(
    auth: &Auth,
    services: &Services,
    raw: &str,
    command: fn(chom_agent_protocol::SiteRef) -> Command,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(auth)?;
    let (site, report) = services.sites.ask(tenant, site_id(raw)?, command).await?;
    Ok(HttpResponse::Ok().json(AgentReportResponse {
        data: SiteAgentAnswer {
            site: SiteView::from(&site),
            report,
        },
    }))
}

/// What the server reports about the site (serving, disk usage, pool).
#[utoipa::path(get, path = "/api/v1/sites/{id}/info", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The server's report", body = AgentReportResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/info")]
pub async fn site_info(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report(&auth, &services, &path, Command::SiteInfo).await
}

/// The site's certificate as the server sees it (issuer, expiry, days left).
#[utoipa::path(get, path = "/api/v1/sites/{id}/ssl", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The certificate", body = AgentReportResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR`", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/ssl")]
pub async fn ssl_status(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report(&auth, &services, &path, Command::SslStatus).await
}

/// The site's database credentials (needs a token with `read:sensitive`, and a role that may
/// manage sites: viewers do not see secrets).
#[utoipa::path(get, path = "/api/v1/sites/{id}/database/credentials", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "Credentials", body = CredentialsResponse),
        (status = 403, description = "`INSUFFICIENT_ABILITY`: the token lacks `read:sensitive`; `FORBIDDEN`: a viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`NO_DATABASE`: not provisioned yet", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/database/credentials")]
pub async fn database_credentials(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::ReadSensitive)?;
    // Secrets are for those who may change the site, not for viewers.
    auth.authorize(chom_team::Action::ManageSites)?;
    let tenant = reader(&auth)?;
    let (name, user, password) = services.sites.credentials(tenant, site_id(&path)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CredentialsResponse {
            data: Credentials {
                host: "localhost".into(),
                name,
                user,
                password,
            },
        }))
}

fn operation_id(raw: &str) -> Result<OperationId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such site or operation"))
}

/// An operation's progress.
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Operation id")),
    responses((status = 200, description = "The operation", body = OperationResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[get("/operations/{id}")]
pub async fn get_operation(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(&auth)?;
    let op = services
        .sites
        .operation(tenant, operation_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(OperationResponse {
        data: OperationView::from(&op),
    }))
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationList {
    /// Operations, newest first.
    pub data: Vec<OperationView>,
    /// Paging.
    pub meta: PageMeta,
}

/// The site's operations, newest first: what was done to it, when, and how it ended.
#[utoipa::path(get, path = "/api/v1/sites/{id}/operations", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id"), PageQuery),
    responses(
        (status = 200, description = "A page of operations", body = OperationList),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/operations")]
pub async fn list_operations(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(&auth)?;
    let page = query.page::<OperationId>()?;
    let ops = services
        .sites
        .operations(tenant, site_id(&path)?, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(OperationList {
        meta: PageMeta::after(&ops, page.limit, |o| o.id.to_string()),
        data: ops.iter().map(OperationView::from).collect(),
    }))
}

fn sse(event: &str, data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    format!("event: {event}\ndata: {json}\n\n")
}

/// What changed between two readings of an operation, as SSE events: a `step` event per step
/// whose state moved, then an `operation` event when the operation's own state moved.
fn changes(before: Option<&Operation>, now: &Operation) -> String {
    let mut out = String::new();
    for step in &now.steps {
        let old = before.and_then(|b| b.steps.iter().find(|s| s.name == step.name));
        if old.is_none_or(|o| o.status != step.status || o.error != step.error) {
            out.push_str(&sse("step", &StepView::from(step)));
        }
    }
    if before.is_none_or(|b| b.status != now.status) {
        out.push_str(&sse("operation", &OperationView::from(now)));
    }
    out
}

/// Open event streams per token (per API process): a token cannot hold the server's polling
/// capacity hostage (L6).
pub const STREAMS_PER_TOKEN: usize = 5;

/// How often a stream checks that its token is still valid (revoked, logged out, expired,
/// suspended: the stream ends).
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The operation's progress as Server-Sent Events: `operation` (the whole operation, first and
/// whenever its state changes) and `step` (a step that started, finished or failed). The stream
/// ends when the operation succeeds or fails, after 30 minutes, or within 5 s of its token
/// being revoked. At most 5 streams per token at a time.
#[utoipa::path(get, path = "/api/v1/operations/{id}/events", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Operation id")),
    responses((status = 200, description = "`text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`TOO_MANY_STREAMS`: this token has 5 streams open", body = Problem, content_type = "application/problem+json")))]
#[get("/operations/{id}/events")]
pub async fn operation_events(
    req: actix_web::HttpRequest,
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reader(&auth)?;
    let id = operation_id(&path)?;
    let first = services.sites.operation(tenant, id).await?;
    let slot = services
        .streams
        .open(auth.session.token.id, STREAMS_PER_TOKEN)
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_STREAMS",
                format!("this token has {STREAMS_PER_TOKEN} event streams open; close one"),
            )
            .with_header("Retry-After", "5")
        })?;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_default();
    let sites = services.sites.clone();
    let identity = services.identity.clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30 * 60);
    let opening = changes(None, &first);
    let state = (Some(first), false, tokio::time::Instant::now());
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(opening)) })
            .chain(futures::stream::unfold(
                state,
                move |(last, over, checked)| {
                    let (sites, identity, bearer) =
                        (sites.clone(), identity.clone(), bearer.clone());
                    // Held as long as the stream lives; dropping the stream frees the slot.
                    let _slot = &slot;
                    async move {
                        if over || last.as_ref().is_some_and(|l| l.status.is_terminal()) {
                            return None;
                        }
                        loop {
                            if tokio::time::Instant::now() > deadline {
                                return None;
                            }
                            if checked.elapsed() >= RECHECK_EVERY {
                                if identity.authenticate(&bearer).await.is_err() {
                                    return None;
                                }
                                // A comment line: keeps proxies from timing the stream out, and
                                // lets a write notice a client that went away (freeing its slot).
                                let keep_alive = web::Bytes::from_static(b": keep-alive\n\n");
                                return Some((
                                    Ok(keep_alive),
                                    (last, false, tokio::time::Instant::now()),
                                ));
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            let Ok(now) = sites.operation(tenant, id).await else {
                                // Storage hiccup: keep the client waiting, try again.
                                continue;
                            };
                            let events = changes(last.as_ref(), &now);
                            if !events.is_empty() {
                                let done = now.status.is_terminal();
                                return Some((
                                    Ok(web::Bytes::from(events)),
                                    (Some(now), done, checked),
                                ));
                            }
                        }
                    }
                },
            ));
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
