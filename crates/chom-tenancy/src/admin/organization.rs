//! Organization: an organization reading and renaming itself, and choosing its tenants' plans.

use super::{Administration, not_found};
use crate::identity::{IdentityError, Invalidate};
use crate::model::{Organization, Tenant};
use crate::plans::PlanCode;
use chom_auth::{FieldError, PersonName};
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::{OrganizationId, TenantContext};
use time::OffsetDateTime;

impl Administration {
    /// The caller's organization.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn organization(
        &self,
        org: OrganizationId,
    ) -> Result<(Organization, Vec<Tenant>), IdentityError> {
        let o = self
            .ports
            .orgs
            .get_organization(org)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let mut tenants = self.ports.orgs.list_tenants(Some(org), None, 100).await?;
        // Default first, then in the order they were made.
        tenants.sort_by_key(|t| (!t.is_default, t.id));
        Ok((o, tenants))
    }

    /// Renames the organization.
    ///
    /// # Errors
    /// `Invalid`, `NotFound`, `Store`.
    pub async fn rename_organization(
        &self,
        actor: &Actor,
        org: OrganizationId,
        name: &str,
    ) -> Result<Organization, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let name =
            PersonName::parse(name).map_err(|e| IdentityError::Invalid(vec![("name", e)]))?;
        let before = self.ports.orgs.get_organization(org).await?.map(|o| o.name);
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .rename_organization(uow.as_mut(), org, name.as_str())
            .await
            .map_err(not_found)?;
        let event = AuditEvent::new(actor, "organization.rename", "organization", org)
            .in_organization(Some(org))
            .with_summary(serde_json::json!({"from": before, "to": name.as_str()}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.ports
            .orgs
            .get_organization(org)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Selects a plan for the caller's tenant (the free path: billing off). The team policy
    /// (only owners manage billing) is checked by the caller: it lives downstream, in
    /// `chom_team`.
    ///
    /// # Errors
    /// `Invalid` (unknown or retired plan), `NotFound`, `Store`.
    pub async fn select_plan(
        &self,
        ctx: &TenantContext,
        plan: &str,
    ) -> Result<Tenant, IdentityError> {
        let tenant = ctx.tenant_id();
        let _invalidate = Invalidate(&self.sessions);
        let invalid =
            |m: &str| IdentityError::Invalid(vec![("plan", FieldError::new("INVALID_VALUE", m))]);
        let code = PlanCode::parse(plan).map_err(|_| invalid("not a plan code"))?;
        match self.plans.find(&code).await? {
            Some(p) if p.is_active => {}
            _ => return Err(invalid("no such plan on offer (see GET /api/v1/plans)")),
        }
        let before = self
            .ports
            .orgs
            .get_tenant(tenant)
            .await?
            .and_then(|t| t.plan_code);
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .select_plan(uow.as_mut(), tenant, &code, OffsetDateTime::now_utc())
            .await
            .map_err(not_found)?;
        let event = AuditEvent::by_member(ctx, "tenant.select_plan", "tenant", tenant)
            .with_summary(serde_json::json!({
                "from": before.as_ref().map(PlanCode::as_str),
                "to": code.as_str(),
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.ports
            .orgs
            .get_tenant(tenant)
            .await?
            .ok_or(IdentityError::NotFound)
    }
}
