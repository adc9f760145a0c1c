//! What the backup use cases return; the HTTP area maps each to a status and a stable code.

use crate::model::FieldError;
use chom_kernel::StoreError;

/// Backup use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No such site (or backup) in the caller's tenant: foreign and unknown ids alike.
    #[error("not found")]
    NotFound,
    /// The caller's role may not do this.
    #[error("the {0} role does not allow this")]
    Forbidden(&'static str),
    /// Invalid fields, each with a stable code.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The site cannot be backed up or restored in its state (creating, failed, deleting).
    #[error("not possible while the site is {0}")]
    SiteNotReady(&'static str),
    /// Another operation runs on the site.
    #[error("operation {0} is still running on this site")]
    Busy(chom_kernel::OperationId),
    /// The backup is not completed (pending, running, failed, expired).
    #[error("the backup is {0}")]
    NotCompleted(&'static str),
    /// The plan's storage would be exceeded.
    #[error("the plan allows {limit_bytes} bytes of backups and the tenant uses {used_bytes}")]
    StorageLimitExceeded {
        /// Bytes in use (backups' added bytes plus the site's measured size).
        used_bytes: i64,
        /// The plan's limit.
        limit_bytes: i64,
    },
    /// The server could not answer (a dry run asks it at once).
    #[error("{0}")]
    Server(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}
