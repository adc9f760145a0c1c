//! `/api/v1/admin/*`: the super admin's approvals, suspensions and listings.

use crate::error::{ApiError, Problem};
use crate::extract::{Body, OptionalBody, SuperAdmin};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, post, web};
use chom_kernel::{OrganizationId, TenantId, UserId};
use chom_tenancy::admin::Approval;
use chom_tenancy::model::{OrganizationStatus, TenantStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(pending_approvals)
        .service(approve_user)
        .service(reject_user)
        .service(approve_organization)
        .service(reject_organization)
        .service(suspend_organization)
        .service(activate_organization)
        .service(suspend_tenant)
        .service(activate_tenant)
        .service(list_users)
        .service(list_organizations)
        .service(list_tenants);
}

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no such {what}")))
}

const BAD_PAGE: &str = "`VALIDATION_FAILED`: a bad cursor or limit";
const SUPER_ADMINS_ONLY: &str = "`FORBIDDEN`: super admins only";

/// A sign-up waiting for a decision: a pending user or a pending organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// `user` or `organization`: which of the two is set (and which `approve`/`reject`
    /// routes decide it).
    #[schema(example = "user")]
    pub kind: &'static str,
    /// The pending user, when `kind` is `user`.
    pub user: Option<UserView>,
    /// The pending organization, when `kind` is `organization`.
    pub organization: Option<OrganizationView>,
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> Self {
        match a {
            Approval::User(u) => Self {
                kind: "user",
                user: Some(UserView::from(u)),
                organization: None,
            },
            Approval::Organization(o) => Self {
                kind: "organization",
                user: None,
                organization: Some(OrganizationView::from(o)),
            },
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalList {
    /// Pending users and organizations together, newest first.
    pub data: Vec<ApprovalView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Sign-ups waiting for a decision: pending users and pending organizations, newest first
/// (cursor pagination).
#[utoipa::path(get, path = "/api/v1/admin/approvals", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of pending users and organizations", body = ApprovalList),
        (status = 403, description = SUPER_ADMINS_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = BAD_PAGE, body = Problem, content_type = "application/problem+json")))]
#[get("/admin/approvals")]
pub async fn pending_approvals(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<Uuid>()?;
    let pending = services.admin.approvals(page.cursor, page.limit).await?;
    Ok(HttpResponse::Ok().json(ApprovalList {
        meta: PageMeta::after(&pending, page.limit, |a| a.id().to_string()),
        data: pending.iter().map(ApprovalView::from).collect(),
    }))
}

/// An approval: the body may be left out. No field is required.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "known customer"}))]
pub struct DecisionRequest {
    /// Approval notes.
    #[serde(default)]
    #[schema(nullable = false)]
    pub reason: Option<String>,
}

/// A rejection.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the sign-up gives no way to reach its owner"}))]
pub struct RejectionRequest {
    /// Why: 10–1000 characters (kept, and e-mailed to the user or the owners).
    #[serde(default)]
    #[schema(required = true, nullable = false, min_length = 10, max_length = 1000)]
    pub reason: Option<String>,
}

/// Approves a user (and the pending organization they own). The user is e-mailed.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/approve", tag = "admin", security(("bearer" = [])),
    request_body(content = Option<DecisionRequest>, description = "Optional: approval notes"),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Approved"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: already approved", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users/{id}/approve")]
