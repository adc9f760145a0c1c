//! Storage ports of the auth context. Writes take the caller's unit of work, so they commit with
//! whatever else the use case changes (and with the jobs it enqueues).

use crate::model::{ApprovalStatus, NewUser, User};
use crate::token::ApiToken;
use crate::values::EmailAddress;
use async_trait::async_trait;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// Users.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// `Conflict` keyed `UniqueKey::UserEmail` or `UniqueKey::UserUsername` when taken.
    async fn insert_user(&self, uow: &mut dyn UnitOfWork, user: &NewUser)
    -> Result<(), StoreError>;

    /// One user.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this e-mail.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError>;

    /// A page of users, newest first (ids are time-ordered), optionally only those with an
    /// approval status: at most `limit`, created before the user `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_users(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError>;

    /// Every super admin.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_super_admins(&self) -> Result<Vec<User>, StoreError>;

    /// Marks the e-mail verified.
    ///
    /// # Errors
    /// `NotFound`.
    async fn mark_email_verified(
        &self,
        uow: &mut dyn UnitOfWork,
        id: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Records a super admin's decision.
    ///
    /// # Errors
    /// `NotFound`.
    async fn decide_user(
        &self,
        uow: &mut dyn UnitOfWork,
        id: UserId,
        status: ApprovalStatus,
        reason: Option<&str>,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Replaces the password hash and stamps `password_changed_at` (older tokens die).
    ///
    /// # Errors
    /// `NotFound`.
    async fn set_password(
        &self,
        uow: &mut dyn UnitOfWork,
        id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Sets the sealed TOTP secret and whether it is enabled (both `None` to disable 2FA).
    ///
    /// # Errors
    /// `NotFound`.
    async fn set_totp(
        &self,
        uow: &mut dyn UnitOfWork,
        id: UserId,
        sealed_secret: Option<&str>,
        enabled_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError>;

    /// Records an accepted TOTP step, atomically refusing one not after the last (replay).
    /// Returns whether it was recorded.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn record_totp_step(&self, id: UserId, step: i64) -> Result<bool, StoreError>;

    /// Stamps the last login.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn touch_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Whether sign-ups from this e-mail were rejected (and counts the attempt).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn check_rejected_email(&self, email: &EmailAddress) -> Result<bool, StoreError>;

    /// Remembers a rejected e-mail so it cannot sign up again.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn remember_rejected_email(
        &self,
        uow: &mut dyn UnitOfWork,
        email: &EmailAddress,
        reason: &str,
    ) -> Result<(), StoreError>;
}

/// API tokens.
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores a token.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn insert_token(
        &self,
        uow: &mut dyn UnitOfWork,
        token: &ApiToken,
    ) -> Result<(), StoreError>;

    /// A page of a user's tokens that are neither revoked nor expired, newest first (ids are
    /// time-ordered): at most `limit`, created before the token `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_tokens(
        &self,
        user: UserId,
        now: OffsetDateTime,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes one of `user`'s tokens. `false` when `user` has no such live token (a foreign id
    /// looks exactly like an unknown one).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn revoke_token(
        &self,
        uow: &mut dyn UnitOfWork,
        user: UserId,
        id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Revokes every live token of `user`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn revoke_all_tokens(
        &self,
        uow: &mut dyn UnitOfWork,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Stamps `last_used_at`, at most once a minute per token.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;
}

chom_kernel::str_enum! {
    /// What a one-time token is for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Purpose: "token purpose" {
        /// E-mail verification (24 h).
        VerifyEmail = "verify_email",
        /// Password reset (60 min).
        ResetPassword = "reset_password",
    }
}

impl Purpose {
    /// Lifetime of a token of this purpose.
    #[must_use]
    pub const fn lifetime(self) -> time::Duration {
        match self {
            Self::VerifyEmail => time::Duration::hours(24),
            Self::ResetPassword => time::Duration::minutes(60),
        }
    }
}

/// Single-use tokens, stored as SHA-256.
#[async_trait]
pub trait OneTimeTokenRepository: Send + Sync {
    /// Stores a token hash, and kills the user's earlier unused tokens of that purpose.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn insert_one_time(
        &self,
        uow: &mut dyn UnitOfWork,
        purpose: Purpose,
        hash: &[u8; 32],
        user: UserId,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Uses a token: returns its user when it exists, is unused and unexpired, and marks it used
    /// in the same statement (two concurrent uses cannot both succeed).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn consume_one_time(
        &self,
        uow: &mut dyn UnitOfWork,
        purpose: Purpose,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError>;
}

/// 2FA recovery codes, stored as SHA-256.
#[async_trait]
pub trait RecoveryCodeRepository: Send + Sync {
    /// Replaces a user's codes (empty slice: removes them).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn replace_recovery_codes(
        &self,
        uow: &mut dyn UnitOfWork,
        user: UserId,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError>;

    /// Uses a code once; `false` when unknown or already used.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn consume_recovery_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
