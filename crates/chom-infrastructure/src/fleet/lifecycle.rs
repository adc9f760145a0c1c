//! Lifecycle: maintenance, decommissioning (refused while sites live there) and removal of a
//! decommissioned server.

use super::{Fleet, FleetError};
use crate::model::{Vps, VpsStatus};
use chom_agent_protocol::answers::SiteListAnswer;
use chom_agent_protocol::{Answer as _, Command};
use chom_kernel::audit::Actor;
use chom_kernel::{StoreError, VpsId};

impl Fleet {
    /// Puts the server in or out of maintenance.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (decommissioned), `Store`.
    #[tracing::instrument(name = "fleet.set_maintenance", skip(self))]
    pub async fn set_maintenance(
        &self,
        actor: &Actor,
        id: VpsId,
        on: bool,
    ) -> Result<Vps, FleetError> {
        let mut vps = self.get(id).await?;
        if vps.status == VpsStatus::Decommissioned {
            return Err(FleetError::Conflict("the server is decommissioned".into()));
        }
        vps.status = if on {
            VpsStatus::Maintenance
        } else {
            VpsStatus::Active
        };
        let action = if on {
            "vps.maintenance_on"
        } else {
            "vps.maintenance_off"
        };
        self.save_by(actor, action, &vps, serde_json::json!({}))
            .await?;
        Ok(vps)
    }

    /// Retires the server (no new sites; health checks stop). Refused while site rows that are
    /// not deleted name it, or while its agent reports sites (or cannot be asked). The agent is
    /// not asked when the database knows the server never held a site: no site row ever named
    /// it, and it was never trusted or never answered (a server added by mistake, or one that
    /// never came up). Decommissioning a decommissioned server changes nothing.
    ///
    /// # Errors
    /// `NotFound`, `HasSites` (in the database), `Conflict` (the agent reports sites, or cannot
    /// tell), `Store`.
    #[tracing::instrument(name = "fleet.decommission", skip(self))]
    pub async fn decommission(&self, actor: &Actor, id: VpsId) -> Result<Vps, FleetError> {
        let mut vps = self.get(id).await?;
        if vps.status == VpsStatus::Decommissioned {
            return Ok(vps);
        }
        let rows = self.repo.site_rows(id).await?;
        if rows.live > 0 {
            return Err(FleetError::HasSites(rows.live));
        }
        let never_held_a_site =
            rows.ever == 0 && (vps.host_key.is_none() || vps.agent_version.is_none());
        if !never_held_a_site {
            // An answer without a count is not "no sites": decommissioning waits for a real one.
            let listed = self.call(&vps, Command::SiteList).await.and_then(|list| {
                SiteListAnswer::read(&list).map_err(|e| FleetError::Agent(e.to_string()))
            });
            let sites = match listed {
                Ok(list) => list.count,
                Err(e) => {
                    return Err(FleetError::Conflict(format!(
                        "cannot tell whether sites live there: {e}"
                    )));
                }
            };
            if sites > 0 {
                return Err(FleetError::Conflict(format!(
                    "{sites} site(s) still live on this server"
                )));
            }
        }
        vps.status = VpsStatus::Decommissioned;
        self.save_by(actor, "vps.decommission", &vps, serde_json::json!({}))
            .await?;
        Ok(vps)
    }

    /// Removes a decommissioned server from the fleet. Refused while any site row, deleted or
    /// not, names it: a deleted site's history (operations, backups) still points at its
    /// server.
    ///
    /// # Errors
    /// `NotFound`, `NotDecommissioned`, `HasSites`, `Store`.
    #[tracing::instrument(name = "fleet.remove", skip(self))]
    pub async fn remove(&self, actor: &Actor, id: VpsId) -> Result<(), FleetError> {
        let vps = self.get(id).await?;
        if vps.status != VpsStatus::Decommissioned {
            return Err(FleetError::NotDecommissioned);
        }
        let rows = self.repo.site_rows(id).await?;
        if rows.ever > 0 {
            return Err(FleetError::HasSites(rows.ever));
        }
        // The delete re-checks both conditions itself, so a change in between cannot slip by.
        let mut uow = self.store.begin().await?;
        let deleted = match self.repo.delete_vps(uow.as_mut(), id).await {
            Ok(d) => d,
            Err(StoreError::Conflict(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if !deleted {
            drop(uow);
            let rows = self.repo.site_rows(id).await?;
            return Err(match self.repo.get_vps(id).await? {
                None => FleetError::NotFound,
                Some(v) if v.status != VpsStatus::Decommissioned => FleetError::NotDecommissioned,
                Some(_) => FleetError::HasSites(rows.ever),
            });
        }
        self.audit(
            uow.as_mut(),
            actor,
            "vps.remove",
            &vps,
            serde_json::json!({}),
        )
        .await?;
        uow.commit().await?;
        tracing::info!(vps = %id, hostname = %vps.hostname, "removed a decommissioned server");
        Ok(())
    }
}
