//! The caller's organization, tenant plan and members.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, patch, put, web};
use chom_auth::Ability;
use chom_kernel::{Role, UserId};
use chom_team::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_organization)
        .service(update_organization)
        .service(select_plan)
        .service(list_members)
        .service(change_role);
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

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The user.
    pub user: Option<UserView>,
    /// `owner`, `admin`, `member`, `viewer`.
    pub role: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// Members, oldest account first.
    pub data: Vec<MemberView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Members of the caller's organization, oldest account first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/members", tag = "organization", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of members", body = MemberList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/members")]
pub async fn list_members(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let (org, _) = auth.authorize(Action::ViewOrganization)?;
    let page = query.page::<UserId>()?;
    let members = services
        .admin
        .members_page(org, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(MemberList {
        meta: PageMeta::after(&members, page.limit, |(m, _)| m.user_id.to_string()),
        data: members
            .iter()
            .map(|(m, u)| MemberView {
                user: Some(UserView::from(u)),
                role: m.role.as_str().to_owned(),
            })
            .collect(),
    }))
}

/// Role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct ChangeRoleRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    #[serde(default)]
    #[schema(required = true)]
    pub role: String,
}

/// Changes a member's role. Only owners make or change owners (an admin cannot make anyone,
/// not even themselves, an owner); the last owner cannot be demoted. A user of another
/// organization is 404.
#[utoipa::path(patch, path = "/api/v1/members/{user_id}", tag = "organization", security(("bearer" = [])), request_body = ChangeRoleRequest,
    params(("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: the last owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[patch("/members/{user_id}")]
pub async fn change_role(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<ChangeRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let (org, actor_role) = auth.membership()?;
    let new_role = Role::parse(body.0.role.trim()).ok_or_else(|| {
        ApiError::field(
            "role",
            "INVALID_VALUE",
            "one of owner, admin, member, viewer",
        )
    })?;
    let target_id: UserId = path
        .into_inner()
        .parse()
        .map_err(|_| ApiError::not_found("no such member"))?;
    let target = services
        .admin
        .members(org)
        .await?
        .into_iter()
        .find(|(m, _)| m.user_id == target_id)
        .ok_or_else(|| ApiError::not_found("no such member"))?;
    chom_team::check_role_change(
        (auth.session.user_id, actor_role),
        (target_id, target.0.role),
        new_role,
    )
    .map_err(|e| ApiError::forbidden(e.to_string()))?;
    services
        .admin
        .set_role(&auth.actor(), org, target_id, new_role)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
