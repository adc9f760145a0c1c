//! Ports of the site-hosting context.

use crate::model::{Operation, Site, SiteStatus};
use async_trait::async_trait;
use chom_agent_protocol::SiteType;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{JobId, OperationId, SiteId, StoreError, TenantId, VpsId};
use time::OffsetDateTime;

/// How many live sites a server holds, and whether one of them has the domain being placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpsLoad {
    /// The server.
    pub vps_id: VpsId,
    /// Live sites on it (including ones being created or deleted).
    pub sites: i64,
    /// It already serves the domain (for another tenant): the agent's names would collide.
    pub hosts_domain: bool,
}

/// A page of a tenant's sites.
#[derive(Debug, Clone, Default)]
pub struct SiteFilter {
    /// Only this status.
    pub status: Option<SiteStatus>,
    /// Only this type.
    pub site_type: Option<SiteType>,
    /// Domain contains this (lower case).
    pub search: Option<String>,
    /// Sites created before this one (newest first).
    pub before: Option<SiteId>,
    /// Page size.
    pub limit: i64,
}

/// Storage of sites and operations. Every read of a tenant's data takes the tenant.
#[async_trait]
pub trait SiteRepository: Send + Sync {
    /// Locks the tenant for the rest of the unit (serialises its creations: quota).
    ///
    /// # Errors
    /// `NotFound`.
    async fn lock_tenant(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
    ) -> Result<(), StoreError>;

    /// Live sites of the tenant.
    ///
    /// # Errors
    /// Storage.
    async fn count_sites(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
    ) -> Result<i64, StoreError>;

    /// Whether a live site of any tenant already answers for this domain: the same name, or
    /// one of the two is the other's `www.` alias (each vhost serves both). Domains are global:
    /// two tenants' vhosts must never claim one name (L13).
    ///
    /// # Errors
    /// Storage.
    async fn domain_taken(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<bool, StoreError>;

    /// Every server's load, for placement.
    ///
    /// # Errors
    /// Storage.
    async fn vps_loads(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<Vec<VpsLoad>, StoreError>;

    /// Locks the server's row for the rest of the unit and counts its live sites again: two
    /// creations cannot both take its last slot.
    ///
    /// # Errors
    /// `NotFound`.
    async fn lock_vps_load(&self, uow: &mut dyn UnitOfWork, vps: VpsId) -> Result<i64, StoreError>;

    /// Stores a new site.
    ///
    /// # Errors
    /// `Conflict` keyed `UniqueKey::SiteTenantDomain` or `UniqueKey::SiteVpsDomain`.
    async fn insert_site(&self, uow: &mut dyn UnitOfWork, site: &Site) -> Result<(), StoreError>;

    /// Saves a site's mutable fields.
    ///
    /// # Errors
    /// `NotFound`.
    async fn update_site(&self, uow: &mut dyn UnitOfWork, site: &Site) -> Result<(), StoreError>;

    /// A live site of the tenant.
    ///
    /// # Errors
    /// Storage.
    async fn get_site(&self, tenant: TenantId, id: SiteId) -> Result<Option<Site>, StoreError>;

    /// A live site of the tenant, locked for the rest of the unit.
    ///
    /// # Errors
    /// Storage.
    async fn lock_site(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: SiteId,
    ) -> Result<Option<Site>, StoreError>;

    /// A page of the tenant's live sites, newest first.
    ///
    /// # Errors
    /// Storage.
    async fn list_sites(
        &self,
        tenant: TenantId,
        filter: &SiteFilter,
    ) -> Result<Vec<Site>, StoreError>;

    /// Live sites with a certificate expiring before `before`, every tenant (renewal sweep).
    ///
    /// # Errors
    /// Storage.
    async fn ssl_expiring(&self, before: OffsetDateTime) -> Result<Vec<Site>, StoreError>;

    /// Every live site, every tenant (system jobs), in id order after `after`.
    ///
    /// # Errors
    /// Storage.
    async fn live_sites(&self, after: Option<SiteId>, limit: i64) -> Result<Vec<Site>, StoreError>;

    /// Stores a new operation and the job carrying it out.
    ///
    /// # Errors
    /// Storage.
    async fn insert_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
        job: Option<JobId>,
    ) -> Result<(), StoreError>;

    /// Records a site's measured disk usage (no-op for a site deleted meanwhile).
    ///
    /// # Errors
    /// Storage.
    async fn record_storage(
        &self,
        tenant: TenantId,
        site: SiteId,
        mb: i64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Pending or running operations whose job is no longer queued or running (it died, or
    /// vanished): nothing will finish them. Every tenant (the reaper).
    ///
    /// # Errors
    /// Storage.
    async fn abandoned_operations(&self, limit: i64) -> Result<Vec<Operation>, StoreError>;

    /// Saves an operation's progress. An operation that already ended (succeeded, or failed by
    /// the reaper) is never written again.
    ///
    /// # Errors
    /// `NotFound` (no such operation, or it already ended).
    async fn save_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
    ) -> Result<(), StoreError>;

    /// An operation of the tenant.
    ///
    /// # Errors
    /// Storage.
    async fn get_operation(
        &self,
        tenant: TenantId,
        id: OperationId,
    ) -> Result<Option<Operation>, StoreError>;

    /// The site's operations, newest first, created before `before` when given.
    ///
    /// # Errors
    /// Storage.
    async fn list_operations(
        &self,
        tenant: TenantId,
        site: SiteId,
        before: Option<OperationId>,
        limit: i64,
    ) -> Result<Vec<Operation>, StoreError>;

    /// The site's pending or running operation, if any.
    ///
    /// # Errors
    /// Storage.
    async fn active_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        site: SiteId,
    ) -> Result<Option<OperationId>, StoreError>;
}
