//! How this backend stores ids, times and booleans, and locks rows: the repositories under
//! `src/shared/` are written once against these names, and `chom-sqlite` has the same names
//! with its own storage (ADR 0006).

use crate::error::map_err;
use chom_kernel::StoreError;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// The database.
pub type Db = sqlx::Postgres;
/// The row type.
pub type DbRow = PgRow;
/// The stored id type.
pub type DbId = Uuid;
/// The stored time type.
pub type DbTime = OffsetDateTime;

/// An id to bind.
pub fn id(u: Uuid) -> DbId {
    u
}

/// A time to bind.
pub fn ts(t: OffsetDateTime) -> DbTime {
    t
}

/// Reads an id column.
pub fn get_id(row: &DbRow, col: &str) -> Result<Uuid, StoreError> {
    row.try_get(col).map_err(map_err)
}

/// Reads a nullable id column.
pub fn get_opt_id(row: &DbRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    row.try_get(col).map_err(map_err)
}

/// Reads a time column.
pub fn get_ts(row: &DbRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    row.try_get(col).map_err(map_err)
}

/// Reads a nullable time column.
pub fn get_opt_ts(row: &DbRow, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get(col).map_err(map_err)
}

/// Reads any other column.
pub fn get<'r, T>(row: &'r DbRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(map_err)
}

/// An audit append is one narrow insert into `audit_inbox`; the linker chains it after commit
/// (`crate::audit_link`, ADR 0010).
pub const AUDIT_INBOX: bool = true;

/// Locks an organization's row for the rest of the transaction (serialises role changes).
pub async fn lock_organization(conn: &mut sqlx::PgConnection, org: Uuid) -> Result<(), StoreError> {
    lock_row(conn, "organizations", org).await
}

/// Locks the row `id` of `table` (a constant of the caller) for the rest of the transaction.
pub async fn lock_row(
    conn: &mut sqlx::PgConnection,
    table: &'static str,
    id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}
