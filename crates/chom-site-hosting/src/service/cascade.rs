//! Sites following their tenant's status: the suspension cascade, and the same rule applied
//! to one site when its operation ends.

use super::Sites;
use super::error::JobOutcome;
use crate::model::{Site, SiteStatus};
use crate::ports::SiteFilter;
use chom_agent_protocol::{Command, SiteRef};
use chom_infrastructure::FleetError;
use chom_kernel::TenantId;
use chom_tenancy::model::TenantStatus;
use time::OffsetDateTime;

/// What following the tenant's status asks of a site: `Some(true)` serve it again,
/// `Some(false)` take it off the air, `None` nothing.
fn follow(site: &Site, status: TenantStatus) -> Option<bool> {
    if status != TenantStatus::Active && site.status == SiteStatus::Active {
        Some(false)
    } else if status == TenantStatus::Active
        && site.suspended_active
        && site.status == SiteStatus::Disabled
    {
        Some(true)
    } else {
        None
    }
}

/// Records on the site that it now follows the tenant's status.
fn followed(site: &mut Site, serve: bool, status: TenantStatus) {
    if serve {
        site.status = SiteStatus::Active;
        site.suspended_active = false;
        site.status_reason = None;
    } else {
        site.status = SiteStatus::Disabled;
        site.suspended_active = true;
        site.status_reason = Some(format!("tenant {}", status.as_str()));
    }
    site.updated_at = OffsetDateTime::now_utc();
}

impl Sites {
    /// Brings a site in line with its tenant's status: an active site of a suspended tenant is
    /// disabled on its server (and marked to come back); a site so marked is enabled again once
    /// the tenant is active. Returns whether it changed the site.
    pub(super) async fn reconcile(
        &self,
        site: &mut Site,
        status: TenantStatus,
    ) -> Result<bool, FleetError> {
        let Some(serve) = follow(site, status) else {
            return Ok(false);
        };
        self.switch(site, serve).await?;
        followed(site, serve, status);
        Ok(true)
    }

    /// Turns the site's vhost on (`serve`) or off on its server.
    async fn switch(&self, site: &Site, serve: bool) -> Result<(), FleetError> {
        let site_ref = SiteRef {
            domain: site.domain.clone(),
        };
        let command = if serve {
            Command::SiteEnable(site_ref)
        } else {
            Command::SiteDisable(site_ref)
        };
        self.ports.fleet.run(site.vps_id, command).await.map(drop)
    }

    /// The tenant suspension cascade: a suspended or cancelled tenant (or one whose
    /// organization is suspended) has its active sites disabled on their servers and marked to
    /// come back; an active one has the marked sites re-enabled. It acts on the status as it is
    /// now, not as the event said, so events handled out of order still converge; a site with
    /// an operation in flight is left to that operation (it follows the tenant when it ends).
    /// Safe to repeat. Returns how many sites changed.
    ///
    /// # Errors
    /// `Retry` when a server or the store failed for some site (the others are done).
    #[tracing::instrument(name = "sites.apply_tenant_status", skip(self))]
    pub async fn apply_tenant_status(&self, tenant: TenantId) -> Result<usize, JobOutcome> {
        let Some(status) = self.effective_status(tenant).await? else {
            return Ok(0);
        };
        let filter = SiteFilter {
            limit: 10_000,
            ..SiteFilter::default()
        };
        let sites = self.ports.sites.list_sites(tenant, &filter).await?;
        let (mut changed, mut failures) = (0, Vec::new());
        for listed in sites {
            // Decide outside any transaction (the server call may take a while), then record
            // under the row lock, only if the site is still as it was decided on.
            let busy = {
                let mut uow = self.ports.store.begin().await?;
                self.ports
                    .sites
                    .active_operation(uow.as_mut(), listed.id)
                    .await?
                    .is_some()
            };
            let Some(serve) = follow(&listed, status).filter(|_| !busy) else {
                continue;
            };
            if let Err(e) = self.switch(&listed, serve).await {
                failures.push(format!("{}: {e}", listed.domain));
                continue;
            }
            let mut uow = self.ports.store.begin().await?;
            if let Some(mut site) = self
                .ports
                .sites
                .lock_site(uow.as_mut(), tenant, listed.id)
                .await?
                && follow(&site, status) == Some(serve)
            {
                followed(&mut site, serve, status);
                self.ports.sites.update_site(uow.as_mut(), &site).await?;
                uow.commit().await?;
                changed += 1;
            }
        }
        if failures.is_empty() {
            Ok(changed)
        } else {
            Err(JobOutcome::Retry(failures.join("; ")))
        }
    }
}
