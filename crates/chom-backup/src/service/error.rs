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
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}
