//! `/api/v1/admin/*`: the super admin's approvals, suspensions and listings.

use crate::error::{ApiError, Problem};
use crate::extract::{Body, SuperAdmin};
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, post, web};
use chom_auth::ApprovalStatus;
use chom_kernel::{OrganizationId, TenantId, UserId};
use chom_tenancy::model::{OrganizationStatus, TenantStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no such {what}")))
}

/// What waits for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalsView {
    /// Users pending approval.
    pub users: Vec<UserView>,
    /// Organizations pending approval.
    pub organizations: Vec<OrganizationView>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalsResponse {
    /// Payload.
    pub data: ApprovalsView,
}

/// Sign-ups waiting for a decision.
#[utoipa::path(get, path = "/api/v1/admin/approvals", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending users and organizations", body = ApprovalsResponse),
        (status = 403, description = "`FORBIDDEN`: super admins only", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/approvals")]
pub async fn pending_approvals(
    _admin: SuperAdmin,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let users = services.admin.pending_users().await?;
    let orgs = services
        .admin
        .organizations(Some(ApprovalStatus::Pending))
        .await?;
    Ok(HttpResponse::Ok().json(ApprovalsResponse {
        data: ApprovalsView {
            users: users.iter().map(UserView::from).collect(),
            organizations: orgs.iter().map(OrganizationView::from).collect(),
        },
    }))
}

/// A decision.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Approval notes (optional) or rejection reason (10–1000 characters, required).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Approves a user (and the pending organization they own). The user is e-mailed.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/approve", tag = "admin", security(("bearer" = [])), request_body = DecisionRequest,
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
    body: Option<Body<DecisionRequest>>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = id(&path, "user")?;
    let note = body.and_then(|b| b.0.reason);
    services
        .admin
        .approve_user(admin.0.session.user_id, user, note.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rejects a user (reason required; the e-mail is refused at the next sign-up; tokens revoked;
/// the user is e-mailed).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/reject", tag = "admin", security(("bearer" = [])), request_body = DecisionRequest,
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Rejected"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: reason", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users/{id}/reject")]
pub async fn reject_user(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = id(&path, "user")?;
    services
        .admin
        .reject_user(
            admin.0.session.user_id,
            user,
            body.0.reason.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Approves an organization. Its owners are e-mailed.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/approve", tag = "admin", security(("bearer" = [])), request_body = DecisionRequest,
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204, description = "Approved"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/approve")]
pub async fn approve_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Option<Body<DecisionRequest>>,
) -> Result<HttpResponse, ApiError> {
    let org: OrganizationId = id(&path, "organization")?;
    let note = body.and_then(|b| b.0.reason);
    services
        .admin
        .decide_organization(admin.0.session.user_id, org, true, note.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rejects an organization (reason required; members' tokens revoked; owners e-mailed).
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/reject", tag = "admin", security(("bearer" = [])), request_body = DecisionRequest,
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Rejected"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: reason", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/reject")]
pub async fn reject_organization(
    admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let org: OrganizationId = id(&path, "organization")?;
    services
        .admin
        .decide_organization(
            admin.0.session.user_id,
            org,
            false,
            body.0.reason.as_deref(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn org_status(
    services: &Services,
    raw: &str,
    status: OrganizationStatus,
) -> Result<HttpResponse, ApiError> {
    services
        .admin
        .set_organization_status(id(raw, "organization")?, status)
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
    _admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    org_status(&services, &path, OrganizationStatus::Suspended).await
}

/// Reactivates an organization.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204, description = "Active"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/organizations/{id}/activate")]
pub async fn activate_organization(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    org_status(&services, &path, OrganizationStatus::Active).await
}

async fn tenant_status(
    services: &Services,
    raw: &str,
    status: TenantStatus,
) -> Result<HttpResponse, ApiError> {
    let tenant: TenantId = id(raw, "tenant")?;
    services.admin.set_tenant_status(tenant, status).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Suspends a tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204, description = "Suspended"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/tenants/{id}/suspend")]
pub async fn suspend_tenant(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant_status(&services, &path, TenantStatus::Suspended).await
}

/// Reactivates a tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204, description = "Active"), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/tenants/{id}/activate")]
pub async fn activate_tenant(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant_status(&services, &path, TenantStatus::Active).await
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Users, newest first.
    pub data: Vec<UserView>,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Users", body = UserList)))]
#[get("/admin/users")]
pub async fn list_users(
    _admin: SuperAdmin,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let users = services.admin.users().await?;
    Ok(HttpResponse::Ok().json(UserList {
        data: users.iter().map(UserView::from).collect(),
    }))
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    /// Organizations, newest first.
    pub data: Vec<OrganizationView>,
}

/// Every organization.
#[utoipa::path(get, path = "/api/v1/admin/organizations", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Organizations", body = OrganizationList)))]
#[get("/admin/organizations")]
pub async fn list_organizations(
    _admin: SuperAdmin,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let orgs = services.admin.organizations(None).await?;
    Ok(HttpResponse::Ok().json(OrganizationList {
        data: orgs.iter().map(OrganizationView::from).collect(),
    }))
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// Tenants.
    pub data: Vec<TenantView>,
}

/// Every tenant.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Tenants", body = TenantList)))]
#[get("/admin/tenants")]
pub async fn list_tenants(
    _admin: SuperAdmin,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let tenants = services.admin.tenants().await?;
    Ok(HttpResponse::Ok().json(TenantList {
        data: tenants.iter().map(TenantView::from).collect(),
    }))
}
