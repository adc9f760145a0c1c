//! Members: changing a role, removing a member, leaving. Nobody raises their own role, only
//! owners make or unmake owners, and the last owner can neither leave nor be removed nor be
//! demoted (checked with the owners count the locked change returns, in its transaction).

use super::{Team, TeamError, authorize};
use crate::policy::{Action, after_change, check_role_change};
use chom_auth::FieldError;
use chom_kernel::audit::AuditEvent;
use chom_kernel::{Role, StoreError, TenantContext, UserId};
use time::OffsetDateTime;

fn not_found(e: StoreError) -> TeamError {
    match e {
        StoreError::NotFound => TeamError::NotFound,
        other => other.into(),
    }
}

impl Team {
    pub(super) async fn member_role(
        &self,
        ctx: &TenantContext,
        user: UserId,
    ) -> Result<Role, TeamError> {
        Ok(self
            .identity
            .orgs
            .membership_in(user, ctx.organization_id())
            .await?
            .ok_or(TeamError::NotFound)?
            .role)
    }

    /// Changes a member's role (owners and admins, by the rules above).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (not a member), `Invalid` (the role), `LastOwner`, `Store`.
    #[tracing::instrument(name = "team.change_role", skip_all, fields(org = %ctx.organization_id(), %user))]
    pub async fn change_role(
        &self,
        ctx: &TenantContext,
        user: UserId,
        role: &str,
    ) -> Result<(), TeamError> {
        authorize(ctx, Action::ManageMembers)?;
        let new_role = Role::parse(role.trim()).ok_or_else(|| {
            TeamError::Invalid(vec![(
                "role",
                FieldError::new("INVALID_VALUE", "owner, admin, member or viewer"),
            )])
        })?;
        let current = self.member_role(ctx, user).await?;
        check_role_change((ctx.user_id(), ctx.role()), (user, current), new_role)?;
        let mut uow = self.identity.store.begin().await?;
        let owners_left = self
            .identity
            .orgs
            .set_role(uow.as_mut(), ctx.organization_id(), user, new_role)
            .await
            .map_err(not_found)?;
        after_change(owners_left)?;
        let event = AuditEvent::new(&ctx.actor(), "member.role_change", "user", user)
            .with_summary(serde_json::json!({"from": current.as_str(), "to": new_role.as_str()}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.session_changed();
        Ok(())
    }

    /// Removes a member (owners and admins; an owner only by an owner; oneself by leaving).
    /// Every API token of the removed user is revoked in the same transaction, so their next
    /// request is refused at once (401).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidState` (oneself), `LastOwner`, `Store`.
    #[tracing::instrument(name = "team.remove", skip_all, fields(org = %ctx.organization_id(), %user))]
    pub async fn remove(&self, ctx: &TenantContext, user: UserId) -> Result<(), TeamError> {
        authorize(ctx, Action::ManageMembers)?;
        let role = self.member_role(ctx, user).await?;
        if user == ctx.user_id() {
            return Err(TeamError::InvalidState(
                "to remove yourself, leave the organization (POST /api/v1/organization/leave)"
                    .into(),
            ));
        }
        if role == Role::Owner && ctx.role() != Role::Owner {
            return Err(TeamError::Forbidden(
                "only an owner can remove an owner".into(),
            ));
        }
        self.depart(ctx, user, role, "member.remove", true).await
    }

    /// The caller leaves the organization (any role; not its last owner). Their tokens stay
    /// valid for their other organizations, if any; this one no longer answers them.
    ///
    /// # Errors
    /// `LastOwner`, `Store`.
    #[tracing::instrument(name = "team.leave", skip_all, fields(org = %ctx.organization_id()))]
    pub async fn leave(&self, ctx: &TenantContext) -> Result<(), TeamError> {
        authorize(ctx, Action::ManageOwnTokens)?;
        let role = self.member_role(ctx, ctx.user_id()).await?;
        self.depart(ctx, ctx.user_id(), role, "member.leave", false)
            .await
    }

    async fn depart(
        &self,
        ctx: &TenantContext,
        user: UserId,
        role: Role,
        action: &'static str,
        revoke_tokens: bool,
    ) -> Result<(), TeamError> {
        let org = ctx.organization_id();
        let transfer = self.team.get_transfer(org).await?;
        let mut uow = self.identity.store.begin().await?;
        let owners_left = self
            .identity
            .orgs
            .delete_membership(uow.as_mut(), org, user)
            .await
            .map_err(not_found)?;
        after_change(owners_left)?;
        if revoke_tokens {
            self.identity
                .tokens
                .revoke_all_tokens(uow.as_mut(), user, OffsetDateTime::now_utc())
                .await?;
        }
        // A pending transfer from or to the departing member lapses with them.
        if transfer.is_some_and(|t| t.from_user == user || t.to_user == user) {
            self.team.delete_transfer(uow.as_mut(), org).await?;
        }
        let event = AuditEvent::new(&ctx.actor(), action, "user", user).with_summary(
            serde_json::json!({"role": role.as_str(), "tokens_revoked": revoke_tokens}),
        );
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.session_changed();
        Ok(())
    }
}
