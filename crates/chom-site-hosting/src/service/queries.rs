//! Reads: a tenant's sites and operations, a site's database credentials, and read-only
//! questions to a site's server.

use super::error::SiteError;
use super::{Sites, db_password_context};
use crate::model::{Operation, Site, SiteStatus};
use crate::ports::SiteFilter;
use chom_agent_protocol::{Command, SiteRef};
use chom_kernel::{OperationId, SiteId, StoreError, TenantContext};

impl Sites {
    /// A site of the caller's tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn get(&self, ctx: &TenantContext, id: SiteId) -> Result<Site, SiteError> {
        self.ports
            .sites
            .get_site(ctx.tenant_id(), id)
            .await?
            .ok_or(SiteError::NotFound)
    }

    /// A page of the caller's tenant's sites.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list(
        &self,
        ctx: &TenantContext,
        filter: &SiteFilter,
    ) -> Result<Vec<Site>, SiteError> {
        Ok(self.ports.sites.list_sites(ctx.tenant_id(), filter).await?)
    }

    /// An operation of the caller's tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn operation(
        &self,
        ctx: &TenantContext,
        id: OperationId,
    ) -> Result<Operation, SiteError> {
        self.ports
            .sites
            .get_operation(ctx.tenant_id(), id)
            .await?
            .ok_or(SiteError::NotFound)
    }

    /// A live site's operations, newest first.
    ///
    /// # Errors
    /// `NotFound` (no such live site in the tenant), `Store`.
    pub async fn operations(
        &self,
        ctx: &TenantContext,
        site: SiteId,
        before: Option<OperationId>,
        limit: i64,
    ) -> Result<Vec<Operation>, SiteError> {
        self.get(ctx, site).await?;
        Ok(self
            .ports
            .sites
            .list_operations(ctx.tenant_id(), site, before, limit)
            .await?)
    }

    /// The site's database name, user and password (unsealed): members and above.
    ///
    /// # Errors
    /// `Forbidden` (viewers), `NotFound`, `Conflict` (not provisioned yet), `Store`.
    pub async fn credentials(
        &self,
        ctx: &TenantContext,
        id: SiteId,
    ) -> Result<(String, String, String), SiteError> {
        // A viewer reads sites, not the keys to their databases.
        super::forbid_unless(ctx.role(), chom_team::Action::ManageSites)?;
        let site = self.get(ctx, id).await?;
        let (Some(name), Some(user), Some(sealed)) =
            (site.db_name, site.db_user, site.db_password_sealed)
        else {
            return Err(SiteError::Conflict(
                "NO_DATABASE",
                "the site has no database yet".into(),
            ));
        };
        let password = self
            .ports
            .sealer
            .open_for(&db_password_context(site.id), &sealed)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("database password: {e}")))?;
        let password = String::from_utf8(password)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("database password: {e}")))?;
        Ok((name, user, password))
    }

    /// A read-only agent command about a live site (info, certificate status).
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (not provisioned), `Fleet`.
    pub async fn ask(
        &self,
        ctx: &TenantContext,
        id: SiteId,
        command: fn(SiteRef) -> Command,
    ) -> Result<(Site, serde_json::Value), SiteError> {
        let site = self.get(ctx, id).await?;
        if matches!(site.status, SiteStatus::Creating | SiteStatus::Failed) {
            return Err(SiteError::Conflict(
                "INVALID_STATE",
                format!("not possible while the site is {}", site.status.as_str()),
            ));
        }
        let answer = self
            .ports
            .fleet
            .run(
                site.vps_id,
                command(SiteRef {
                    domain: site.domain.clone(),
                }),
            )
            .await?;
        Ok((site, answer))
    }
}
