//! Requesting an action on an existing site: the role, the tenant's and the site's state are
//! checked, then the operation and its job are recorded together.

use super::error::SiteError;
use super::{Sites, forbid_unless, provision_steps};
use crate::admission::Refusal;
use crate::model::{Operation, Site, SiteStatus};
use chom_agent_protocol::PhpVersion;
use chom_kernel::audit::AuditEvent;
use chom_kernel::{SiteId, TenantContext};
use chom_team::Action;
use chom_tenancy::model::TenantStatus;
use time::OffsetDateTime;

/// A change requested on a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteAction {
    /// Serve it again.
    Enable,
    /// Stop serving it.
    Disable,
    /// Remove everything.
    Delete,
    /// Move its pool to another PHP version.
    SetPhp(PhpVersion),
    /// Obtain a certificate.
    SslIssue,
    /// Renew the certificate now.
    SslRenew,
    /// Clear the application caches.
    CacheClear,
    /// Dump the database into the site's backups directory.
    DbExport,
    /// Optimize the database's tables.
    DbOptimize,
    /// Re-run a failed provisioning.
    Retry,
}

impl SiteAction {
    /// The operation kind and its steps.
    pub(super) fn plan(self, site: &Site) -> (&'static str, Vec<&'static str>) {
        match self {
            Self::Enable => ("enable", vec!["site.enable"]),
            Self::Disable => ("disable", vec!["site.disable"]),
            Self::Delete => ("delete", vec!["site.delete", "record.delete"]),
            Self::SetPhp(_) => ("set_php", vec!["site.set_php"]),
            Self::SslIssue => ("ssl_issue", vec!["ssl.issue"]),
            Self::SslRenew => ("ssl_renew", vec!["ssl.renew"]),
            Self::CacheClear => ("cache_clear", vec!["cache.clear"]),
            Self::DbExport => ("db_export", vec!["db.export"]),
            Self::DbOptimize => ("db_optimize", vec!["db.optimize"]),
            Self::Retry => ("provision", provision_steps(site.ssl_requested)),
        }
    }

    /// The team policy's action it needs (`sites.delete` to delete, `sites.operate` else).
    #[must_use]
    pub const fn needs(self) -> Action {
        match self {
            Self::Delete => Action::DeleteSites,
            _ => Action::ManageSites,
        }
    }

    /// What the audit log calls it.
    pub(super) const fn audit_action(self) -> &'static str {
        match self {
            Self::Enable => "site.enable",
            Self::Disable => "site.disable",
            Self::Delete => "site.delete",
            Self::SetPhp(_) => "site.set_php",
            Self::SslIssue => "site.ssl_issue",
            Self::SslRenew => "site.ssl_renew",
            Self::CacheClear => "site.cache_clear",
            Self::DbExport => "site.db_export",
            Self::DbOptimize => "site.db_optimize",
            Self::Retry => "site.retry",
        }
    }

    /// Whether the site's state allows it.
    fn allowed(self, status: SiteStatus) -> Result<(), String> {
        use SiteStatus::{Active, Deleting, Disabled, Failed};
        let ok = match self {
            Self::Enable => status == Disabled,
            Self::Disable => status == Active,
            Self::Delete => matches!(status, Active | Disabled | Failed | Deleting),
            Self::SetPhp(_) => matches!(status, Active | Disabled),
            Self::SslIssue
            | Self::SslRenew
            | Self::CacheClear
            | Self::DbExport
            | Self::DbOptimize => status == Active,
            Self::Retry => status == Failed,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "not possible while the site is {}",
                status.as_str()
            ))
        }
    }
}

impl Sites {
    /// Requests a change on a site of the caller's tenant: checks the caller's role and the
    /// state, records the operation and its job together.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `Conflict` (`INVALID_STATE`, `OPERATION_IN_PROGRESS`), `Store`.
    #[tracing::instrument(
        name = "sites.request",
        skip_all,
        fields(tenant = %ctx.tenant_id(), user = %ctx.user_id(), site = %id, action = ?action)
    )]
    pub async fn request(
        &self,
        ctx: &TenantContext,
        id: SiteId,
        action: SiteAction,
        request_id: Option<String>,
    ) -> Result<(Site, Operation), SiteError> {
        forbid_unless(ctx.role(), action.needs())?;
        let tenant = ctx.tenant_id();
        // A suspended tenant may take its sites down, not bring them back or change them.
        if !matches!(action, SiteAction::Delete | SiteAction::Disable)
            && self.effective_status(tenant).await? != Some(TenantStatus::Active)
        {
            return Err(Refusal::TenantNotActive.into());
        }
        let mut uow = self.ports.store.begin().await?;
        let mut site = self
            .ports
            .sites
            .lock_site(uow.as_mut(), tenant, id)
            .await?
            .ok_or(SiteError::NotFound)?;
        if let Some(running) = self
            .ports
            .sites
            .active_operation(uow.as_mut(), site.id)
            .await?
        {
            return Err(SiteError::Conflict(
                "OPERATION_IN_PROGRESS",
                format!("operation {running} is still running on this site"),
            ));
        }
        action
            .allowed(site.status)
            .map_err(|m| SiteError::Conflict("INVALID_STATE", m))?;
        if let SiteAction::SetPhp(v) = action
            && v == site.php_version
        {
            return Err(SiteError::Conflict(
                "INVALID_STATE",
                format!("the site already runs PHP {}", v.as_str()),
            ));
        }
        let (kind, steps) = action.plan(&site);
        let next = match action {
            SiteAction::Delete => Some(SiteStatus::Deleting),
            SiteAction::Retry => Some(SiteStatus::Creating),
            _ => None,
        };
        if let Some(next) = next {
            site.status = next;
            site.status_reason = None;
            site.updated_at = OffsetDateTime::now_utc();
            self.ports.sites.update_site(uow.as_mut(), &site).await?;
        }
        let op = Operation::new(tenant, Some(site.id), kind, &steps);
        let php = match action {
            SiteAction::SetPhp(v) => Some(v),
            _ => None,
        };
        self.enqueue(uow.as_mut(), &op, php, request_id).await?;
        let mut summary = serde_json::json!({
            "domain": site.domain.as_str(),
            "operation": kind,
            "operation_id": op.id,
        });
        if let Some(v) = php {
            summary["php_version"] =
                serde_json::json!({"from": site.php_version.as_str(), "to": v.as_str()});
        }
        let event = AuditEvent::by_member(ctx, action.audit_action(), "site", site.id)
            .with_summary(summary);
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok((site, op))
    }
}
