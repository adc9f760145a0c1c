//! What can go wrong in a team use case. Each variant has a stable API code.

use chom_auth::FieldError;
use chom_kernel::StoreError;
use chom_tenancy::identity::IdentityError;

/// A team use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// The caller's role does not allow it (`FORBIDDEN`).
    #[error("{0}")]
    Forbidden(String),
    /// No such member or invitation in the caller's organization (`NOT_FOUND`).
    #[error("not found")]
    NotFound,
    /// Invalid fields (`VALIDATION_FAILED`).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, FieldError)>),
    /// The address has an open invitation already (`INVITATION_PENDING`): send it again.
    #[error("this address has an open invitation already: resend or revoke it")]
    AlreadyInvited,
    /// The person is a member already (`ALREADY_MEMBER`).
    #[error("already a member of this organization")]
    AlreadyMember,
    /// Members plus open invitations would pass the plan's seats (`SEAT_LIMIT_EXCEEDED`).
    #[error(
        "the plan allows {0} members (open invitations count): upgrade, or revoke an invitation"
    )]
    SeatLimit(i32),
    /// No invitation has this token (`INVITATION_NOT_FOUND`): mistyped, or replaced by a newer
    /// e-mail.
    #[error("no invitation has this token (a newer e-mail may have replaced it)")]
    InvitationNotFound,
    /// The invitation's 7 days are over (`INVITATION_EXPIRED`).
    #[error("the invitation has expired: ask for a new one")]
    InvitationExpired,
    /// The organization revoked it (`INVITATION_REVOKED`).
    #[error("the invitation was revoked")]
    InvitationRevoked,
    /// It was accepted already (`INVITATION_ALREADY_USED`).
    #[error("the invitation was used already")]
    InvitationUsed,
    /// The accepting account's e-mail is not the invited one (`INVITATION_EMAIL_MISMATCH`).
    #[error("this invitation is for another e-mail address")]
    EmailMismatch,
    /// An account exists for the invited address (`ACCOUNT_EXISTS`): log in, then accept.
    #[error("an account exists for this address: log in, then accept with your token")]
    AccountExists,
    /// The change would leave the organization without an owner (`LAST_OWNER`).
    #[error("the last owner cannot leave, be removed or be demoted: make someone else owner first")]
    LastOwner,
    /// The state does not allow it (`INVALID_STATE`).
    #[error("{0}")]
    InvalidState(String),
    /// Creating the invited account failed (taken username, …).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::policy::RoleChangeError> for TeamError {
    fn from(e: crate::policy::RoleChangeError) -> Self {
        match e {
            crate::policy::RoleChangeError::Forbidden(m) => Self::Forbidden(m.to_owned()),
            crate::policy::RoleChangeError::LastOwner => Self::LastOwner,
        }
    }
}

impl From<chom_kernel::crypto::CryptoError> for TeamError {
    fn from(e: chom_kernel::crypto::CryptoError) -> Self {
        Self::Store(StoreError::Unexpected(e.into()))
    }
}

impl From<chom_auth::PasswordError> for TeamError {
    fn from(e: chom_auth::PasswordError) -> Self {
        Self::Store(StoreError::Unexpected(e.into()))
    }
}
