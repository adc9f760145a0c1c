//! Invitations: make, list, resend, revoke, accept.

use super::path_id;
use super::views::{
    AcceptRequest, InvitationList, InvitationRequest, InvitationResponse, InvitationView,
    JoinedResponse, JoinedView,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, web};
use chom_auth::Ability;
use chom_kernel::InvitationId;
use chom_team::service::{Acceptor, NewAccount};

/// Invites an address with a role (owners and admins; only owners invite owners). The link
/// is e-mailed (valid 7 days, single use). Seats (members plus open invitations) are limited
/// by the plan.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "team", security(("bearer" = [])), request_body = InvitationRequest,
    responses(
        (status = 201, description = "Invited; the e-mail is on its way", body = InvitationResponse),
        (status = 403, description = "`FORBIDDEN`; `SEAT_LIMIT_EXCEEDED`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`ALREADY_MEMBER`; `INVITATION_PENDING`: resend or revoke the open one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: email, role", body = Problem, content_type = "application/problem+json")))]
#[post("/invitations")]
pub async fn create_invitation(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<InvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let invitation = services
        .team
        .invite(auth.tenant()?, &body.0.email, &body.0.role)
        .await?;
    Ok(HttpResponse::Created().json(InvitationResponse {
        data: InvitationView::from(&invitation),
    }))
}

/// The organization's invitations, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "team", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of invitations", body = InvitationList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/invitations")]
pub async fn list_invitations(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let page = query.page::<InvitationId>()?;
    let invitations = services
        .team
        .invitations(auth.tenant()?, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(InvitationList {
        meta: PageMeta::after(&invitations, page.limit, |i| i.id.to_string()),
        data: invitations.iter().map(InvitationView::from).collect(),
    }))
}

/// Sends an open invitation again: a new link (the previous one stops working), valid 7 days.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/resend", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 202, description = "The e-mail is on its way", body = InvitationResponse),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: accepted or revoked", body = Problem, content_type = "application/problem+json")))]
#[post("/invitations/{id}/resend")]
pub async fn resend_invitation(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let invitation = services
        .team
        .resend(auth.tenant()?, path_id(&path, "invitation")?)
        .await?;
    Ok(HttpResponse::Accepted().json(InvitationResponse {
        data: InvitationView::from(&invitation),
    }))
}

/// Revokes an open invitation: its link stops working at once.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: accepted", body = Problem, content_type = "application/problem+json")))]
#[delete("/invitations/{id}")]
pub async fn revoke_invitation(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    services
        .team
        .revoke(auth.tenant()?, path_id(&path, "invitation")?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invitation with the token from its e-mail. With a bearer token, the logged-in
/// user joins (their e-mail must be the invited one; a user may belong to several
/// organizations and picks one per request with `X-Tenant-Id`, the oldest membership being
/// the default). Without one, a new account is made from the body (approved, its e-mail
/// verified by the link) and joins; it then logs in.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "team", security((), ("bearer" = [])), request_body = AcceptRequest,
    responses(
        (status = 201, description = "Joined", body = JoinedResponse),
        (status = 401, description = "`UNAUTHENTICATED`: a bearer token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`INVITATION_EMAIL_MISMATCH`: the account's e-mail is not the invited one", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`INVITATION_NOT_FOUND`: unknown token (a newer e-mail replaces the older link)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`ALREADY_MEMBER`; `ACCOUNT_EXISTS`: log in, then accept; `EMAIL_TAKEN`, `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`INVITATION_EXPIRED`, `INVITATION_REVOKED`, `INVITATION_ALREADY_USED`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: token, or the new account's fields", body = Problem, content_type = "application/problem+json")))]
#[post("/invitations/accept")]
pub async fn accept_invitation(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<AcceptRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    if body.token.trim().is_empty() {
        return Err(ApiError::field(
            "token",
            "REQUIRED",
            "the token from the e-mail",
        ));
    }
    let signed_in = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    let auth = if signed_in {
        Some(Auth::extract(&req).await?)
    } else {
        None
    };
    let who = match &auth {
        Some(auth) => {
            auth.require(Ability::Write)?;
            Acceptor::Existing(&auth.session)
        }
        None => Acceptor::New(
            NewAccount {
                username: body.username.unwrap_or_default(),
                first_name: body.first_name.unwrap_or_default(),
                last_name: body.last_name.unwrap_or_default(),
                password: body.password.unwrap_or_default(),
            },
            crate::extract::origin(&req, &services),
        ),
    };
    let (invitation, user) = services.team.accept(&body.token, who).await?;
    Ok(HttpResponse::Created().json(JoinedResponse {
        data: JoinedView {
            organization_id: invitation.organization_id.to_string(),
            role: invitation.role.as_str().to_owned(),
            user_id: user.to_string(),
            new_account: auth.is_none(),
        },
    }))
}
