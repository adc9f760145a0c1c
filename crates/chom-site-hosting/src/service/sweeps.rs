//! The periodic jobs: measuring disk usage, failing abandoned operations, renewing
//! certificates that expire soon.

use super::Sites;
use super::error::SiteError;
use super::request::SiteAction;
use crate::model::{Operation, SiteStatus, StepStatus};
use chom_agent_protocol::answers::SiteInfoAnswer;
use chom_agent_protocol::{Answer as _, Command, SiteRef};
use chom_kernel::StoreError;
use time::OffsetDateTime;

impl Sites {
    /// Measures every served site's disk usage on its server (`site.info`) and records it in
    /// MB, rounded up. A server that cannot answer is skipped (its sites keep their last
    /// figure) and counted. Returns (sites measured, sites skipped).
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "sites.measure_storage", skip_all)]
    pub async fn measure_storage(&self) -> Result<(usize, usize), SiteError> {
        const PAGE: i64 = 500;
        let (mut measured, mut skipped) = (0, 0);
        let mut after = None;
        loop {
            let page = self.ports.sites.live_sites(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let full = i64::try_from(page.len()).unwrap_or(PAGE) == PAGE;
            for site in page {
                if !matches!(site.status, SiteStatus::Active | SiteStatus::Disabled) {
                    continue;
                }
                let report = self
                    .ports
                    .fleet
                    .run(
                        site.vps_id,
                        Command::SiteInfo(SiteRef {
                            domain: site.domain.clone(),
                        }),
                    )
                    .await;
                let Some(bytes) = report
                    .as_ref()
                    .ok()
                    .and_then(|r| SiteInfoAnswer::read(r).ok())
                    .and_then(|a| a.disk_usage_bytes)
                else {
                    if let Err(e) = report {
                        tracing::warn!(site = %site.id, error = %e, "disk usage not measured");
                    }
                    skipped += 1;
                    continue;
                };
                let mb = i64::try_from(bytes.div_ceil(1024 * 1024)).unwrap_or(i64::MAX);
                measured += 1;
                if mb != site.storage_used_mb {
                    self.ports
                        .sites
                        .record_storage(site.tenant_id, site.id, mb, OffsetDateTime::now_utc())
                        .await?;
                }
            }
            if !full {
                break;
            }
        }
        Ok((measured, skipped))
    }

    /// Fails every pending or running operation whose job is no longer queued or running (a
    /// worker died on the job's last attempt, or the handler failed for good): nothing else
    /// would end it, and it would block every later request on its site. A provisioning's site
    /// becomes `failed` (retry or delete are possible again). Returns how many were failed.
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "sites.reap_abandoned", skip_all)]
    pub async fn reap_abandoned(&self) -> Result<usize, SiteError> {
        const WHY: &str = "its job stopped before the operation ended";
        let mut reaped = 0;
        for mut op in self.ports.sites.abandoned_operations(500).await? {
            let now = OffsetDateTime::now_utc();
            let step = op
                .steps
                .iter()
                .find(|s| s.status != StepStatus::Done)
                .map_or_else(|| op.kind.clone(), |s| s.name.clone());
            op.fail(&step, WHY, now);
            let mut uow = self.ports.store.begin().await?;
            let site = match op.site_id {
                Some(id) => {
                    self.ports
                        .sites
                        .lock_site(uow.as_mut(), op.tenant_id, id)
                        .await?
                }
                None => None,
            };
            if let Some(mut site) = site {
                site.status_reason = Some(format!("{step}: {WHY}"));
                if op.kind == "provision" && site.status == SiteStatus::Creating {
                    site.status = SiteStatus::Failed;
                }
                site.updated_at = now;
                self.ports.sites.update_site(uow.as_mut(), &site).await?;
            }
            match self.ports.sites.save_operation(uow.as_mut(), &op).await {
                Ok(()) => uow.commit().await?,
                // It ended meanwhile: leave it (and its site) as they are.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
            tracing::warn!(operation = %op.id, kind = %op.kind, "abandoned operation failed");
            reaped += 1;
        }
        Ok(reaped)
    }

    /// The renewal sweep: an `ssl_renew` operation for every live, active site whose certificate
    /// expires within the configured window (at most one per site per day). Returns how many.
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "sites.renew_expiring", skip_all)]
    pub async fn renew_expiring(&self, now: OffsetDateTime) -> Result<usize, SiteError> {
        let window = time::Duration::try_from(self.config.renew_within)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
        let due = self.ports.sites.ssl_expiring(now + window).await?;
        let mut queued = 0;
        for site in due {
            if site.status != SiteStatus::Active {
                continue;
            }
            let mut uow = self.ports.store.begin().await?;
            // Under the site's lock: no delete or other operation can start meanwhile.
            let Some(site) = self
                .ports
                .sites
                .lock_site(uow.as_mut(), site.tenant_id, site.id)
                .await?
            else {
                continue;
            };
            if site.status != SiteStatus::Active
                || self
                    .ports
                    .sites
                    .active_operation(uow.as_mut(), site.id)
                    .await?
                    .is_some()
            {
                continue;
            }
            let (kind, steps) = SiteAction::SslRenew.plan(&site);
            let op = Operation::new(site.tenant_id, Some(site.id), kind, &steps);
            self.enqueue(uow.as_mut(), &op, None, None).await?;
            uow.commit().await?;
            queued += 1;
        }
        Ok(queued)
    }
}
