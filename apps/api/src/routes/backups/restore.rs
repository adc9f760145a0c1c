//! `POST /api/v1/backups/{id}/restore`: a dry run (200, what would change) or a restore (202,
//! an operation).

use super::views::{RestorePreview, RestorePreviewResponse, RestoreRequest};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::request_id::current_request_id;
use crate::routes::sites::{OperationResponse, OperationView};
use crate::wiring::Services;
use actix_web::{HttpResponse, post, web};
use chom_auth::Ability;
use chom_kernel::SiteId;

/// Restores a backup into its site, or into another of the tenant's sites (`site_id`; admins
/// and owners). With `"dry_run": true` it answers 200 with what would change (files added,
/// changed and removed; each table's rows), asking the server now, and changes nothing.
/// Otherwise 202 with the operation (kind `restore`): the files are staged and the dump loaded
/// beside the live ones, both checked against the backup's manifest, then swapped in at once;
/// a corrupted backup fails the operation with the site untouched.
#[utoipa::path(post, path = "/api/v1/backups/{id}/restore", tag = "backups", security(("bearer" = [])),
    request_body = RestoreRequest,
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 200, description = "A dry run: what the restore would change", body = RestorePreviewResponse),
        (status = 202, description = "Accepted: the restore's operation", body = OperationResponse),
        (status = 403, description = "`FORBIDDEN` (below admin), `INSUFFICIENT_ABILITY` (a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such backup in your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`BACKUP_NOT_COMPLETED`, `INVALID_STATE` (the site is creating, failed or deleted), `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: `site_id` (`INVALID_VALUE`: not a site of your tenant)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`SERVER_ERROR`: a dry run the server could not answer", body = Problem, content_type = "application/problem+json")))]
#[post("/backups/{id}/restore")]
pub async fn restore_backup(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<RestoreRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let ctx = auth.tenant()?;
    let id = super::backup_id(&path)?;
    let request = body.0;
    let target = match request.site_id.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse::<SiteId>().map_err(|_| {
            ApiError::validation(ApiError::field_errors(vec![(
                "site_id",
                "INVALID_VALUE",
                "no such site in your tenant".into(),
            )]))
        })?),
    };
    if request.dry_run {
        let preview = services.backups.restore_preview(ctx, id, target).await?;
        return Ok(HttpResponse::Ok().json(RestorePreviewResponse {
            data: RestorePreview::from(preview),
        }));
    }
    let op = services
        .backups
        .restore_backup(ctx, id, target, current_request_id())
        .await?;
    Ok(HttpResponse::Accepted().json(OperationResponse {
        data: OperationView::from(&op),
    }))
}
