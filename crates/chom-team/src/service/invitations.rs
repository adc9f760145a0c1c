//! Inviting: making, listing, re-sending and revoking invitations (owners and admins). The
//! e-mail, with the token, is sent by the [`SEND_INVITATION`] job, which mints the token.

use super::{Team, TeamError, authorize};
use crate::model::{INVITATION_LIFETIME, Invitation};
use crate::policy::Action;
use chom_auth::{EmailAddress, FieldError};
use chom_kernel::audit::AuditEvent;
use chom_kernel::jobs::NewJob;
use chom_kernel::{
    Conflict, InvitationId, OrganizationId, Role, StoreError, TenantContext, UniqueKey,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `{invitation_id}`: mint a token for an open invitation and e-mail the link.
pub const SEND_INVITATION: &str = "team::send_invitation";

/// The mail job's payload: ids only (the handler mints the token; no secret in the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationJob {
    /// The invitation.
    pub invitation_id: InvitationId,
}

pub(crate) fn invitation_job(id: InvitationId, request_id: Option<String>) -> NewJob {
    let payload = serde_json::to_value(InvitationJob { invitation_id: id }).unwrap_or_default();
    NewJob::new(SEND_INVITATION, payload)
        .max_attempts(8)
        .request_id(request_id)
}

impl Team {
    /// Invites `email` into the caller's organization with `role` (owners and admins; only
    /// owners invite owners). Refused when the address is a member or has an open invitation,
    /// or when the plan's seats (members plus open invitations) are taken.
    ///
    /// # Errors
    /// `Forbidden`, `Invalid`, `AlreadyMember`, `AlreadyInvited`, `SeatLimit`, `Store`.
    #[tracing::instrument(name = "team.invite", skip_all, fields(org = %ctx.organization_id()))]
    pub async fn invite(
        &self,
        ctx: &TenantContext,
        email: &str,
        role: &str,
    ) -> Result<Invitation, TeamError> {
        authorize(ctx, Action::ManageMembers)?;
        let mut errors = Vec::new();
        let address = EmailAddress::parse(email)
            .map_err(|e| errors.push(("email", e)))
            .ok();
        let role = Role::parse(role.trim())
            .ok_or_else(|| {
                errors.push((
                    "role",
                    FieldError::new("INVALID_VALUE", "owner, admin, member or viewer"),
                ));
            })
            .ok();
        let (Some(address), Some(role)) = (address, role) else {
            return Err(TeamError::Invalid(errors));
        };
        if role == Role::Owner && ctx.role() != Role::Owner {
            return Err(TeamError::Forbidden(
                "only an owner can invite an owner".into(),
            ));
        }
        let org = ctx.organization_id();
        let email = address.as_str().to_ascii_lowercase();
        if let Some(user) = self.identity.users.find_user_by_email(&address).await?
            && self
                .identity
                .orgs
                .membership_in(user.id, org)
                .await?
                .is_some()
        {
            return Err(TeamError::AlreadyMember);
        }
        let seats = self.seats(org).await?;
        let now = chom_kernel::audit::now_ms();
        let invitation = Invitation {
            id: InvitationId::new(),
            organization_id: org,
            email,
            role,
            invited_by: Some(ctx.user_id()),
            created_at: now,
            expires_at: now + INVITATION_LIFETIME,
            sent_at: None,
            send_count: 0,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        let mut uow = self.identity.store.begin().await?;
        let taken = self.team.seats_taken(uow.as_mut(), org, now).await?;
        if let Some(max) = seats
            && taken >= i64::from(max)
        {
            return Err(TeamError::SeatLimit(max));
        }
        self.team
            .insert_invitation(uow.as_mut(), &invitation)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Conflict {
                    key: Some(UniqueKey::InvitationOpenEmail),
                    ..
                }) => TeamError::AlreadyInvited,
                other => other.into(),
            })?;
        uow.enqueue(invitation_job(
            invitation.id,
            ctx.origin().request_id.clone(),
        ))
        .await?;
        let event = AuditEvent::new(
            &ctx.actor(),
            "invitation.create",
            "invitation",
            invitation.id,
        )
        .with_summary(serde_json::json!({
            "email": invitation.email,
            "role": role.as_str(),
        }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(invitation)
    }

    /// The seats of the organization's plan (its default tenant's); `None` is unlimited. An
    /// organization without a plan has one seat: its owner.
    async fn seats(&self, org: OrganizationId) -> Result<Option<i32>, TeamError> {
        let tenants = self
            .identity
            .orgs
            .list_tenants(Some(org), None, 100)
            .await?;
        let plan = match tenants
            .iter()
            .find(|t| t.is_default)
            .and_then(|t| t.plan_code.as_ref())
        {
            Some(code) => self.plans.find(code).await?,
            None => return Ok(Some(1)),
        };
        Ok(plan.and_then(|p| p.max_members))
    }

    /// A page of the organization's invitations, newest first (any member reads them).
    ///
    /// # Errors
    /// `Store`.
    pub async fn invitations(
        &self,
        ctx: &TenantContext,
        before: Option<InvitationId>,
        limit: i64,
    ) -> Result<Vec<Invitation>, TeamError> {
        authorize(ctx, Action::ViewOrganization)?;
        Ok(self
            .team
            .page_invitations(ctx.organization_id(), before, limit)
            .await?)
    }

    /// Sends an open invitation's e-mail again: a new token (the previous link stops working)
    /// valid 7 days from the new e-mail.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (foreign or unknown), `InvalidState` (accepted or revoked),
    /// `Store`.
    pub async fn resend(
        &self,
        ctx: &TenantContext,
        id: InvitationId,
    ) -> Result<Invitation, TeamError> {
        authorize(ctx, Action::ManageMembers)?;
        let invitation = self
            .team
            .get_invitation(ctx.organization_id(), id)
            .await?
            .ok_or(TeamError::NotFound)?;
        if !invitation.is_open() {
            return Err(TeamError::InvalidState(format!(
                "the invitation is {}",
                invitation.status(OffsetDateTime::now_utc()).as_str()
            )));
        }
        if invitation.role == Role::Owner && ctx.role() != Role::Owner {
            return Err(TeamError::Forbidden(
                "only an owner can invite an owner".into(),
            ));
        }
        let mut uow = self.identity.store.begin().await?;
        uow.enqueue(invitation_job(id, ctx.origin().request_id.clone()))
            .await?;
        let event = AuditEvent::new(&ctx.actor(), "invitation.resend", "invitation", id)
            .with_summary(serde_json::json!({"email": invitation.email}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(invitation)
    }

    /// Revokes an open invitation: its link stops working at once. Revoking a revoked one
    /// changes nothing.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `InvalidState` (accepted), `Store`.
    pub async fn revoke(&self, ctx: &TenantContext, id: InvitationId) -> Result<(), TeamError> {
        authorize(ctx, Action::ManageMembers)?;
        let org = ctx.organization_id();
        let invitation = self
            .team
            .get_invitation(org, id)
            .await?
            .ok_or(TeamError::NotFound)?;
        if invitation.accepted_at.is_some() {
            return Err(TeamError::InvalidState(
                "the invitation was accepted: remove the member instead".into(),
            ));
        }
        if invitation.revoked_at.is_some() {
            return Ok(());
        }
        let mut uow = self.identity.store.begin().await?;
        if !self
            .team
            .revoke_invitation(uow.as_mut(), org, id, OffsetDateTime::now_utc())
            .await?
        {
            return Err(TeamError::InvalidState(
                "the invitation changed meanwhile".into(),
            ));
        }
        let event = AuditEvent::new(&ctx.actor(), "invitation.revoke", "invitation", id)
            .with_summary(serde_json::json!({"email": invitation.email}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }
}
