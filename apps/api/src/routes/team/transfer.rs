//! Ownership transfer: an owner proposes an admin, who confirms.

use super::path_id;
use super::views::{TransferRequest, TransferResponse, TransferView};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::wiring::Services;
use actix_web::{HttpResponse, delete, get, post, web};
use chom_auth::Ability;

/// Proposes handing the organization to one of its admins (owners only); it waits 7 days for
/// their confirmation. A new proposal replaces the previous one.
#[utoipa::path(post, path = "/api/v1/organization/transfer-ownership", tag = "team", security(("bearer" = [])), request_body = TransferRequest,
    responses(
        (status = 201, description = "Proposed", body = TransferResponse),
        (status = 403, description = "`FORBIDDEN`: owners only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: not an admin, or yourself", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: `user_id` is not a member (`INVALID_VALUE`, also for a user of another organization)", body = Problem, content_type = "application/problem+json")))]
#[post("/organization/transfer-ownership")]
pub async fn propose_transfer(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<TransferRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let not_member = || ApiError::field("user_id", "INVALID_VALUE", "no such member");
    let to = path_id(&body.0.user_id, "member").map_err(|_| not_member())?;
    let transfer = services
        .team
        .propose_transfer(auth.tenant()?, to)
        .await
        .map_err(|e| match e {
            chom_team::TeamError::NotFound => not_member(),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(TransferResponse {
        data: TransferView::from(&transfer),
    }))
}

/// The pending ownership transfer.
#[utoipa::path(get, path = "/api/v1/organization/transfer-ownership", tag = "team", security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending", body = TransferResponse),
        (status = 404, description = "`NOT_FOUND`: none pending", body = Problem, content_type = "application/problem+json")))]
#[get("/organization/transfer-ownership")]
pub async fn get_transfer(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let transfer = services.team.pending_transfer(auth.tenant()?).await?;
    Ok(HttpResponse::Ok().json(TransferResponse {
        data: TransferView::from(&transfer),
    }))
}

/// The proposed new owner confirms: they become owner, the proposer admin.
#[utoipa::path(post, path = "/api/v1/organization/transfer-ownership/confirm", tag = "team", security(("bearer" = [])),
    responses(
        (status = 204, description = "Transferred"),
        (status = 404, description = "`NOT_FOUND`: nothing pending for you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: no longer an admin", body = Problem, content_type = "application/problem+json")))]
#[post("/organization/transfer-ownership/confirm")]
pub async fn confirm_transfer(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    services.team.confirm_transfer(auth.tenant()?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Cancels the pending transfer (an owner, or the proposed new owner).
#[utoipa::path(delete, path = "/api/v1/organization/transfer-ownership", tag = "team", security(("bearer" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 403, description = "`FORBIDDEN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: none pending", body = Problem, content_type = "application/problem+json")))]
#[delete("/organization/transfer-ownership")]
pub async fn cancel_transfer(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    services.team.cancel_transfer(auth.tenant()?).await?;
    Ok(HttpResponse::NoContent().finish())
}
