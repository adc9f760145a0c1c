//! `/api/v1/sites/{id}/backup-schedule`: the backup context's HTTP area (today, each site's
//! backup schedule). Every lookup is scoped to the caller's tenant: a foreign id is 404.

use crate::error::ApiError;
use chom_backup::BackupError;
use chom_kernel::SiteId;
use utoipa_actix_web::service_config::ServiceConfig;

mod schedule;
mod views;

pub use schedule::*;
pub use views::*;

/// Serves this area's handlers and documents them (see [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_backup_schedule)
        .service(put_backup_schedule);
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::NotFound => Self::not_found("no such site"),
            e @ BackupError::Forbidden(_) => Self::forbidden(e.to_string()),
            BackupError::Invalid(errors) => Self::validation(Self::field_errors(errors)),
            BackupError::Store(s) => s.into(),
        }
    }
}

/// A site id from the path; an id that does not parse is as unknown as a foreign one.
fn site_id(raw: &str) -> Result<SiteId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such site"))
}
