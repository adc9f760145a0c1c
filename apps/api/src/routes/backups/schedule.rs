//! Reading and saving a site's backup schedule.

use super::site_id;
use super::views::{BackupScheduleRequest, BackupScheduleResponse, BackupScheduleView};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, put, web};
use chom_auth::Ability;

/// The site's backup schedule: the saved one, or the default (daily at 03:00 UTC, disabled;
/// `updated_at` null). Any member may read it.
#[utoipa::path(get, path = "/api/v1/sites/{id}/backup-schedule", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The schedule", body = BackupScheduleResponse),
        (status = 404, description = "`NOT_FOUND`: no such site in your tenant", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/backup-schedule")]
pub async fn get_backup_schedule(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let schedule = services
        .backups
        .schedule(auth.tenant()?, site_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(BackupScheduleResponse {
        data: BackupScheduleView::from(&schedule),
    }))
}

/// Saves the site's backup schedule (members, admins and owners; replaces the previous one).
#[utoipa::path(put, path = "/api/v1/sites/{id}/backup-schedule", tag = "backups", security(("bearer" = [])),
    request_body = BackupScheduleRequest,
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The saved schedule", body = BackupScheduleResponse),
        (status = 403, description = "`FORBIDDEN` (a viewer), `INSUFFICIENT_ABILITY` (a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such site in your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: frequency, hour, weekday, time_zone or enabled (`REQUIRED`, `INVALID_VALUE`, `NOT_ALLOWED`, `INVALID_FORMAT`)", body = Problem, content_type = "application/problem+json")))]
#[put("/sites/{id}/backup-schedule")]
pub async fn put_backup_schedule(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<BackupScheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let schedule = services
        .backups
        .set_schedule(auth.tenant()?, site_id(&path)?, body.0.into())
        .await?;
    Ok(HttpResponse::Ok().json(BackupScheduleResponse {
        data: BackupScheduleView::from(&schedule),
    }))
}
