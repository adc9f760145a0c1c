//! The pool, migrations and units of work.

use crate::error::map_err;
use crate::queue::{PgJobQueue, enqueue_in};
use async_trait::async_trait;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork};
use chom_kernel::{JobId, StoreError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::any::Any;
use std::str::FromStr;
use std::time::Duration;

/// The PostgreSQL schema, embedded.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool of up to `max_connections`; waits at most 1 s for a connection, so a
    /// database outage answers 503 fast instead of holding every request; statements end
    /// after 30 s (`statement_timeout`), so a frozen query cannot hold a connection for good.
    ///
    /// # Errors
    /// `Unexpected` for a malformed URL, `Unavailable` when the server does not answer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, Duration::from_secs(1)).await
    }

    /// As [`PgStore::connect`], waiting at most `acquire_timeout` for a connection.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("invalid database URL: {e}")))?
            .options([("statement_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    #[must_use]
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// A migration failed or was modified after being applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The job queue on this database.
    #[must_use]
    pub fn queue(&self) -> PgJobQueue {
        PgJobQueue::new(self.pool.clone())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgUnitOfWork { tx }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// One PostgreSQL transaction.
#[derive(Debug)]
pub struct PgUnitOfWork {
    tx: Transaction<'static, Postgres>,
}

impl PgUnitOfWork {
    /// The connection of the transaction, for repositories.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

#[async_trait]
impl UnitOfWork for PgUnitOfWork {
    async fn enqueue(&mut self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        enqueue_in(&mut self.tx, &job).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(map_err)
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(map_err)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
