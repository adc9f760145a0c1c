//! The caller's organization and tenant plan (members: the team area).

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::routes::views::{OrganizationView, TenantView};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, patch, put, web};
use chom_auth::Ability;
use chom_team::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_organization)
        .service(update_organization)
        .service(select_plan);
}

/// An organization with its tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationDetail {
    /// The organization.
    #[serde(flatten)]
    pub organization: OrganizationView,
    /// Its tenants, default first.
    pub tenants: Vec<TenantView>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    /// Payload.
    pub data: OrganizationDetail,
}

async fn detail(
    services: &Services,
    org: chom_kernel::OrganizationId,
) -> Result<OrganizationResponse, ApiError> {
    let (o, tenants) = services.admin.organization(org).await?;
    Ok(OrganizationResponse {
        data: OrganizationDetail {
            organization: OrganizationView::from(&o),
            tenants: tenants.iter().map(TenantView::from).collect(),
        },
    })
}

/// The caller's organization.
#[utoipa::path(get, path = "/api/v1/organization", tag = "organization", security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 401, description = "`UNAUTHENTICATED`", body = Problem, content_type = "application/problem+json")))]
#[get("/organization")]
pub async fn get_organization(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let (org, _) = auth.authorize(Action::ViewOrganization)?;
    Ok(HttpResponse::Ok().json(detail(&services, org).await?))
}

/// Organization changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Hosting"}))]
pub struct UpdateOrganizationRequest {
    /// New name: 1–100 characters, no control characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100)]
    pub name: String,
}

/// Renames the organization (owners and admins).
#[utoipa::path(patch, path = "/api/v1/organization", tag = "organization", security(("bearer" = [])), request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Updated", body = OrganizationResponse),
        (status = 403, description = "`FORBIDDEN` (role), `INSUFFICIENT_ABILITY`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[patch("/organization")]
pub async fn update_organization(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<UpdateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let (org, _) = auth.authorize(Action::UpdateOrganization)?;
    services
        .admin
        .rename_organization(&auth.actor(), org, &body.0.name)
        .await?;
    Ok(HttpResponse::Ok().json(detail(&services, org).await?))
}

/// Plan choice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"plan": "starter"}))]
pub struct SelectPlanRequest {
    /// A plan code on offer in `GET /api/v1/plans` (another is 422 `INVALID_VALUE`).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 50,
        pattern = "^[a-z0-9-]+$",
        example = "starter"
    )]
    pub plan: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantResponse {
    /// Payload.
    pub data: TenantView,
}

/// Selects the plan of the tenant this request acts for (owners: it is billing). With billing
/// off this is immediate.
#[utoipa::path(put, path = "/api/v1/tenant/plan", tag = "organization", security(("bearer" = [])), request_body = SelectPlanRequest,
    params(("X-Tenant-Id" = Option<String>, Header, description = "Tenant (default: the organization's default tenant)")),
    responses(
        (status = 200, description = "Plan selected", body = TenantResponse),
        (status = 403, description = "`FORBIDDEN` (only owners)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TENANT_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: unknown plan", body = Problem, content_type = "application/problem+json")))]
#[put("/tenant/plan")]
pub async fn select_plan(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<SelectPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    auth.authorize(Action::ManageBilling)?;
    let tenant = services
        .admin
        .select_plan(auth.tenant()?, &body.0.plan)
        .await?;
    Ok(HttpResponse::Ok().json(TenantResponse {
        data: TenantView::from(&tenant),
    }))
}
