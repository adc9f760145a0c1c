//! Members: the list, role changes, removal, leaving.

use super::path_id;
use super::views::{ChangeRoleRequest, MemberList, MemberView};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::routes::views::UserView;
use crate::wiring::Services;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chom_auth::Ability;
use chom_kernel::UserId;
use chom_team::Action;

/// Members of the caller's organization, oldest account first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/members", tag = "team", security(("bearer" = [])), params(PageQuery),
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

/// Changes a member's role. Nobody raises their own role; only owners make or change owners
/// (an admin cannot make anyone, not even themselves, an owner); the last owner cannot be
/// demoted. A user of another organization is 404.
#[utoipa::path(patch, path = "/api/v1/members/{user_id}", tag = "team", security(("bearer" = [])), request_body = ChangeRoleRequest,
    params(("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`LAST_OWNER`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[patch("/members/{user_id}")]
pub async fn change_role(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<ChangeRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let user = path_id(&path, "member")?;
    services
        .team
        .change_role(auth.tenant()?, user, &body.0.role)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a member (owners and admins; an owner only by an owner; the last owner never).
/// Every API token of the removed user is revoked at once: their next request is 401.
#[utoipa::path(delete, path = "/api/v1/members/{user_id}", tag = "team", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`LAST_OWNER`; `INVALID_STATE`: yourself (leave instead)", body = Problem, content_type = "application/problem+json")))]
#[delete("/members/{user_id}")]
pub async fn remove_member(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let user = path_id(&path, "member")?;
    services.team.remove(auth.tenant()?, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Leaves the organization (any member but its last owner).
#[utoipa::path(post, path = "/api/v1/organization/leave", tag = "team", security(("bearer" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 409, description = "`LAST_OWNER`", body = Problem, content_type = "application/problem+json")))]
#[post("/organization/leave")]
pub async fn leave_organization(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    services.team.leave(auth.tenant()?).await?;
    Ok(HttpResponse::NoContent().finish())
}
