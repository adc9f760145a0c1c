//! Accepting an invitation: an existing user joins (their account's e-mail must be the invited
//! one), or a new person signs up through the link (no approval: the organization is approved,
//! and the link proves the address).

use super::{Team, TeamError};
use crate::model::{Invitation, InvitationStatus};
use chom_auth::{ApprovalStatus, EmailAddress, NewUser, Password, PersonName, Username};
use chom_kernel::audit::{Actor, AuditEvent, Origin};
use chom_kernel::crypto::sha256;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{Conflict, StoreError, UserId};
use chom_tenancy::identity::{Session, insert_new_user};
use chom_tenancy::model::Membership;
use time::OffsetDateTime;

/// The account a new person signs up with through an invitation.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Username.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Password.
    pub password: String,
}

/// Who accepts.
#[derive(Debug)]
pub enum Acceptor<'a> {
    /// A logged-in user.
    Existing(&'a Session),
    /// A new person, with the account to create; where the request came from.
    New(NewAccount, Origin),
}

impl Team {
    /// Accepts the invitation whose token is `token`: the new member joins with its role.
    /// Returns the invitation and the member's user id.
    ///
    /// # Errors
    /// `InvitationNotFound`, `InvitationExpired`, `InvitationRevoked`, `InvitationUsed`,
    /// `EmailMismatch`, `AlreadyMember`, `AccountExists`, `Invalid` (the new account),
    /// `Identity` (username taken…), `Store`.
    #[tracing::instrument(name = "team.accept", skip_all)]
    pub async fn accept(
        &self,
        token: &str,
        who: Acceptor<'_>,
    ) -> Result<(Invitation, UserId), TeamError> {
        let invitation = self
            .team
            .invitation_by_token(&sha256(token.trim().as_bytes()))
            .await?
            .ok_or(TeamError::InvitationNotFound)?;
        let now = OffsetDateTime::now_utc();
        refuse_unless_pending(&invitation, now)?;
        let org = invitation.organization_id;
        let invited =
            EmailAddress::parse(&invitation.email).map_err(|_| TeamError::InvitationNotFound)?;
        let (user_id, actor, new_user) = match who {
            Acceptor::Existing(session) => {
                if !session
                    .user
                    .email
                    .as_str()
                    .eq_ignore_ascii_case(&invitation.email)
                {
                    return Err(TeamError::EmailMismatch);
                }
                if self
                    .identity
                    .orgs
                    .membership_in(session.user_id, org)
                    .await?
                    .is_some()
                {
                    return Err(TeamError::AlreadyMember);
                }
                let actor = Actor::user(session.user_id, Some(org), session.origin.clone());
                (session.user_id, actor, None)
            }
            Acceptor::New(account, origin) => {
                if self
                    .identity
                    .users
                    .find_user_by_email(&invited)
                    .await?
                    .is_some()
                {
                    return Err(TeamError::AccountExists);
                }
                let user = self.new_user(account, invited, now).await?;
                let actor = Actor::user(user.id, Some(org), origin);
                (user.id, actor, Some(user))
            }
        };
        let mut uow = self.identity.store.begin().await?;
        if let Some(user) = &new_user {
            insert_new_user(&self.identity, uow.as_mut(), user).await?;
        }
        if !self
            .team
            .accept_invitation(uow.as_mut(), invitation.id, user_id, now)
            .await?
        {
            // Taken meanwhile (another acceptance, a revocation): say which.
            drop(uow);
            let current = self
                .team
                .invitation(invitation.id)
                .await?
                .ok_or(TeamError::InvitationNotFound)?;
            refuse_unless_pending(&current, OffsetDateTime::now_utc())?;
            return Err(TeamError::InvitationUsed);
        }
        self.join(uow.as_mut(), &invitation, user_id).await?;
        let event = AuditEvent::new(&actor, "invitation.accept", "invitation", invitation.id)
            .with_summary(serde_json::json!({
                "email": invitation.email,
                "role": invitation.role.as_str(),
                "user_id": user_id,
                "new_account": new_user.is_some(),
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.session_changed();
        Ok((invitation, user_id))
    }

    async fn join(
        &self,
        uow: &mut dyn UnitOfWork,
        invitation: &Invitation,
        user: UserId,
    ) -> Result<(), TeamError> {
        let membership = Membership {
            user_id: user,
            organization_id: invitation.organization_id,
            role: invitation.role,
        };
        match self.identity.orgs.insert_membership(uow, &membership).await {
            Err(StoreError::Conflict(Conflict { .. })) => Err(TeamError::AlreadyMember),
            other => Ok(other?),
        }
    }

    /// The account of a new person: validated, approved, its e-mail verified by the link.
    async fn new_user(
        &self,
        account: NewAccount,
        email: EmailAddress,
        now: OffsetDateTime,
    ) -> Result<NewUser, TeamError> {
        let mut errors = Vec::new();
        let username = Username::parse(&account.username)
            .map_err(|e| errors.push(("username", e)))
            .ok();
        let first = PersonName::parse(&account.first_name)
            .map_err(|e| errors.push(("first_name", e)))
            .ok();
        let last = PersonName::parse(&account.last_name)
            .map_err(|e| errors.push(("last_name", e)))
            .ok();
        let password = Password::new(
            &account.password,
            &[email.as_str(), account.username.trim()],
        )
        .map_err(|e| errors.push(("password", e)))
        .ok();
        let (Some(username), Some(first_name), Some(last_name), Some(password)) =
            (username, first, last, password)
        else {
            return Err(TeamError::Invalid(errors));
        };
        Ok(NewUser {
            id: UserId::new(),
            username,
            email,
            first_name,
            last_name,
            password_hash: self.identity.hashing.hash(password.expose()).await?,
            is_super_admin: false,
            approval: ApprovalStatus::Approved,
            email_verified_at: Some(now),
        })
    }
}

fn refuse_unless_pending(i: &Invitation, now: OffsetDateTime) -> Result<(), TeamError> {
    match i.status(now) {
        InvitationStatus::Pending => Ok(()),
        InvitationStatus::Accepted => Err(TeamError::InvitationUsed),
        InvitationStatus::Revoked => Err(TeamError::InvitationRevoked),
        InvitationStatus::Expired => Err(TeamError::InvitationExpired),
    }
}
