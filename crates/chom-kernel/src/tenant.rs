//! The tenant a piece of work acts for.
//!
//! A `TenantContext` can only be built through [`TenantContext::authenticated`], which the
//! authentication layer of the apps calls after checking a credential and the user's membership
//! of the tenant's organization. It says who acts, for which tenant, with which role.
//!
//! The rule, as built: a service's tenant-facing entry points take `&TenantContext` and check
//! its role themselves; the repositories they call take the [`TenantId`] read from it (or from
//! a job payload recorded while a `TenantContext` requested the work), so every query of
//! tenant data is still scoped to one tenant. Background entry points that act from such a
//! payload (running an operation, the sweeps, following a tenant's status) take no context.

use crate::audit::{Actor, AuditEvent, Origin};
use crate::ids::{OrganizationId, TenantId, UserId};
use crate::role::Role;

/// Who acts, for which tenant, with which role. Built only by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    organization_id: OrganizationId,
    tenant_id: TenantId,
    user_id: UserId,
    role: Role,
    origin: Origin,
}

impl TenantContext {
    /// Called by the authentication layer once a credential has been verified and the user's
    /// membership of the tenant checked, with the role that membership grants. Nothing else
    /// should call it (tests and tools acting as a member aside).
    #[must_use]
    pub fn authenticated(
        organization_id: OrganizationId,
        tenant_id: TenantId,
        user_id: UserId,
        role: Role,
    ) -> Self {
        Self {
            organization_id,
            tenant_id,
            user_id,
            role,
            origin: Origin::default(),
        }
    }

    /// With the request's origin, recorded by the audit trail.
    #[must_use]
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The tenant's organization (whose audit chain records what this context does).
    #[must_use]
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// Where the request came from.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The acting member, as the audit trail records it.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.user_id,
            Some(self.organization_id),
            self.origin.clone(),
        )
    }

    /// The tenant every query is scoped to.
    #[must_use]
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The acting user.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The acting user's role in the tenant's organization.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }
}

impl AuditEvent {
    /// An action by the member behind `ctx`, in its organization's chain, for its tenant.
    #[must_use]
    pub fn by_member(
        ctx: &TenantContext,
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self::new(&ctx.actor(), action, target_type, target_id).for_tenant(ctx.tenant_id())
    }
}
