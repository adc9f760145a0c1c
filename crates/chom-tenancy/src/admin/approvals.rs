//! Approvals: the queue of pending sign-ups and a super admin's decisions on users and
//! organizations (approve, reject with a reason), with the decision e-mails.

use super::{Administration, not_found, operator_of};
use crate::identity::{IdentityError, Invalidate, user_job};
use crate::model::Organization;
use chom_auth::mail::jobs as mail_jobs;
use chom_auth::{ApprovalStatus, FieldError, User};
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::{OrganizationId, Role, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// A sign-up waiting for a super admin's decision.
#[derive(Debug, Clone)]
pub enum Approval {
    /// A pending user.
    User(User),
    /// A pending organization.
    Organization(Organization),
}

impl Approval {
    /// The user's or the organization's id.
    #[must_use]
    pub fn id(&self) -> Uuid {
        match self {
            Self::User(u) => u.id.as_uuid(),
            Self::Organization(o) => o.id.as_uuid(),
        }
    }
}

fn reason_of(reason: &str) -> Result<String, IdentityError> {
    let r = reason.trim();
    if r.chars().count() < 10 || r.chars().count() > 1000 {
        return Err(IdentityError::Invalid(vec![(
            "reason",
            FieldError::new(
                "OUT_OF_RANGE",
                "a reason of 10 to 1000 characters is required",
            ),
        )]));
    }
    Ok(r.to_owned())
}

impl Administration {
    /// A page of the sign-ups waiting for a decision, pending users and pending organizations
    /// together, newest first: at most `limit`, created before the id `before` when given.
    /// Users' and organizations' ids are both time-ordered UUIDs, so the two tables page as one
    /// sequence: each side is read up to `limit` past the cursor, and the merge keeps the newest.
    ///
    /// # Errors
    /// `Store`.
    pub async fn approvals(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Approval>, IdentityError> {
        let pending = Some(ApprovalStatus::Pending);
        let users = self
            .ports
            .users
            .list_users(pending, before.map(UserId::from_uuid), limit)
            .await?;
        let orgs = self
            .ports
            .orgs
            .list_organizations(pending, before.map(OrganizationId::from_uuid), limit)
            .await?;
        let mut all: Vec<Approval> = users
            .into_iter()
            .map(Approval::User)
            .chain(orgs.into_iter().map(Approval::Organization))
            .collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.id()));
        all.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(all)
    }

    /// Approves a user; a pending organization they own is approved with them (the usual
    /// sign-up). The user is e-mailed.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (already decided), `Store`.
    pub async fn approve_user(
        &self,
        actor: &Actor,
        user: UserId,
        note: Option<&str>,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let admin = operator_of(actor)?;
        let target = self
            .ports
            .users
            .get_user(user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if target.approval == ApprovalStatus::Approved {
            return Err(IdentityError::Conflict(
                "the user is already approved".into(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let membership = self.ports.orgs.membership_of(user).await?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .decide_user(
                uow.as_mut(),
                user,
                ApprovalStatus::Approved,
                note,
                admin,
                now,
            )
            .await
            .map_err(not_found)?;
        let mut org_approved = None;
        if let Some(m) = &membership
            && m.role == Role::Owner
            && let Some(org) = self.ports.orgs.get_organization(m.organization_id).await?
            && org.approval == ApprovalStatus::Pending
        {
            org_approved = Some(org.id);
            self.ports
                .orgs
                .decide_organization(
                    uow.as_mut(),
                    org.id,
                    ApprovalStatus::Approved,
                    note,
                    admin,
                    now,
                )
                .await?;
        }
        uow.enqueue(user_job(
            mail_jobs::SEND_DECISION,
            user,
            Some(true),
            note.map(ToOwned::to_owned),
        ))
        .await?;
        let event = AuditEvent::new(actor, "user.approve", "user", user)
            .in_organization(membership.map(|m| m.organization_id))
            .with_summary(serde_json::json!({
                "username": target.username.as_str(),
                "note": note,
                "organization_approved": org_approved,
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Rejects a user (reason kept, e-mail remembered and refused at the next sign-up, tokens
    /// revoked, user e-mailed); a pending organization they own is rejected with them.
    ///
    /// # Errors
    /// `Invalid` (reason), `NotFound`, `Store`.
    pub async fn reject_user(
        &self,
        actor: &Actor,
        user: UserId,
        reason: &str,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let admin = operator_of(actor)?;
        let reason = reason_of(reason)?;
        let target = self
            .ports
            .users
            .get_user(user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if target.is_super_admin {
            return Err(IdentityError::Forbidden(
                "super admins cannot be rejected".into(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let membership = self.ports.orgs.membership_of(user).await?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .decide_user(
                uow.as_mut(),
                user,
                ApprovalStatus::Rejected,
                Some(&reason),
                admin,
                now,
            )
            .await
            .map_err(not_found)?;
        self.ports
            .users
            .remember_rejected_email(uow.as_mut(), &target.email, &reason)
            .await?;
        self.ports
            .tokens
            .revoke_all_tokens(uow.as_mut(), user, now)
            .await?;
        let mut org_rejected = None;
        if let Some(m) = &membership
            && m.role == Role::Owner
            && let Some(org) = self.ports.orgs.get_organization(m.organization_id).await?
            && org.approval == ApprovalStatus::Pending
        {
            org_rejected = Some(org.id);
            self.ports
                .orgs
                .decide_organization(
                    uow.as_mut(),
                    org.id,
                    ApprovalStatus::Rejected,
                    Some(&reason),
                    admin,
                    now,
                )
                .await?;
        }
        uow.enqueue(user_job(
            mail_jobs::SEND_DECISION,
            user,
            Some(false),
            Some(reason.clone()),
        ))
        .await?;
        let event = AuditEvent::new(actor, "user.reject", "user", user)
            .in_organization(membership.map(|m| m.organization_id))
            .with_summary(serde_json::json!({
                "username": target.username.as_str(),
                "reason": reason,
                "organization_rejected": org_rejected,
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Approves or rejects an organization; its owners are e-mailed.
    ///
    /// # Errors
    /// `Invalid` (reason for a rejection), `NotFound`, `Store`.
    pub async fn decide_organization(
        &self,
        actor: &Actor,
        org: OrganizationId,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let admin = operator_of(actor)?;
        let reason = match (approve, reason) {
            (false, r) => Some(reason_of(r.unwrap_or_default())?),
            (true, r) => r.map(ToOwned::to_owned),
        };
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        let now = OffsetDateTime::now_utc();
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .decide_organization(uow.as_mut(), org, status, reason.as_deref(), admin, now)
            .await
            .map_err(not_found)?;
        for m in self.ports.orgs.list_members(org).await? {
            if !approve {
                self.ports
                    .tokens
                    .revoke_all_tokens(uow.as_mut(), m.user_id, now)
                    .await?;
            }
            if m.role == Role::Owner {
                uow.enqueue(user_job(
                    mail_jobs::SEND_DECISION,
                    m.user_id,
                    Some(approve),
                    reason.clone(),
                ))
                .await?;
            }
        }
        let action = if approve {
            "organization.approve"
        } else {
            "organization.reject"
        };
        let event = AuditEvent::new(actor, action, "organization", org)
            .in_organization(Some(org))
            .with_summary(serde_json::json!({ "reason": reason }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }
}
