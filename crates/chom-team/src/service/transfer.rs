//! Ownership transfer: an owner proposes an admin; the admin confirms and becomes owner, the
//! proposer becomes admin, in one transaction. Either may cancel; it lapses after 7 days.

use super::{Team, TeamError, authorize};
use crate::model::{OwnershipTransfer, TRANSFER_LIFETIME};
use crate::policy::Action;
use chom_kernel::audit::AuditEvent;
use chom_kernel::{Role, TenantContext, UserId};
use time::OffsetDateTime;

impl Team {
    /// Proposes handing the organization to `to`, who must be an admin (owners only).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (not a member), `InvalidState` (not an admin; oneself), `Store`.
    #[tracing::instrument(name = "team.propose_transfer", skip_all, fields(org = %ctx.organization_id(), %to))]
    pub async fn propose_transfer(
        &self,
        ctx: &TenantContext,
        to: UserId,
    ) -> Result<OwnershipTransfer, TeamError> {
        authorize(ctx, Action::TransferOwnership)?;
        if to == ctx.user_id() {
            return Err(TeamError::InvalidState("you own it already".into()));
        }
        if self.member_role(ctx, to).await? != Role::Admin {
            return Err(TeamError::InvalidState(
                "ownership goes to an admin: make them admin first".into(),
            ));
        }
        let now = chom_kernel::audit::now_ms();
        let transfer = OwnershipTransfer {
            organization_id: ctx.organization_id(),
            from_user: ctx.user_id(),
            to_user: to,
            created_at: now,
            expires_at: now + TRANSFER_LIFETIME,
        };
        let mut uow = self.identity.store.begin().await?;
        self.team.put_transfer(uow.as_mut(), &transfer).await?;
        let event = AuditEvent::new(&ctx.actor(), "ownership.propose", "user", to);
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(transfer)
    }

    /// The organization's pending transfer (any member may see it).
    ///
    /// # Errors
    /// `NotFound` when none is pending; `Store`.
    pub async fn pending_transfer(
        &self,
        ctx: &TenantContext,
    ) -> Result<OwnershipTransfer, TeamError> {
        authorize(ctx, Action::ViewOrganization)?;
        self.team
            .get_transfer(ctx.organization_id())
            .await?
            .filter(|t| t.expires_at > OffsetDateTime::now_utc())
            .ok_or(TeamError::NotFound)
    }

    /// The proposed new owner confirms: they become owner, the proposer (if still an owner)
    /// admin.
    ///
    /// # Errors
    /// `NotFound` (nothing pending for the caller), `InvalidState` (no longer an admin),
    /// `Store`.
    #[tracing::instrument(name = "team.confirm_transfer", skip_all, fields(org = %ctx.organization_id()))]
    pub async fn confirm_transfer(&self, ctx: &TenantContext) -> Result<(), TeamError> {
        let transfer = self.pending_transfer(ctx).await?;
        if transfer.to_user != ctx.user_id() {
            return Err(TeamError::NotFound);
        }
        if ctx.role() != Role::Admin {
            return Err(TeamError::InvalidState(
                "only an admin can take ownership".into(),
            ));
        }
        let from_role = self
            .identity
            .orgs
            .membership_in(transfer.from_user, ctx.organization_id())
            .await?
            .map(|m| m.role);
        let org = ctx.organization_id();
        let mut uow = self.identity.store.begin().await?;
        self.identity
            .orgs
            .set_role(uow.as_mut(), org, ctx.user_id(), Role::Owner)
            .await?;
        if from_role == Some(Role::Owner) {
            self.identity
                .orgs
                .set_role(uow.as_mut(), org, transfer.from_user, Role::Admin)
                .await?;
        }
        self.team.delete_transfer(uow.as_mut(), org).await?;
        let event = AuditEvent::new(&ctx.actor(), "ownership.transfer", "user", ctx.user_id())
            .with_summary(serde_json::json!({
                "from": transfer.from_user,
                "to": transfer.to_user,
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.session_changed();
        Ok(())
    }

    /// Cancels the pending transfer (its proposer, any owner, or its addressee).
    ///
    /// # Errors
    /// `NotFound` (none, or the caller may not see it), `Store`.
    pub async fn cancel_transfer(&self, ctx: &TenantContext) -> Result<(), TeamError> {
        let transfer = self.pending_transfer(ctx).await?;
        if ctx.role() != Role::Owner && transfer.to_user != ctx.user_id() {
            return Err(TeamError::Forbidden(
                "only an owner or the proposed new owner can cancel".into(),
            ));
        }
        let mut uow = self.identity.store.begin().await?;
        self.team
            .delete_transfer(uow.as_mut(), ctx.organization_id())
            .await?;
        let event = AuditEvent::new(&ctx.actor(), "ownership.cancel", "user", transfer.to_user);
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }
}
