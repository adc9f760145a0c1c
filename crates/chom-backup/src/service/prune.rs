//! The pruning job: each site's completed backups past its plan's retention become `expired`
//! (records first: they stop being restorable and counted at once), then the snapshots of
//! expired and failed backups leave the repository (`forget --prune` with the control plane's
//! full credential, never a server's). A repository that cannot be pruned now is tried again
//! at the next run; its records stay marked so.

use super::Backups;
use crate::model::retention::{self, Policy};
use crate::model::{Backup, BackupStatus};
use crate::repository::Access;
use chom_kernel::{SiteId, StoreError, TenantId};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// The daily job that applies retention.
pub const PRUNE_BACKUPS: &str = "backup::prune";

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Backups that became expired.
    pub expired: usize,
    /// Backups whose snapshots left their repository.
    pub forgotten: usize,
    /// Repositories that could not be pruned (tried again next run).
    pub failed: usize,
}

impl Backups {
    /// The retention of `tenant`'s plan (7 days and 7 daily without one).
    pub(super) async fn policy(&self, tenant: TenantId) -> Result<Policy, StoreError> {
        let plan = self.plan_of(tenant).await?;
        Ok(plan.map_or(
            Policy {
                days: 7,
                daily: 7,
                weekly: 0,
                monthly: 0,
            },
            |p| Policy {
                days: i64::from(p.backup_retention_days),
                daily: usize::try_from(p.keep_daily).unwrap_or(0),
                weekly: usize::try_from(p.keep_weekly).unwrap_or(0),
                monthly: usize::try_from(p.keep_monthly).unwrap_or(0),
            },
        ))
    }

    /// Applies retention at `now` (the job passes the clock; tests pass theirs).
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "backups.prune", skip(self))]
    pub async fn prune(&self, now: OffsetDateTime) -> Result<Pruned, StoreError> {
        let work = self.work()?;
        let mut done = Pruned::default();
        let mut by_site: BTreeMap<(TenantId, SiteId), Vec<Backup>> = BTreeMap::new();
        for b in work.backups.completed_backups().await? {
            by_site.entry((b.tenant_id, b.site_id)).or_default().push(b);
        }
        let mut policies: HashMap<TenantId, Policy> = HashMap::new();
        for ((tenant, _), backups) in by_site {
            let policy = match policies.get(&tenant) {
                Some(p) => *p,
                None => {
                    let p = self.policy(tenant).await?;
                    policies.insert(tenant, p);
                    p
                }
            };
            let stamps: Vec<_> = backups.iter().map(|b| (b.id, b.created_at)).collect();
            let keep = retention::kept(&stamps, now, policy);
            for mut b in backups.into_iter().filter(|b| !keep.contains(&b.id)) {
                b.status = BackupStatus::Expired;
                let mut uow = self.ports.store.begin().await?;
                work.backups.save_backup(uow.as_mut(), &b).await?;
                uow.commit().await?;
                done.expired += 1;
            }
        }
        if work.repositories.public_url().is_empty() {
            tracing::warn!("backup.public_url unknown here: repositories are not pruned");
            return Ok(done);
        }
        let mut forget: BTreeMap<(TenantId, SiteId), Vec<Backup>> = BTreeMap::new();
        for b in work.backups.unforgotten_backups().await? {
            forget.entry((b.tenant_id, b.site_id)).or_default().push(b);
        }
        for ((tenant, site), backups) in forget {
            let password = match self.repository_password(tenant, site).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%site, error = %e, "repository password unavailable");
                    done.failed += 1;
                    continue;
                }
            };
            let access = work.repositories.access(site, Access::Full, password);
            let ids: Vec<String> = backups.iter().map(Backup::tag).collect();
            match work.maintenance.forget(&access, &ids).await {
                Ok(()) => {
                    for b in &backups {
                        work.backups.mark_forgotten(tenant, b.id, now).await?;
                        done.forgotten += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(%site, error = %e, "repository not pruned; next run retries");
                    done.failed += 1;
                }
            }
        }
        Ok(done)
    }
}
