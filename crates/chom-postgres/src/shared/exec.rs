//! Running a statement and mapping its rows, written once: the sqlx tail (fetch, map the driver
//! error, map each row) that every repository method ends with, the unit-of-work downcast, and
//! the "exactly one row" rule.

use crate::codec::{Db, DbRow};
use crate::error::map_err;
use crate::store::PgUnitOfWork;
use chom_kernel::StoreError;
use chom_kernel::store::{UnitOfWork, downcast_uow};

/// A statement with its bound arguments (`sqlx::query(..).bind(..)`).
pub(crate) type Query = sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments>;

/// This backend's transaction behind a unit of work (ADR 0003).
pub(crate) fn tx(uow: &mut dyn UnitOfWork) -> Result<&mut PgUnitOfWork, StoreError> {
    downcast_uow::<PgUnitOfWork>(uow)
}

/// A row that does not map back to the domain (a value the domain refuses).
pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("corrupt row: {e}"))
}

/// The first row of `query` on `exec`, mapped by `row`; `None` when there is none.
pub(crate) async fn fetch_opt<'c, E, T>(
    query: Query,
    exec: E,
    row: impl FnOnce(&DbRow) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    let found = query.fetch_optional(exec).await.map_err(map_err)?;
    found.as_ref().map(row).transpose()
}

/// The one row `query` returns (an aggregate), mapped by `row`.
pub(crate) async fn fetch_one<'c, E, T>(
    query: Query,
    exec: E,
    row: impl FnOnce(&DbRow) -> Result<T, StoreError>,
) -> Result<T, StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    row(&query.fetch_one(exec).await.map_err(map_err)?)
}

/// Every row of `query` on `exec`, each mapped by `row`.
pub(crate) async fn fetch_all<'c, E, T>(
    query: Query,
    exec: E,
    row: impl Fn(&DbRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    let rows = query.fetch_all(exec).await.map_err(map_err)?;
    rows.iter().map(row).collect()
}

/// Runs `query` on `exec`; the number of rows it touched.
pub(crate) async fn execute<'c, E>(query: Query, exec: E) -> Result<u64, StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    Ok(query.execute(exec).await.map_err(map_err)?.rows_affected())
}

/// Runs `query` on `exec`: `NotFound` unless it touched a row.
pub(crate) async fn execute_one<'c, E>(query: Query, exec: E) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    one(execute(query, exec).await?)
}

/// `NotFound` unless a statement touched a row.
pub(crate) fn one(affected: u64) -> Result<(), StoreError> {
    if affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
