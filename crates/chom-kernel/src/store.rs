//! Storage ports: a `Store` hands out `UnitOfWork`s, one database transaction each.
//!
//! A use case that changes state and needs background work opens one unit of work, lets the
//! context repositories write into it, enqueues the job into the same unit and commits: the job
//! exists if and only if the state change does (no lost jobs, no phantom jobs).
//!
//! Context repositories are separate ports owned by their context; their adapter downcasts the
//! unit of work to its own transaction type with [`UnitOfWork::as_any_mut`]. Mixing backends is
//! a wiring bug, reported as `StoreError::Unexpected`.

use crate::error::StoreError;
use crate::ids::JobId;
use crate::jobs::NewJob;
use async_trait::async_trait;
use std::any::Any;

/// One transaction. Dropped without `commit`, it rolls back.
#[async_trait]
pub trait UnitOfWork: Send {
    /// Enqueues a job inside this transaction.
    ///
    /// Returns `None` when the job carries a unique key that already exists (the periodic job
    /// of that window is already there).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached, `Unexpected` otherwise.
    async fn enqueue(&mut self, job: NewJob) -> Result<Option<JobId>, StoreError>;

    /// Makes every write of this unit durable and visible, atomically.
    ///
    /// # Errors
    /// `Conflict` on a deferred constraint, `Unavailable`, `Unexpected`.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Discards every write of this unit.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;

    /// For adapters: the concrete transaction behind this unit.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Downcasts a unit of work to an adapter's transaction type.
///
/// # Errors
/// `Unexpected` when the unit comes from another backend (a wiring bug).
pub fn downcast_uow<T: 'static>(uow: &mut dyn UnitOfWork) -> Result<&mut T, StoreError> {
    uow.as_any_mut().downcast_mut::<T>().ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!(
            "unit of work is not a {}: repositories and store come from different backends",
            std::any::type_name::<T>()
        ))
    })
}

/// The database: begins units of work and answers health checks.
#[async_trait]
pub trait Store: Send + Sync {
    /// Begins a transaction.
    ///
    /// # Errors
    /// `Unavailable` when no connection can be had in time.
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError>;

    /// A cheap round trip, for readiness checks.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    async fn ping(&self) -> Result<(), StoreError>;

    /// `"postgres"` or `"sqlite"`, for logs and metrics.
    fn backend(&self) -> &'static str;
}
