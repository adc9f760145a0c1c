//! What the backup context needs from storage. Reads of tenant data take the tenant and never
//! return another tenant's row; writes take the unit of work they belong to.

use crate::model::BackupSchedule;
use async_trait::async_trait;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{SiteId, StoreError, TenantId};

/// Site backup schedules.
#[async_trait]
pub trait ScheduleRepository: Send + Sync {
    /// The tenant's live (not deleted) site `site` exists. Read inside `uow` so a schedule is
    /// only saved for a site the same transaction saw.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn site_exists(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<bool, StoreError>;

    /// The saved schedule of the tenant's site; `None` when it never saved one (or the site is
    /// another tenant's).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_schedule(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<Option<BackupSchedule>, StoreError>;

    /// Inserts or replaces the schedule of the tenant's site.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn put_schedule(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        schedule: &BackupSchedule,
    ) -> Result<(), StoreError>;
}
