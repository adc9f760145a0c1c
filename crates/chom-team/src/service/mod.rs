//! The team application service: invitations, members (roles, removal, leaving) and ownership
//! transfer. One file per use case; the authorization policy is [`crate::policy`].

mod accept;
mod error;
mod invitations;
mod members;
mod transfer;

pub use accept::{Acceptor, NewAccount};
pub use error::TeamError;
pub use invitations::{InvitationJob, SEND_INVITATION};

use crate::policy::{Action, require};
use crate::ports::TeamRepository;
use chom_kernel::TenantContext;
use chom_kernel::audit::AuditEvent;
use chom_kernel::store::UnitOfWork;
use chom_tenancy::PlanRepository;
use chom_tenancy::identity::IdentityPorts;
use chom_tenancy::session_cache::SessionCache;
use std::sync::Arc;

/// Team use cases.
#[derive(Clone)]
pub struct Team {
    identity: IdentityPorts,
    team: Arc<dyn TeamRepository>,
    plans: Arc<dyn PlanRepository>,
    sessions: Arc<SessionCache>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Team")
    }
}

impl Team {
    /// The service over the identity ports (users, tokens, memberships, audit), its own
    /// repository, the plans (seats) and the session cache its changes invalidate.
    #[must_use]
    pub fn new(
        identity: IdentityPorts,
        team: Arc<dyn TeamRepository>,
        plans: Arc<dyn PlanRepository>,
        sessions: Arc<SessionCache>,
    ) -> Self {
        Self {
            identity,
            team,
            plans,
            sessions,
        }
    }

    /// The repository (for the mail job).
    #[must_use]
    pub fn repository(&self) -> &Arc<dyn TeamRepository> {
        &self.team
    }

    /// The identity ports (for the mail job).
    #[must_use]
    pub fn identity(&self) -> &IdentityPorts {
        &self.identity
    }

    async fn audit(&self, uow: &mut dyn UnitOfWork, event: AuditEvent) -> Result<(), TeamError> {
        self.identity.audit.append(uow, &event).await?;
        Ok(())
    }

    fn session_changed(&self) {
        self.sessions.invalidate_all();
    }
}

/// Refuses unless the caller's role allows `action`.
fn authorize(ctx: &TenantContext, action: Action) -> Result<(), TeamError> {
    require(ctx.role(), action).map_err(|d| TeamError::Forbidden(d.to_string()))
}
