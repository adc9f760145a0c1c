//! The fake store, its units of work, and the site repository writing into them.

use super::{lock, unsupported};
use crate::model::{Operation, Site};
use crate::ports::{SiteFilter, SiteRepository, VpsLoad};
use async_trait::async_trait;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork, downcast_uow};
use chom_kernel::{Conflict, JobId, OperationId, SiteId, StoreError, TenantId, UniqueKey, VpsId};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// A job enqueued in a committed unit.
#[derive(Debug, Clone)]
pub(crate) struct FakeJob {
    pub(crate) id: JobId,
    pub(crate) job: NewJob,
}

/// Everything the site repository stores.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteState {
    pub(crate) sites: BTreeMap<SiteId, Site>,
    /// Operations and the job carrying each.
    pub(crate) operations: BTreeMap<OperationId, (Operation, Option<JobId>)>,
    pub(crate) jobs: Vec<FakeJob>,
}

impl SiteState {
    fn live(&self, tenant: TenantId, id: SiteId) -> Option<&Site> {
        self.sites
            .get(&id)
            .filter(|s| s.tenant_id == tenant && s.deleted_at.is_none())
    }
}

/// The committed state, shared by the store and the repository.
pub(crate) type Shared = Arc<Mutex<SiteState>>;

/// A unit of work: a private copy of the state until commit.
#[derive(Debug)]
pub(crate) struct FakeUnitOfWork {
    shared: Shared,
    state: SiteState,
}

