//! Response shapes shared by several routes. Secrets never appear here.

use chom_auth::User;
use chom_tenancy::model::{Organization, Tenant};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// `pending`, `approved`, `rejected`.
    pub approval_status: String,
    /// Why it was rejected, or approval notes.
    pub approval_reason: Option<String>,
    /// When the e-mail was verified.
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    /// Whether 2FA is on.
    pub two_factor_enabled: bool,
    /// Platform operator.
    pub is_super_admin: bool,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            email: u.email.to_string(),
            first_name: u.first_name.to_string(),
            last_name: u.last_name.to_string(),
            approval_status: u.approval.as_str().to_owned(),
            approval_reason: u.approval_reason.clone(),
            email_verified_at: u.email_verified_at,
            two_factor_enabled: u.two_factor_enabled(),
            is_super_admin: u.is_super_admin,
            created_at: u.created_at,
        }
    }
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// `pending`, `approved`, `rejected`.
    pub approval_status: String,
    /// Why it was rejected, or approval notes.
    pub approval_reason: Option<String>,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            status: o.status.as_str().to_owned(),
            approval_status: o.approval.as_str().to_owned(),
            approval_reason: o.approval_reason.clone(),
            created_at: o.created_at,
        }
    }
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Id (send it as `X-Tenant-Id` to act for this tenant).
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Name.
    pub name: String,
    /// The organization's default tenant.
    pub is_default: bool,
    /// `active`, `suspended`, `cancelled`.
    pub status: String,
    /// Selected plan code; `null` until one is selected.
    pub plan: Option<String>,
    /// When the plan was selected.
    #[serde(with = "time::serde::rfc3339::option")]
    pub plan_selected_at: Option<OffsetDateTime>,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            organization_id: t.organization_id.to_string(),
            name: t.name.clone(),
            is_default: t.is_default,
            status: t.status.as_str().to_owned(),
            plan: t.plan_code.as_ref().map(ToString::to_string),
            plan_selected_at: t.plan_selected_at,
        }
    }
}
