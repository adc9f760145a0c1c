//! Super-admin and organization use cases: approvals, suspension, plan selection, renaming,
//! role changes.
//!
//! The service and its shared helpers live here; each use case has its own file.

mod approvals;
mod bootstrap;
mod directory;
mod members;
mod organization;
mod standing;

pub use approvals::Approval;
pub use standing::{TENANT_STATUS_CHANGED, TenantStatusChanged};

use crate::identity::{FieldErrors, IdentityError, IdentityPorts};
use crate::plans::PlanRepository;
use crate::session_cache::SessionCache;
use chom_auth::FieldError;
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::{StoreError, UserId};
use std::sync::Arc;

/// Administration of organizations and their members.
#[derive(Clone)]
pub struct Administration {
    ports: IdentityPorts,
    plans: Arc<dyn PlanRepository>,
    sessions: Arc<SessionCache>,
}

impl std::fmt::Debug for Administration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Administration")
    }
}

fn not_found(e: StoreError) -> IdentityError {
    match e {
        StoreError::NotFound => IdentityError::NotFound,
        e => e.into(),
    }
}

impl Administration {
    /// A service over the identity ports and the plan catalogue.
    #[must_use]
    pub fn new(
        ports: IdentityPorts,
        plans: Arc<dyn PlanRepository>,
        sessions: Arc<SessionCache>,
    ) -> Self {
        Self {
            ports,
            plans,
            sessions,
        }
    }
}

/// The user behind an operator's action (decisions record who made them).
fn operator_of(actor: &Actor) -> Result<UserId, IdentityError> {
    actor
        .user_id
        .ok_or_else(|| IdentityError::Forbidden("an operator's decision names its user".into()))
}

impl Administration {
    /// Appends `event` to `uow`.
    async fn audit(
        &self,
        uow: &mut dyn chom_kernel::store::UnitOfWork,
        event: AuditEvent,
    ) -> Result<(), IdentityError> {
        self.ports.audit.append(uow, &event).await?;
        Ok(())
    }
}

/// Validation failure helper for callers.
#[must_use]
pub fn invalid(field: &'static str, code: &'static str, message: &str) -> IdentityError {
    let errors: FieldErrors = vec![(field, FieldError::new(code, message))];
    IdentityError::Invalid(errors)
}
