//! sqlx errors → `StoreError`.

use chom_kernel::StoreError;

/// Maps a driver error to the kernel's vocabulary.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // SQLite names no constraint; its message does ("UNIQUE constraint failed: users.email").
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            StoreError::Conflict(
                db.constraint()
                    .map_or_else(|| db.message().to_owned(), ToOwned::to_owned),
            )
        }
        // L16: still locked after `busy_timeout` (SQLITE_BUSY 5, SQLITE_LOCKED 6, and their
        // extended codes): a retry later may pass, so 503 rather than 500.
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
        {
            StoreError::Unavailable(anyhow::anyhow!("database busy: {}", db.message()))
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.into()),
        e => StoreError::Unexpected(e.into()),
    }
}
