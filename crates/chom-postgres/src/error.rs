//! sqlx errors → `StoreError`.

use chom_kernel::StoreError;

/// Maps a driver error to the kernel's vocabulary.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            StoreError::Conflict(db.constraint().unwrap_or("unknown").to_owned())
        }
        // A deadlock or serialization failure: the transaction was rolled back; a retry may pass.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
            StoreError::Unavailable(anyhow::anyhow!("transaction aborted: {}", db.message()))
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.into()),
        e => StoreError::Unexpected(e.into()),
    }
}
