//! How this backend stores ids (UUID text), times (Unix milliseconds) and booleans (0/1), and
//! locks rows: the same names as `chom-postgres/src/codec.rs`, which the repositories generated
//! from `chom-postgres/src/shared/` are written against (ADR 0006).

use crate::error::map_err;
use chom_kernel::StoreError;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// The database.
pub type Db = sqlx::Sqlite;
/// The row type.
pub type DbRow = SqliteRow;
/// The stored id type.
pub type DbId = String;
/// The stored time type.
pub type DbTime = i64;

/// An id to bind.
pub fn id(u: Uuid) -> DbId {
    u.to_string()
}

/// A time to bind.
pub fn ts(t: OffsetDateTime) -> DbTime {
    crate::queue::ms(t)
}

fn parse_id(s: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(s).map_err(|e| StoreError::Unexpected(anyhow::anyhow!("bad id {s:?}: {e}")))
}

fn from_ms(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("bad timestamp {v}: {e}")))
}

/// Reads an id column.
pub fn get_id(row: &DbRow, col: &str) -> Result<Uuid, StoreError> {
    parse_id(&row.try_get::<String, _>(col).map_err(map_err)?)
}

/// Reads a nullable id column.
pub fn get_opt_id(row: &DbRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    row.try_get::<Option<String>, _>(col)
        .map_err(map_err)?
        .map(|s| parse_id(&s))
        .transpose()
}

/// Reads a time column.
pub fn get_ts(row: &DbRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    from_ms(row.try_get(col).map_err(map_err)?)
}

/// Reads a nullable time column.
pub fn get_opt_ts(row: &DbRow, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(map_err)?
        .map(from_ms)
        .transpose()
}

/// Reads any other column.
pub fn get<'r, T>(row: &'r DbRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(map_err)
}

/// An audit append links the entry as it goes, in Rust (under the single write lock nothing
/// waits for a chain that is not already waiting for the database; the round trips are local).
pub const AUDIT_INBOX: bool = false;

/// SQLite units of work hold the database's single write lock (`BEGIN IMMEDIATE`): role
/// changes are already serialised.
#[allow(
    clippy::unused_async,
    reason = "same signature as the PostgreSQL codec"
)]
pub async fn lock_organization(
    _conn: &mut sqlx::SqliteConnection,
    _org: DbId,
) -> Result<(), StoreError> {
    Ok(())
}

/// Row locks are the database's single write lock here (`BEGIN IMMEDIATE`).
#[allow(
    clippy::unused_async,
    reason = "same signature as the PostgreSQL codec"
)]
pub async fn lock_row(
    _conn: &mut sqlx::SqliteConnection,
    _table: &'static str,
    _id: DbId,
) -> Result<(), StoreError> {
    Ok(())
}
