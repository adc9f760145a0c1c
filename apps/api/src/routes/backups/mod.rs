//! The backup context's HTTP area: `/api/v1/backups` (list, one, delete),
//! `POST /api/v1/sites/{id}/backups` and `/api/v1/sites/{id}/backup-schedule`. Every lookup is
//! scoped to the caller's tenant: a foreign id is 404.

use crate::error::ApiError;
use actix_web::http::StatusCode;
use chom_backup::BackupError;
use chom_kernel::SiteId;
use utoipa_actix_web::service_config::ServiceConfig;

mod records;
mod restore;
mod schedule;
mod views;

pub use records::*;
pub use restore::*;
pub use schedule::*;
pub use views::*;

/// Serves this area's handlers and documents them (see [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_backup_schedule)
        .service(put_backup_schedule)
        .service(create_backup)
        .service(list_backups)
        .service(get_backup)
        .service(get_backup_verification)
        .service(delete_backup)
        .service(get_backup_repository)
        .service(restore_backup)
        .service(download_backup);
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::NotFound => Self::not_found("no such site or backup in your tenant"),
            e @ BackupError::Forbidden(_) => Self::forbidden(e.to_string()),
            BackupError::Invalid(errors) => Self::validation(Self::field_errors(errors)),
            e @ BackupError::SiteNotReady(_) => {
                Self::new(StatusCode::CONFLICT, "INVALID_STATE", e.to_string())
            }
            e @ BackupError::Busy(_) => {
                Self::new(StatusCode::CONFLICT, "OPERATION_IN_PROGRESS", e.to_string())
            }
            e @ BackupError::NotCompleted(_) => {
                Self::new(StatusCode::CONFLICT, "BACKUP_NOT_COMPLETED", e.to_string())
            }
            e @ BackupError::StorageLimitExceeded {
                used_bytes,
                limit_bytes,
            } => Self::new(
                StatusCode::FORBIDDEN,
                "STORAGE_LIMIT_EXCEEDED",
                e.to_string(),
            )
            .with_extensions(
                [
                    ("used_bytes".to_owned(), used_bytes.into()),
                    ("limit_bytes".to_owned(), limit_bytes.into()),
                ]
                .into_iter()
                .collect(),
            ),
            BackupError::Server(why) => Self::new(StatusCode::BAD_GATEWAY, "SERVER_ERROR", why),
            BackupError::Store(s) => s.into(),
        }
    }
}

/// A backup id from the path; an id that does not parse is as unknown as a foreign one.
fn backup_id(raw: &str) -> Result<chom_kernel::BackupId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such backup"))
}

/// A site id from the path; an id that does not parse is as unknown as a foreign one.
fn site_id(raw: &str) -> Result<SiteId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such site"))
}
