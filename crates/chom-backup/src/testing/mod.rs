//! An in-memory fake of the backup ports, for the service's unit tests: a store whose units of
//! work write a private copy of the state, made visible on commit.

use crate::model::BackupSchedule;
use crate::ports::{ScheduleRepository, ScheduledSite};
use async_trait::async_trait;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork, downcast_uow};
use chom_kernel::{JobId, SiteId, StoreError, TenantId};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the fake stores.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// Live sites and their tenant.
    pub(crate) sites: BTreeMap<SiteId, TenantId>,
    pub(crate) schedules: BTreeMap<SiteId, (TenantId, BackupSchedule)>,
    pub(crate) commits: usize,
}

pub(crate) type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A unit of work over a copy of the state.
#[derive(Debug)]
pub(crate) struct FakeUnitOfWork {
    shared: Shared,
    state: State,
}

#[async_trait]
impl UnitOfWork for FakeUnitOfWork {
    async fn enqueue(&mut self, _job: NewJob) -> Result<Option<JobId>, StoreError> {
        Ok(Some(JobId::new()))
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let mut state = self.state;
        state.commits += 1;
        *lock(&self.shared) = state;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The store and the repository over one shared state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fake(pub(crate) Shared);

impl Fake {
    pub(crate) fn add_site(&self, tenant: TenantId) -> SiteId {
        let site = SiteId::new();
        lock(&self.0).sites.insert(site, tenant);
        site
    }

    pub(crate) fn state(&self) -> State {
        lock(&self.0).clone()
    }
}

#[async_trait]
impl Store for Fake {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        Ok(Box::new(FakeUnitOfWork {
            shared: Arc::clone(&self.0),
            state: lock(&self.0).clone(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

fn in_unit(uow: &mut dyn UnitOfWork) -> Result<&mut State, StoreError> {
    Ok(&mut downcast_uow::<FakeUnitOfWork>(uow)?.state)
}

#[async_trait]
impl ScheduleRepository for Fake {
    async fn site_exists(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<bool, StoreError> {
        Ok(in_unit(uow)?.sites.get(&site) == Some(&tenant))
    }

    async fn get_schedule(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<Option<BackupSchedule>, StoreError> {
        Ok(lock(&self.0)
            .schedules
            .get(&site)
            .filter(|(owner, _)| *owner == tenant)
            .map(|(_, s)| s.clone()))
    }

    async fn enabled_schedules(&self) -> Result<Vec<ScheduledSite>, StoreError> {
        // No backups in this fake: none was made.
        Ok(lock(&self.0)
            .schedules
            .values()
            .filter(|(_, s)| s.enabled)
            .map(|(t, s)| ScheduledSite {
                tenant_id: *t,
                schedule: s.clone(),
                last_scheduled: None,
                last_completed: None,
            })
            .collect())
    }

    async fn put_schedule(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        schedule: &BackupSchedule,
    ) -> Result<(), StoreError> {
        in_unit(uow)?
            .schedules
            .insert(schedule.site_id, (tenant, schedule.clone()));
        Ok(())
    }
}
