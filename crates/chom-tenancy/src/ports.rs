//! Storage ports of the tenancy context.

use crate::model::{
    Membership, Organization, OrganizationStatus, SessionRecord, Tenant, TenantStatus,
};
use crate::plans::PlanCode;
use async_trait::async_trait;
use chom_auth::{ApprovalStatus, User};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// Organizations, tenants and memberships.
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// Stores an organization with its default tenant.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn insert_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: &Organization,
        default_tenant: &Tenant,
    ) -> Result<(), StoreError>;

    /// One organization.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError>;

    /// A page of organizations, newest first (ids are time-ordered), optionally only those
    /// with an approval status: at most `limit`, created before `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_organizations(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<Organization>, StoreError>;

    /// Records a decision on the sign-up.
    ///
    /// # Errors
    /// `NotFound`.
    async fn decide_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        id: OrganizationId,
        status: ApprovalStatus,
        reason: Option<&str>,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Suspends or reactivates.
    ///
    /// # Errors
    /// `NotFound`.
    async fn set_organization_status(
        &self,
        uow: &mut dyn UnitOfWork,
        id: OrganizationId,
        status: OrganizationStatus,
    ) -> Result<(), StoreError>;

    /// Renames.
    ///
    /// # Errors
    /// `NotFound`.
    async fn rename_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        id: OrganizationId,
        name: &str,
    ) -> Result<(), StoreError>;

    /// One tenant.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;

    /// A page of the tenants of an organization, or of every organization, newest first (ids
    /// are time-ordered): at most `limit`, created before `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_tenants(
        &self,
        org: Option<OrganizationId>,
        before: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<Tenant>, StoreError>;

    /// Selects a plan.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` for an unknown plan.
    async fn select_plan(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        plan: &PlanCode,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Suspends, reactivates or cancels a tenant.
    ///
    /// # Errors
    /// `NotFound`.
    async fn set_tenant_status(
        &self,
        uow: &mut dyn UnitOfWork,
        id: TenantId,
        status: TenantStatus,
    ) -> Result<(), StoreError>;

    /// Adds a member.
    ///
    /// # Errors
    /// `Conflict` when already a member.
    async fn insert_membership(
        &self,
        uow: &mut dyn UnitOfWork,
        m: &Membership,
    ) -> Result<(), StoreError>;

    /// The user's membership.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn membership_of(&self, user: UserId) -> Result<Option<Membership>, StoreError>;

    /// The user's membership of `org`, if any.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn membership_in(
        &self,
        user: UserId,
        org: OrganizationId,
    ) -> Result<Option<Membership>, StoreError>;

    /// Removes a member inside `uow` (the organization's row locked for the transaction);
    /// returns the owners left afterwards, so the caller can refuse (roll back) a removal that
    /// leaves none.
    ///
    /// # Errors
    /// `NotFound` when `user` is not a member of `org`.
    async fn delete_membership(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        user: UserId,
    ) -> Result<i64, StoreError>;

    /// The members of an organization.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_members(&self, org: OrganizationId) -> Result<Vec<Membership>, StoreError>;

    /// A page of an organization's members with their users, by user id (oldest account
    /// first): at most `limit`, after the user `after` when given. Never a user of another
    /// organization.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn page_members(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, StoreError>;

    /// Changes a member's role inside `uow`; returns the owners left afterwards, so the caller
    /// can refuse (roll back) a change that leaves none. The row is locked for the transaction.
    ///
    /// # Errors
    /// `NotFound` when `user` is not a member of `org`.
    async fn set_role(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        user: UserId,
        role: Role,
    ) -> Result<i64, StoreError>;

    /// Every member's user id (to revoke their tokens on suspension).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn member_ids(&self, org: OrganizationId) -> Result<Vec<UserId>, StoreError>;
}

/// Reads what authentication needs about a token in one round trip.
#[async_trait]
pub trait SessionLookup: Send + Sync {
    /// The token with its user, membership and organization.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn session(&self, token_id: Uuid) -> Result<Option<SessionRecord>, StoreError>;
}
