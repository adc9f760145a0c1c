//! Backups themselves: asking for one (202 + operation), listing, reading, deleting.

use super::views::{
    BackupAccepted, BackupList, BackupResponse, BackupVerificationResponse,
    BackupVerificationState, BackupView, CreateBackupRequest, RepositoryResponse, RepositoryView,
};
use super::{backup_id, site_id};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::request_id::current_request_id;
use crate::routes::paging::{Page, PageMeta};
use crate::wiring::Services;
use actix_web::{HttpResponse, delete, get, post, web};
use chom_agent_protocol::backup::BackupKind;
use chom_auth::Ability;
use chom_backup::{BackupFilter, BackupStatus};
use chom_kernel::BackupId;
use serde::Deserialize;
use utoipa::IntoParams;

fn kind(
    raw: Option<&str>,
    field: &'static str,
    errors: &mut Vec<(&'static str, &'static str, String)>,
) -> Option<BackupKind> {
    let raw = raw?;
    let k = BackupKind::parse(raw);
    if k.is_none() {
        errors.push((
            field,
            "INVALID_VALUE",
            format!("{raw:?} is not full, files or database"),
        ));
    }
    k
}

/// Backs one of the tenant's sites up: answers 202 with the backup (`pending`) and its
/// operation (follow it at `GET /api/v1/operations/{id}` or its `/events` stream).
#[utoipa::path(post, path = "/api/v1/sites/{id}/backups", tag = "backups", security(("bearer" = [])),
    request_body = CreateBackupRequest,
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 202, description = "Accepted: the backup and its operation", body = BackupAccepted),
        (status = 403, description = "`FORBIDDEN` (a viewer), `INSUFFICIENT_ABILITY` (a read-only token), `STORAGE_LIMIT_EXCEEDED` (with `used_bytes` and `limit_bytes`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such site in your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE` (the site is creating, failed or deleting), `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: kind", body = Problem, content_type = "application/problem+json")))]
#[post("/sites/{id}/backups")]
pub async fn create_backup(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<CreateBackupRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let ctx = auth.tenant()?;
    let site = site_id(&path)?;
    let mut errors = Vec::new();
    let k = kind(body.0.kind.as_deref(), "kind", &mut errors);
    if body.0.kind.is_none() {
        errors.push(("kind", "REQUIRED", "full, files or database".into()));
    }
    let Some(k) = k.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(ApiError::field_errors(errors)));
    };
    let (backup, op) = services
        .backups
        .create_backup(ctx, site, k, current_request_id())
        .await?;
    Ok(HttpResponse::Accepted().json(BackupAccepted::new(&backup, &op)))
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BackupQuery {
    /// Only this site's (404 when it is not one of your tenant's).
    pub site_id: Option<String>,
    /// `full`, `files` or `database`.
    pub kind: Option<String>,
    /// `pending`, `running`, `completed`, `failed` or `expired`.
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

/// The tenant's backups, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups", security(("bearer" = [])), params(BackupQuery),
    responses(
        (status = 200, description = "A page of backups", body = BackupList),
        (status = 404, description = "`NOT_FOUND`: `site_id` names no site of your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad filter", body = Problem, content_type = "application/problem+json")))]
#[get("/backups")]
pub async fn list_backups(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<BackupQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let ctx = auth.tenant()?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let kind = kind(q.kind.as_deref(), "kind", &mut errors);
    let status = q.status.as_deref().and_then(|s| {
        BackupStatus::parse(s)
            .map_err(|_| {
                errors.push((
                    "status",
                    "INVALID_VALUE",
                    format!("{s:?} is not a backup status"),
                ))
            })
            .ok()
    });
    // A site id that does not parse names no site of the tenant: 404, like a foreign one.
    let site = q.site_id.as_deref().map(site_id).transpose()?;
    let mut errors = ApiError::field_errors(errors);
    let page = Page::<BackupId>::collect(q.cursor.as_deref(), q.limit, &mut errors);
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let filter = BackupFilter {
        site_id: site,
        kind,
        status,
    };
    let backups = services
        .backups
        .backups(ctx, &filter, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(BackupList {
        meta: PageMeta::after(&backups, page.limit, |b| b.id.to_string()),
        data: backups.iter().map(BackupView::from).collect(),
    }))
}

/// The tenant's backup named by `path`, for a token that may read.
async fn readable(
    auth: &Auth,
    services: &Services,
    path: &str,
) -> Result<chom_backup::Backup, ApiError> {
    auth.require(Ability::Read)?;
    Ok(services
        .backups
        .backup(auth.tenant()?, backup_id(path)?)
        .await?)
}

/// One of the tenant's backups.
#[utoipa::path(get, path = "/api/v1/backups/{id}", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 200, description = "The backup", body = BackupResponse),
        (status = 404, description = "`NOT_FOUND`: no such backup in your tenant", body = Problem, content_type = "application/problem+json")))]
#[get("/backups/{id}")]
pub async fn get_backup(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let backup = readable(&auth, &services, &path).await?;
    Ok(HttpResponse::Ok().json(BackupResponse {
        data: BackupView::from(&backup),
    }))
}

