//! The user.

use crate::password::PasswordHash;
use crate::values::{EmailAddress, PersonName, Username};
use chom_kernel::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

chom_kernel::str_enum! {
    /// Where a sign-up (user or organization) stands with the super admins.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum ApprovalStatus: "approval status" {
        /// Waiting for a decision.
        Pending = "pending",
        /// Approved.
        Approved = "approved",
        /// Rejected (the reason is kept).
        Rejected = "rejected",
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique username.
    pub username: Username,
    /// Unique e-mail.
    pub email: EmailAddress,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// argon2id hash.
    pub password_hash: PasswordHash,
    /// Platform operator.
    pub is_super_admin: bool,
    /// Approval of the sign-up.
    pub approval: ApprovalStatus,
    /// Why it was rejected (or approval notes).
    pub approval_reason: Option<String>,
    /// When the e-mail was verified.
    pub email_verified_at: Option<OffsetDateTime>,
    /// Last password change: tokens issued before it are dead.
    pub password_changed_at: OffsetDateTime,
    /// Sealed TOTP secret (set during enrolment, active once `totp_enabled_at` is set).
    pub totp_secret_sealed: Option<String>,
    /// When 2FA was confirmed.
    pub totp_enabled_at: Option<OffsetDateTime>,
    /// Last accepted TOTP step (replay protection).
    pub totp_last_step: Option<i64>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl User {
    /// Whether two-factor authentication is on.
    #[must_use]
    pub fn two_factor_enabled(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Id.
    pub id: UserId,
    /// Username.
    pub username: Username,
    /// E-mail.
    pub email: EmailAddress,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// Hash.
    pub password_hash: PasswordHash,
    /// Super admin (bootstrap only).
    pub is_super_admin: bool,
    /// Initial approval (super admins are created approved).
    pub approval: ApprovalStatus,
    /// Verified at creation (super admins).
    pub email_verified_at: Option<OffsetDateTime>,
}
