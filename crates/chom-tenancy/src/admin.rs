//! Super-admin and organization use cases: approvals, suspension, plan selection, renaming,
//! role changes.

use crate::identity::{
    FieldErrors, IdentityError, IdentityPorts, Invalidate, insert_new_user, user_job,
};
use crate::model::{Membership, Organization, OrganizationStatus, Tenant, TenantStatus};
use crate::plans::{PlanCode, PlanRepository};
use crate::session_cache::SessionCache;
use chom_auth::mail::jobs as mail_jobs;
use chom_auth::{ApprovalStatus, FieldError, PersonName, User};
use chom_kernel::jobs::NewJob;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The event job enqueued with every tenant status change (site-hosting handles it: a
/// suspended tenant's sites are disabled on their servers, a reactivated one's re-enabled).
pub const TENANT_STATUS_CHANGED: &str = "tenancy::tenant_status_changed";

async fn enqueue_status_event(
    uow: &mut dyn chom_kernel::store::UnitOfWork,
    tenant: TenantId,
    status: TenantStatus,
) -> Result<(), StoreError> {
    let event = serde_json::to_value(TenantStatusChanged {
        tenant_id: tenant,
        status,
    })
    .map_err(|e| StoreError::Unexpected(e.into()))?;
    uow.enqueue(NewJob::new(TENANT_STATUS_CHANGED, event).tenant(tenant))
        .await?;
    Ok(())
}

/// Payload of [`TENANT_STATUS_CHANGED`]. Handlers should act on the tenant's status as it is
/// when they run (events of quick successive changes may be handled out of order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantStatusChanged {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its new status.
    pub status: TenantStatus,
}

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

    /// Creates a super admin (bootstrap: `chom-api admin create`). Approved and verified, in no
    /// organization. There are no default credentials anywhere.
    ///
    /// # Errors
    /// `Invalid`, `EmailTaken`, `UsernameTaken`, `Store`.
    pub async fn create_super_admin(
        &self,
        username: &str,
        first_name: &str,
        last_name: &str,
        email: &str,
        password: &str,
    ) -> Result<User, IdentityError> {
        let mut errors = FieldErrors::new();
        let username = chom_auth::Username::parse(username)
            .map_err(|e| errors.push(("username", e)))
            .ok();
        let first = PersonName::parse(first_name)
            .map_err(|e| errors.push(("first_name", e)))
            .ok();
        let last = PersonName::parse(last_name)
            .map_err(|e| errors.push(("last_name", e)))
            .ok();
        let address = chom_auth::EmailAddress::parse(email)
            .map_err(|e| errors.push(("email", e)))
            .ok();
        let pw = chom_auth::Password::new(
            password,
            &[email, username.as_ref().map_or("", |u| u.as_str())],
        )
        .map_err(|e| errors.push(("password", e)))
        .ok();
        let (Some(username), Some(first_name), Some(last_name), Some(email), Some(pw)) =
            (username, first, last, address, pw)
        else {
            return Err(IdentityError::Invalid(errors));
        };
        let now = OffsetDateTime::now_utc();
        let user = chom_auth::NewUser {
            id: UserId::new(),
            username,
            email,
            first_name,
            last_name,
            password_hash: self.ports.hashing.hash(pw.expose()).await?,
            is_super_admin: true,
            approval: ApprovalStatus::Approved,
            email_verified_at: Some(now),
        };
        let mut uow = self.ports.store.begin().await?;
        insert_new_user(&self.ports, uow.as_mut(), &user).await?;
        uow.commit().await?;
        self.ports
            .users
            .get_user(user.id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

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

    /// A page of every user, newest first: at most `limit`, created before `before` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn users(
        &self,
        before: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<User>, IdentityError> {
        Ok(self.ports.users.list_users(None, before, limit).await?)
    }

    /// A page of every organization, newest first: at most `limit`, created before `before`
    /// when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn organizations(
        &self,
        before: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<Organization>, IdentityError> {
        Ok(self
            .ports
            .orgs
            .list_organizations(None, before, limit)
            .await?)
    }

    /// A page of every tenant, newest first: at most `limit`, created before `before` when
    /// given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn tenants(
        &self,
        before: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<Tenant>, IdentityError> {
        Ok(self.ports.orgs.list_tenants(None, before, limit).await?)
    }

    /// Approves a user; a pending organization they own is approved with them (the usual
    /// sign-up). The user is e-mailed.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (already decided), `Store`.
    pub async fn approve_user(
        &self,
        admin: UserId,
        user: UserId,
        note: Option<&str>,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
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
        if let Some(m) = self.ports.orgs.membership_of(user).await?
            && m.role == Role::Owner
            && let Some(org) = self.ports.orgs.get_organization(m.organization_id).await?
            && org.approval == ApprovalStatus::Pending
        {
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
        admin: UserId,
        user: UserId,
        reason: &str,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
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
        if let Some(m) = self.ports.orgs.membership_of(user).await?
            && m.role == Role::Owner
            && let Some(org) = self.ports.orgs.get_organization(m.organization_id).await?
            && org.approval == ApprovalStatus::Pending
        {
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
            Some(reason),
        ))
        .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Approves or rejects an organization; its owners are e-mailed.
    ///
    /// # Errors
    /// `Invalid` (reason for a rejection), `NotFound`, `Store`.
    pub async fn decide_organization(
        &self,
        admin: UserId,
        org: OrganizationId,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
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
        uow.commit().await?;
        Ok(())
    }

    /// Suspends (revoking every member's tokens) or reactivates an organization.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn set_organization_status(
        &self,
        org: OrganizationId,
        status: OrganizationStatus,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        // Reads through the pool before the unit of work holds a connection.
        let members = if status == OrganizationStatus::Suspended {
            self.ports.orgs.member_ids(org).await?
        } else {
            Vec::new()
        };
        let tenants = self
            .ports
            .orgs
            .list_tenants(Some(org), None, 100_000)
            .await?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .set_organization_status(uow.as_mut(), org, status)
            .await
            .map_err(not_found)?;
        for user in members {
            self.ports
                .tokens
                .revoke_all_tokens(uow.as_mut(), user, now)
                .await?;
        }
        // Every tenant's sites follow the organization.
        for tenant in tenants {
            let effective = if status == OrganizationStatus::Suspended {
                TenantStatus::Suspended
            } else {
                tenant.status
            };
            enqueue_status_event(uow.as_mut(), tenant.id, effective).await?;
        }
        uow.commit().await?;
        Ok(())
    }

    /// Suspends, reactivates or cancels a tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn set_tenant_status(
        &self,
        tenant: TenantId,
        status: TenantStatus,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .set_tenant_status(uow.as_mut(), tenant, status)
            .await
            .map_err(not_found)?;
        // Sites follow (site-hosting disables or re-enables them on their servers).
        enqueue_status_event(uow.as_mut(), tenant, status).await?;
        uow.commit().await?;
        Ok(())
    }

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
        org: OrganizationId,
        name: &str,
    ) -> Result<Organization, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let name =
            PersonName::parse(name).map_err(|e| IdentityError::Invalid(vec![("name", e)]))?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .rename_organization(uow.as_mut(), org, name.as_str())
            .await
            .map_err(not_found)?;
        uow.commit().await?;
        self.ports
            .orgs
            .get_organization(org)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Selects a plan for a tenant (the free path: billing off).
    ///
    /// # Errors
    /// `Invalid` (unknown or retired plan), `NotFound`, `Store`.
    pub async fn select_plan(&self, tenant: TenantId, plan: &str) -> Result<Tenant, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let invalid =
            |m: &str| IdentityError::Invalid(vec![("plan", FieldError::new("INVALID_VALUE", m))]);
        let code = PlanCode::parse(plan).map_err(|_| invalid("not a plan code"))?;
        match self.plans.find(&code).await? {
            Some(p) if p.is_active => {}
            _ => return Err(invalid("no such plan on offer (see GET /api/v1/plans)")),
        }
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .orgs
            .select_plan(uow.as_mut(), tenant, &code, OffsetDateTime::now_utc())
            .await
            .map_err(not_found)?;
        uow.commit().await?;
        self.ports
            .orgs
            .get_tenant(tenant)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// A page of an organization's members with their users, oldest account first: at most
    /// `limit`, after the user `after` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn members_page(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, IdentityError> {
        Ok(self.ports.orgs.page_members(org, after, limit).await?)
    }

    /// Every member of an organization.
    ///
    /// # Errors
    /// `Store`.
    pub async fn members(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<(Membership, Option<User>)>, IdentityError> {
        let mut out = Vec::new();
        for m in self.ports.orgs.list_members(org).await? {
            let user = self.ports.users.get_user(m.user_id).await?;
            out.push((m, user));
        }
        Ok(out)
    }

    /// Changes a member's role under the team policy (checked by the caller with
    /// `chom_team::check_role_change`); refuses to leave the organization without an owner.
    ///
    /// # Errors
    /// `NotFound` (not a member of `org`), `Conflict` (last owner), `Store`.
    pub async fn set_role(
        &self,
        org: OrganizationId,
        user: UserId,
        role: Role,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let mut uow = self.ports.store.begin().await?;
        let owners_left = self
            .ports
            .orgs
            .set_role(uow.as_mut(), org, user, role)
            .await
            .map_err(not_found)?;
        if owners_left < 1 {
            uow.rollback().await?;
            return Err(IdentityError::Conflict(
                "the last owner cannot be demoted; make someone else owner first".into(),
            ));
        }
        uow.commit().await?;
        Ok(())
    }
}

/// Validation failure helper for callers.
#[must_use]
pub fn invalid(field: &'static str, code: &'static str, message: &str) -> IdentityError {
    let errors: FieldErrors = vec![(field, FieldError::new(code, message))];
    IdentityError::Invalid(errors)
}