/// The last verified restore of one of the tenant's backups: restored off its server by the
/// daily `backup::verify` job and checked against its manifest (every file's SHA-256, each
/// table's rows, the repository's data). `not_verified` until the job has tried it.
#[utoipa::path(get, path = "/api/v1/backups/{id}/verification", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 200, description = "Its verification", body = BackupVerificationResponse),
        (status = 404, description = "`NOT_FOUND`: no such backup in your tenant", body = Problem, content_type = "application/problem+json")))]
#[get("/backups/{id}/verification")]
pub async fn get_backup_verification(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let backup = readable(&auth, &services, &path).await?;
    Ok(HttpResponse::Ok().json(BackupVerificationResponse {
        data: BackupVerificationState::from(&backup),
    }))
}

/// Deletes one of the tenant's backups (admins and owners): it is `expired` at once, no longer
/// restorable nor counted against the plan; its data leaves the repository at the next
/// pruning. A pending or running backup cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/backups/{id}", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 200, description = "The backup, now expired", body = BackupResponse),
        (status = 403, description = "`FORBIDDEN` (below admin), `INSUFFICIENT_ABILITY` (a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such backup in your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`BACKUP_NOT_COMPLETED`: it is still pending or running", body = Problem, content_type = "application/problem+json")))]
#[delete("/backups/{id}")]
pub async fn delete_backup(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let backup = services
        .backups
        .delete_backup(auth.tenant()?, backup_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(BackupResponse {
        data: BackupView::from(&backup),
    }))
}

/// How to open the site's backup repository with the stock `restic`, without CHOM: its
/// location (carrying the site's append-only credential: it lists, reads and adds, never
/// deletes) and its password. Needs a token with `read:sensitive` and an admin or owner;
/// counted against the tenant's sensitive-operation budget; audited.
#[utoipa::path(get, path = "/api/v1/sites/{id}/backup-repository", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The repository", body = RepositoryResponse),
        (status = 403, description = "`FORBIDDEN` (below admin), `INSUFFICIENT_ABILITY` (the token lacks `read:sensitive`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such site in your tenant", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/backup-repository")]
pub async fn get_backup_repository(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::ReadSensitive)?;
    let ctx = auth.tenant()?;
    crate::ratelimit::sensitive_for(&services, ctx, chom_team::Action::ManageBackups).await?;
    let access = services
        .backups
        .repository_access(ctx, site_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(RepositoryResponse {
        data: RepositoryView {
            location: access.location,
            password: access.password,
        },
    }))
}

/// A binary download.
#[derive(Debug, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Archive(pub Vec<u8>);

/// `?part=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// `files` (the default) or `database`.
    pub part: Option<String>,
}

/// One part of a completed backup as a tar archive (`files`: the site's tree; `database`: the
/// dump), decrypted on the fly and streamed with its `Content-Length` and SHA-256
/// (`Repr-Digest`, RFC 9530, and `X-Checksum-Sha256` in hex) in the headers: the archive is
/// read once for them, then again as it is sent, checked against them (should it read
/// differently, the transfer breaks before its last bytes: never a complete archive the
/// headers do not describe). Also check it against the backup's manifest (`restic` with
/// `GET /sites/{id}/backup-repository`). Admins and owners, a token with `read:sensitive`, the
/// sensitive-operation budget; audited.
#[utoipa::path(get, path = "/api/v1/backups/{id}/download", tag = "backups", security(("bearer" = [])),
    params(("id" = String, Path, description = "Backup id"), DownloadQuery),
    responses(
        (status = 200, description = "The tar archive (`Content-Disposition` names it `….tar`)", content_type = "application/octet-stream", body = Archive,
            headers(
                ("Repr-Digest" = String, description = "`sha-256=:<base64>:`, the archive's SHA-256 (RFC 9530)"),
                ("X-Checksum-Sha256" = String, description = "The archive's SHA-256, lower-case hex (`sha256sum`)"))),
        (status = 403, description = "`FORBIDDEN` (below admin), `INSUFFICIENT_ABILITY` (the token lacks `read:sensitive`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such backup in your tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`BACKUP_NOT_COMPLETED`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: `part` (`INVALID_VALUE`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`SERVER_ERROR`: the archive cannot be produced", body = Problem, content_type = "application/problem+json")))]
#[get("/backups/{id}/download")]
pub async fn download_backup(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, ApiError> {
    use futures::StreamExt as _;
    auth.require(Ability::ReadSensitive)?;
    let ctx = auth.tenant()?;
    let id = backup_id(&path)?;
    let part = query.into_inner().part.unwrap_or_else(|| "files".into());
    if part != "files" && part != "database" {
        return Err(ApiError::validation(ApiError::field_errors(vec![(
            "part",
            "INVALID_VALUE",
            "files or database".into(),
        )])));
    }
    crate::ratelimit::sensitive_for(&services, ctx, chom_team::Action::ManageBackups).await?;
    let download = services.backups.download(ctx, id, &part).await?;
    let body = download.stream.map(|chunk| {
        chunk
            .map(actix_web::web::Bytes::from)
            .map_err(std::io::Error::other)
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", download.file_name),
        ))
        .insert_header((
            "Repr-Digest",
            format!(
                "sha-256=:{}:",
                data_encoding::BASE64.encode(&download.sha256)
            ),
        ))
        .insert_header((
            "X-Checksum-Sha256",
            data_encoding::HEXLOWER.encode(&download.sha256),
        ))
        .no_chunking(download.length)
        .streaming(body))
}
