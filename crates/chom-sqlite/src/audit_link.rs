//! SQLite links each audit entry as it appends it (its units of work hold the single write
//! lock): nothing is ever pending. PostgreSQL's linker is `chom_postgres`'s `audit_link`.

use chom_kernel::StoreError;

/// Nothing to link.
///
/// # Errors
/// None.
#[allow(
    clippy::unused_async,
    reason = "the same signature as PostgreSQL's linker"
)]
pub(crate) async fn link_pending(_pool: &sqlx::SqlitePool) -> Result<usize, StoreError> {
    Ok(0)
}