#[async_trait]
impl UnitOfWork for FakeUnitOfWork {
    async fn enqueue(&mut self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        let id = JobId::new();
        self.state.jobs.push(FakeJob { id, job });
        Ok(Some(id))
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        *lock(&self.shared) = self.state;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Begins [`FakeUnitOfWork`]s over the shared state.
#[derive(Debug, Clone)]
pub(crate) struct FakeStore(pub(crate) Shared);

#[async_trait]
impl Store for FakeStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        let state = lock(&self.0).clone();
        Ok(Box::new(FakeUnitOfWork {
            shared: Arc::clone(&self.0),
            state,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// The site repository: writes go to the unit's copy, reads without a unit see what is
/// committed.
#[derive(Debug, Clone)]
pub(crate) struct FakeSites(pub(crate) Shared);

fn state(uow: &mut dyn UnitOfWork) -> Result<&mut SiteState, StoreError> {
    Ok(&mut downcast_uow::<FakeUnitOfWork>(uow)?.state)
}

fn answers_for(a: &str, b: &str) -> bool {
    a == b || a.strip_prefix("www.") == Some(b) || b.strip_prefix("www.") == Some(a)
}

#[async_trait]
impl SiteRepository for FakeSites {
    async fn lock_tenant(
        &self,
        _uow: &mut dyn UnitOfWork,
        _tenant: TenantId,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn count_sites(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
    ) -> Result<i64, StoreError> {
        let n = state(uow)?
            .sites
            .values()
            .filter(|s| s.tenant_id == tenant && s.deleted_at.is_none())
            .count();
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    async fn domain_taken(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<bool, StoreError> {
        Ok(state(uow)?
            .sites
            .values()
            .any(|s| s.deleted_at.is_none() && answers_for(s.domain.as_str(), domain)))
    }

    async fn vps_loads(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<Vec<VpsLoad>, StoreError> {
        let mut loads: BTreeMap<VpsId, VpsLoad> = BTreeMap::new();
        for s in state(uow)?
            .sites
            .values()
            .filter(|s| s.deleted_at.is_none())
        {
            let load = loads.entry(s.vps_id).or_insert(VpsLoad {
                vps_id: s.vps_id,
                sites: 0,
                hosts_domain: false,
            });
            load.sites += 1;
            load.hosts_domain |= answers_for(s.domain.as_str(), domain);
        }
        Ok(loads.into_values().collect())
    }

    async fn lock_vps_load(&self, uow: &mut dyn UnitOfWork, vps: VpsId) -> Result<i64, StoreError> {
        let n = state(uow)?
            .sites
            .values()
            .filter(|s| s.vps_id == vps && s.deleted_at.is_none())
            .count();
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    async fn insert_site(&self, uow: &mut dyn UnitOfWork, site: &Site) -> Result<(), StoreError> {
        let st = state(uow)?;
        if st.sites.values().any(|s| {
            s.deleted_at.is_none() && s.tenant_id == site.tenant_id && s.domain == site.domain
        }) {
            return Err(StoreError::Conflict(Conflict::on(
                UniqueKey::SiteTenantDomain,
            )));
        }
        st.sites.insert(site.id, site.clone());
        Ok(())
    }

    async fn update_site(&self, uow: &mut dyn UnitOfWork, site: &Site) -> Result<(), StoreError> {
        let st = state(uow)?;
        if st.live(site.tenant_id, site.id).is_none() {
            return Err(StoreError::NotFound);
        }
        st.sites.insert(site.id, site.clone());
        Ok(())
    }

    async fn get_site(&self, tenant: TenantId, id: SiteId) -> Result<Option<Site>, StoreError> {
        Ok(lock(&self.0).live(tenant, id).cloned())
    }

    async fn lock_site(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: SiteId,
    ) -> Result<Option<Site>, StoreError> {
        Ok(state(uow)?.live(tenant, id).cloned())
    }

    async fn list_sites(
        &self,
        tenant: TenantId,
        filter: &SiteFilter,
    ) -> Result<Vec<Site>, StoreError> {
        let st = lock(&self.0);
        let mut sites: Vec<Site> = st
            .sites
            .values()
            .filter(|s| s.tenant_id == tenant && s.deleted_at.is_none())
            .filter(|s| filter.status.is_none_or(|v| s.status == v))
            .filter(|s| filter.site_type.is_none_or(|v| s.site_type == v))
            .filter(|s| {
                filter
                    .search
                    .as_deref()
                    .is_none_or(|q| s.domain.as_str().contains(q))
            })
            .filter(|s| filter.before.is_none_or(|b| s.id < b))
            .cloned()
            .collect();
        sites.sort_by_key(|s| std::cmp::Reverse(s.id));
        sites.truncate(usize::try_from(filter.limit).unwrap_or(0));
        Ok(sites)
    }

    async fn ssl_expiring(&self, before: OffsetDateTime) -> Result<Vec<Site>, StoreError> {
        Ok(lock(&self.0)
            .sites
            .values()
            .filter(|s| s.deleted_at.is_none() && s.ssl_expires_at.is_some_and(|e| e < before))
            .cloned()
            .collect())
    }

    async fn live_sites(&self, after: Option<SiteId>, limit: i64) -> Result<Vec<Site>, StoreError> {
        Ok(lock(&self.0)
            .sites
            .values()
            .filter(|s| s.deleted_at.is_none() && after.is_none_or(|a| s.id > a))
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect())
    }

    async fn insert_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
        job: Option<JobId>,
    ) -> Result<(), StoreError> {
        state(uow)?.operations.insert(op.id, (op.clone(), job));
        Ok(())
    }

    async fn record_storage(
        &self,
        tenant: TenantId,
        site: SiteId,
        mb: i64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut st = lock(&self.0);
        if let Some(s) = st
            .sites
            .get_mut(&site)
            .filter(|s| s.tenant_id == tenant && s.deleted_at.is_none())
        {
            s.storage_used_mb = mb;
            s.updated_at = at;
        }
        Ok(())
    }

    async fn abandoned_operations(&self, _limit: i64) -> Result<Vec<Operation>, StoreError> {
        // The fake keeps no job states: nothing it holds is known to be abandoned.
        Err(unsupported("abandoned_operations"))
    }

    async fn save_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
    ) -> Result<(), StoreError> {
        match state(uow)?.operations.get_mut(&op.id) {
            Some((stored, _))
                if stored.tenant_id == op.tenant_id && !stored.status.is_terminal() =>
            {
                *stored = op.clone();
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn get_operation(
        &self,
        tenant: TenantId,
        id: OperationId,
    ) -> Result<Option<Operation>, StoreError> {
        Ok(lock(&self.0)
            .operations
            .get(&id)
            .map(|(op, _)| op)
            .filter(|op| op.tenant_id == tenant)
            .cloned())
    }

    async fn list_operations(
        &self,
        tenant: TenantId,
        site: SiteId,
        before: Option<OperationId>,
        limit: i64,
    ) -> Result<Vec<Operation>, StoreError> {
        Ok(lock(&self.0)
            .operations
            .values()
            .rev()
            .map(|(op, _)| op)
            .filter(|op| op.tenant_id == tenant && op.site_id == Some(site))
            .filter(|op| before.is_none_or(|b| op.id < b))
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect())
    }

    async fn active_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        site: SiteId,
    ) -> Result<Option<OperationId>, StoreError> {
        Ok(state(uow)?
            .operations
            .values()
            .map(|(op, _)| op)
            .find(|op| op.site_id == Some(site) && !op.status.is_terminal())
            .map(|op| op.id))
    }
}
