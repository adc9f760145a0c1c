//! Standing: suspending and reactivating organizations and tenants. An organization's
//! status decides its tenants' effective status, announced to site hosting as an event.

use super::{Administration, not_found};
use crate::identity::{IdentityError, Invalidate};
use crate::model::{OrganizationStatus, TenantStatus, standing};
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::jobs::NewJob;
use chom_kernel::{OrganizationId, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The event job enqueued with every tenant status change (site-hosting handles it: a
/// suspended tenant's sites are disabled on their servers, a reactivated one's re-enabled).
pub const TENANT_STATUS_CHANGED: &str = "tenancy::tenant_status_changed";

async fn enqueue_status_event(
    uow: &mut dyn chom_kernel::store::UnitOfWork,
    tenant: TenantId,
    status: TenantStatus,
) -> Result<(), StoreError> {
    let event = serde_json::to_value(TenantStatusChanged {
        tenant_id: tenant,
        status,
    })
    .map_err(|e| StoreError::Unexpected(e.into()))?;
    uow.enqueue(NewJob::new(TENANT_STATUS_CHANGED, event).tenant(tenant))
        .await?;
    Ok(())
}

/// Payload of [`TENANT_STATUS_CHANGED`]. Handlers should act on the tenant's status as it is
/// when they run (events of quick successive changes may be handled out of order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantStatusChanged {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its new status.
    pub status: TenantStatus,
}

impl Administration {
    /// Suspends (revoking every member's tokens) or reactivates an organization.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn set_organization_status(
        &self,
        actor: &Actor,
        org: OrganizationId,
        status: OrganizationStatus,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        // Reads through the pool before the unit of work holds a connection.
        let members = if status == OrganizationStatus::Suspended {
            self.ports.orgs.member_ids(org).await?
        } else {
            Vec::new()
        };
        let tenants = self
            .ports
            .orgs
            .list_tenants(Some(org), None, 100_000)
            .await?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .set_organization_status(uow.as_mut(), org, status)
            .await
            .map_err(not_found)?;
        for user in members {
            self.ports
                .tokens
                .revoke_all_tokens(uow.as_mut(), user, now)
                .await?;
        }
        // Every tenant's sites follow the organization.
        for tenant in tenants {
            let effective = standing(status, tenant.status);
            enqueue_status_event(uow.as_mut(), tenant.id, effective).await?;
        }
        let action = match status {
            OrganizationStatus::Suspended => "organization.suspend",
            OrganizationStatus::Active => "organization.reactivate",
        };
        let event = AuditEvent::new(actor, action, "organization", org).in_organization(Some(org));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Suspends, reactivates or cancels a tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn set_tenant_status(
        &self,
        actor: &Actor,
        tenant: TenantId,
        status: TenantStatus,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        // Read before the unit of work, not while holding it.
        let record = self.ports.orgs.get_tenant(tenant).await?;
        let org_status = match &record {
            Some(t) => self
                .ports
                .orgs
                .get_organization(t.organization_id)
                .await?
                .map(|o| o.status),
            None => None,
        };
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .set_tenant_status(uow.as_mut(), tenant, status)
            .await
            .map_err(not_found)?;
        // Sites follow (site-hosting disables or re-enables them on their servers). The event
        // announces the tenant's standing: reactivated inside a suspended organization, it
        // stays suspended. (The handler reads the current standing anyway.)
        let announced = org_status.map_or(status, |org| standing(org, status));
        enqueue_status_event(uow.as_mut(), tenant, announced).await?;
        let event = AuditEvent::new(actor, "tenant.set_status", "tenant", tenant)
            .in_organization(record.map(|t| t.organization_id))
            .for_tenant(tenant)
            .with_summary(serde_json::json!({"status": status.as_str()}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }
}
