//! Organizations, tenants and memberships.

use crate::plans::PlanCode;
use chom_auth::ApprovalStatus;
use chom_kernel::{OrganizationId, Role, TenantId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

chom_kernel::str_enum! {
    /// Whether an organization may use the platform.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OrganizationStatus: "organization status" {
        /// In good standing.
        Active = "active",
        /// Suspended by a super admin (or for non-payment): its tokens are dead.
        Suspended = "suspended",
    }
}

chom_kernel::str_enum! {
    /// A tenant's standing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum TenantStatus: "tenant status" {
        /// In use.
        Active = "active",
        /// Suspended: its sites are disabled.
        Suspended = "suspended",
        /// Cancelled.
        Cancelled = "cancelled",
    }
}

/// The rule "an organization suspended ⇒ its tenants suspended": the status a tenant stands in
/// (and its sites follow) given its organization's status and its own. The one place it is
/// decided; tenancy's events, site creation, site requests and the suspension cascade ask here.
#[must_use]
pub const fn standing(org: OrganizationStatus, tenant: TenantStatus) -> TenantStatus {
    match org {
        OrganizationStatus::Suspended => TenantStatus::Suspended,
        OrganizationStatus::Active => tenant,
    }
}

/// An organization: the customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Standing.
    pub status: OrganizationStatus,
    /// Super-admin approval of the sign-up.
    pub approval: ApprovalStatus,
    /// Reason of a rejection, or approval notes.
    pub approval_reason: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A tenant: billing and isolation unit of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Owner organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// The organization's default tenant.
    pub is_default: bool,
    /// Standing.
    pub status: TenantStatus,
    /// Selected plan.
    pub plan_code: Option<PlanCode>,
    /// When the plan was selected.
    pub plan_selected_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A user's role in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Member.
    pub user_id: UserId,
    /// Organization.
    pub organization_id: OrganizationId,
    /// Role.
    pub role: Role,
}

/// Everything authentication (and `GET /auth/me`) needs about a token, read in one query.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The token.
    pub token: chom_auth::ApiToken,
    /// Its user.
    pub user: chom_auth::User,
    /// Membership (users belong to one organization for now).
    pub membership: Option<SessionMembership>,
}

/// The membership part of a session.
#[derive(Debug, Clone)]
pub struct SessionMembership {
    /// Role.
    pub role: Role,
    /// The organization.
    pub organization: Organization,
    /// Its default tenant.
    pub default_tenant: Option<Tenant>,
}

#[cfg(test)]
mod tests {
    use super::{OrganizationStatus as Org, TenantStatus as T, standing};

    #[test]
    fn a_suspended_organization_suspends_every_tenant_an_active_one_none() {
        let table = [
            (Org::Active, T::Active, T::Active),
            (Org::Active, T::Suspended, T::Suspended),
            (Org::Active, T::Cancelled, T::Cancelled),
            (Org::Suspended, T::Active, T::Suspended),
            (Org::Suspended, T::Suspended, T::Suspended),
            (Org::Suspended, T::Cancelled, T::Suspended),
        ];
        for (org, tenant, expected) in table {
            assert_eq!(standing(org, tenant), expected, "{org:?} × {tenant:?}");
        }
    }
}
