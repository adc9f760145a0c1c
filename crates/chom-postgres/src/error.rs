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
        // L16: the server is going away or not taking connections (admin shutdown, crash
        // shutdown, cannot connect now, starting up, too many connections, connection
        // exceptions), or a statement ran past `statement_timeout` (57014): a retry later may
        // pass, so 503 rather than 500.
        sqlx::Error::Database(db) if db.code().as_deref().is_some_and(transient_code) => {
            StoreError::Unavailable(anyhow::anyhow!("database unavailable: {}", db.message()))
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.into()),
        e => StoreError::Unexpected(e.into()),
    }
}

/// SQLSTATEs of a server that cannot serve now (class 08, 57P01–57P05, 53300, 57014).
fn transient_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "53300" | "57014"
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn l16_shutdown_and_connection_codes_are_transient() {
        for code in ["57P01", "57P03", "08006", "08001", "53300", "57014"] {
            assert!(super::transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "22001"] {
            assert!(!super::transient_code(code), "{code}");
        }
    }
}
