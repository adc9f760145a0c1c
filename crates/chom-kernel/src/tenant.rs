//! The tenant a piece of work acts for.
//!
//! A `TenantContext` can only be built through [`TenantContext::authenticated`], which the
//! authentication layer of the apps calls after checking a credential. Repositories for tenant
//! data take one, so no query of tenant data can be written without a tenant scope.

use crate::ids::{TenantId, UserId};

/// Who acts, and for which tenant. Built only by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    tenant_id: TenantId,
    user_id: UserId,
}

impl TenantContext {
    /// Called by the authentication layer once a credential has been verified and the user's
    /// membership of the tenant checked. Nothing else should call it.
    #[must_use]
    pub fn authenticated(tenant_id: TenantId, user_id: UserId) -> Self {
        Self { tenant_id, user_id }
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
}