pub async fn approve_user(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: OptionalBody<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = id(&path, "user")?;
    let note = body.0.and_then(|b| b.reason);
    services
        .admin
        .approve_user(&admin.0.actor(), user, note.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rejects a user (reason required; the e-mail is refused at the next sign-up; tokens revoked;
/// the user is e-mailed).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/reject", tag = "admin", security(("bearer" = [])), request_body = RejectionRequest,
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Rejected"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`FORBIDDEN`: super admins cannot be rejected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: reason (`OUT_OF_RANGE`)", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users/{id}/reject")]
pub async fn reject_user(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<RejectionRequest>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = id(&path, "user")?;
    services
        .admin
        .reject_user(
            &admin.0.actor(),
            user,
            body.0.reason.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Approves an organization. Its owners are e-mailed.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/approve", tag = "admin", security(("bearer" = [])),
    request_body(content = Option<DecisionRequest>, description = "Optional: approval notes"),
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204, description = "Approved"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/approve")]
pub async fn approve_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: OptionalBody<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let org: OrganizationId = id(&path, "organization")?;
    let note = body.0.and_then(|b| b.reason);
    services
        .admin
        .decide_organization(&admin.0.actor(), org, true, note.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rejects an organization (reason required; members' tokens revoked; owners e-mailed).
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/reject", tag = "admin", security(("bearer" = [])), request_body = RejectionRequest,
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Rejected"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: reason (`OUT_OF_RANGE`)", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/reject")]
pub async fn reject_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<RejectionRequest>,
) -> Result<HttpResponse, ApiError> {
    let org: OrganizationId = id(&path, "organization")?;
    services
        .admin
        .decide_organization(&admin.0.actor(), org, false, body.0.reason.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn org_status(
    admin: &SuperAdmin,
    services: &Services,
    raw: &str,
    status: OrganizationStatus,
) -> Result<HttpResponse, ApiError> {
    services
        .admin
        .set_organization_status(&admin.0.actor(), id(raw, "organization")?, status)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Suspends an organization: its members' tokens are revoked and logins refused
/// (`ORGANIZATION_SUSPENDED`).
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204, description = "Suspended"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/suspend")]
pub async fn suspend_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    org_status(&admin, &services, &path, OrganizationStatus::Suspended).await
}

/// Reactivates an organization.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204, description = "Active"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/activate")]
pub async fn activate_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    org_status(&admin, &services, &path, OrganizationStatus::Active).await
}

async fn tenant_status(
    admin: &SuperAdmin,
    services: &Services,
    raw: &str,
    status: TenantStatus,
) -> Result<HttpResponse, ApiError> {
    let tenant: TenantId = id(raw, "tenant")?;
    services
        .admin
        .set_tenant_status(&admin.0.actor(), tenant, status)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Suspends a tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204, description = "Suspended"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/tenants/{id}/suspend")]
pub async fn suspend_tenant(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant_status(&admin, &services, &path, TenantStatus::Suspended).await
}

/// Reactivates a tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204, description = "Active"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/tenants/{id}/activate")]
pub async fn activate_tenant(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant_status(&admin, &services, &path, TenantStatus::Active).await
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Users, newest first.
    pub data: Vec<UserView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Every user, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 403, description = SUPER_ADMINS_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = BAD_PAGE, body = Problem, content_type = "application/problem+json")))]
#[get("/admin/users")]
pub async fn list_users(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<UserId>()?;
    let users = services.admin.users(page.cursor, page.limit).await?;
    Ok(HttpResponse::Ok().json(UserList {
        meta: PageMeta::after(&users, page.limit, |u| u.id.to_string()),
        data: users.iter().map(UserView::from).collect(),
    }))
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    /// Organizations, newest first.
    pub data: Vec<OrganizationView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Every organization, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/admin/organizations", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationList),
        (status = 403, description = SUPER_ADMINS_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = BAD_PAGE, body = Problem, content_type = "application/problem+json")))]
#[get("/admin/organizations")]
pub async fn list_organizations(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<OrganizationId>()?;
    let orgs = services
        .admin
        .organizations(page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(OrganizationList {
        meta: PageMeta::after(&orgs, page.limit, |o| o.id.to_string()),
        data: orgs.iter().map(OrganizationView::from).collect(),
    }))
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// Tenants, newest first.
    pub data: Vec<TenantView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Every tenant, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of tenants", body = TenantList),
        (status = 403, description = SUPER_ADMINS_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = BAD_PAGE, body = Problem, content_type = "application/problem+json")))]
#[get("/admin/tenants")]
pub async fn list_tenants(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<TenantId>()?;
    let tenants = services.admin.tenants(page.cursor, page.limit).await?;
    Ok(HttpResponse::Ok().json(TenantList {
        meta: PageMeta::after(&tenants, page.limit, |t| t.id.to_string()),
        data: tenants.iter().map(TenantView::from).collect(),
    }))
}
