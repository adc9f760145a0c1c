//! The identity application service: sign-up, e-mail verification, login and the login gate,
//! token authentication, tokens, passwords and 2FA. It lives in tenancy because every gate
//! involves the organization (approval, suspension).

mod password;
mod session;

pub use session::org_gate;
mod signup;
mod tokens;
mod two_factor;

pub use signup::insert_new_user;

use crate::model::{
    Membership, Organization, OrganizationStatus, SessionRecord, Tenant, TenantStatus,
};
use crate::ports::{OrganizationRepository, SessionLookup};
use crate::session_cache::SessionCache;
use chom_auth::mail::jobs as mail_jobs;
use chom_auth::ports::{
    OneTimeTokenRepository, Purpose, RecoveryCodeRepository, TokenRepository, UserRepository,
};
use chom_auth::totp::TotpSecret;
use chom_auth::{
    Abilities, ApiToken, ApprovalStatus, BearerToken, EmailAddress, FieldError, IssuedToken,
    NewUser, Password, PasswordHash, PersonName, User, Username,
};
use chom_kernel::crypto::{KeyedHash, Sealer, random_token, sha256};
use chom_kernel::jobs::NewJob;
use chom_kernel::store::Store;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// Every port the identity service uses (one adapter usually implements them all).
#[derive(Clone)]
pub struct IdentityPorts {
    /// Transactions.
    pub store: Arc<dyn Store>,
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// API tokens.
    pub tokens: Arc<dyn TokenRepository>,
    /// One-time tokens.
    pub one_time: Arc<dyn OneTimeTokenRepository>,
    /// Recovery codes.
    pub recovery: Arc<dyn RecoveryCodeRepository>,
    /// Organizations, tenants, memberships.
    pub orgs: Arc<dyn OrganizationRepository>,
    /// Token → session.
    pub sessions: Arc<dyn SessionLookup>,
    /// Records every change, in the change's unit of work.
    pub audit: Arc<dyn chom_kernel::audit::AuditTrail>,
    /// Password hashing (where the work runs is the app's choice).
    pub hashing: Arc<dyn chom_auth::password::Hashing>,
}

/// Token lifetimes and other knobs.
#[derive(Debug, Clone, Copy)]
pub struct IdentityConfig {
    /// Lifetime of login (session) tokens.
    pub session_lifetime: time::Duration,
    /// Default lifetime of tokens created through the API.
    pub token_default_lifetime: time::Duration,
    /// Longest lifetime a created token may ask for.
    pub token_max_lifetime: time::Duration,
    /// How long a session record may be served from memory (zero: always read).
    pub session_cache_ttl: std::time::Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            session_lifetime: time::Duration::days(7),
            token_default_lifetime: time::Duration::days(90),
            token_max_lifetime: time::Duration::days(365),
            session_cache_ttl: std::time::Duration::from_secs(1),
        }
    }
}

/// Field errors of a request, by field name.
pub type FieldErrors = Vec<(&'static str, FieldError)>;

/// What can go wrong in an identity use case. Each variant has a stable API code.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Invalid fields.
    #[error("invalid fields")]
    Invalid(FieldErrors),
    /// The e-mail is registered already.
    #[error("this e-mail address is already registered")]
    EmailTaken,
    /// The username is taken.
    #[error("this username is taken")]
    UsernameTaken,
    /// Sign-ups from this e-mail were rejected.
    #[error("sign-ups from this e-mail address were rejected")]
    EmailRejected,
    /// Unknown, used or expired one-time token.
    #[error("the link is invalid or has expired")]
    InvalidToken,
    /// Wrong e-mail or password (never says which).
    #[error("the e-mail or password is wrong")]
    InvalidCredentials,
    /// The e-mail is not verified yet.
    #[error("verify your e-mail address first")]
    EmailNotVerified,
    /// Waiting for a super admin.
    #[error("the account is waiting for approval")]
    PendingApproval,
    /// Rejected by a super admin.
    #[error("the account was rejected")]
    Rejected,
    /// The organization is suspended.
    #[error("the organization is suspended")]
    OrganizationSuspended,
    /// A second factor is needed (or the one given is wrong).
    #[error("a valid two-factor code is required")]
    TwoFactorRequired,
    /// The token has expired.
    #[error("the token has expired")]
    TokenExpired,
    /// No valid credential.
    #[error("authentication required")]
    Unauthenticated,
    /// Not allowed for the caller's role or token.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist for this caller.
    #[error("not found")]
    NotFound,
    /// The state does not allow it (2FA already on, …).
    #[error("{0}")]
    Conflict(String),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<chom_kernel::crypto::CryptoError> for IdentityError {
    fn from(e: chom_kernel::crypto::CryptoError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<chom_auth::PasswordError> for IdentityError {
    fn from(e: chom_auth::PasswordError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A registration request, as received.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Username.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Organization name (default: `"<first> <last>"`).
    pub organization_name: Option<String>,
}

/// A successful registration.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The user (pending, unverified).
    pub user: User,
    /// The organization (pending approval).
    pub organization: Organization,
    /// Its default tenant.
    pub tenant: Tenant,
}

/// An authenticated caller, as built from a bearer token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token used.
    pub token: ApiToken,
    /// The user.
    pub user_id: UserId,
    /// Super admin.
    pub is_super_admin: bool,
    /// The user's profile.
    pub user: User,
    /// Organization and role (super admins may have none).
    pub membership: Option<(OrganizationId, Role)>,
    /// The organization.
    pub organization: Option<Organization>,
    /// The organization's default tenant.
    pub default_tenant: Option<Tenant>,
    /// Where the request came from (set by the HTTP layer; empty otherwise).
    pub origin: chom_kernel::audit::Origin,
}

impl Session {
    /// The caller, as the audit trail records it: a member of their organization, or a super
    /// admin outside any.
    #[must_use]
    pub fn actor(&self) -> chom_kernel::audit::Actor {
        use chom_kernel::audit::Actor;
        match self.membership {
            None if self.is_super_admin => Actor::super_admin(self.user_id, self.origin.clone()),
            membership => Actor::user(
                self.user_id,
                membership.map(|(org, _)| org),
                self.origin.clone(),
            ),
        }
    }
}

/// A second factor offered at login.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A TOTP code.
    Totp(String),
    /// A recovery code.
    Recovery(String),
}

/// 2FA enrolment material, shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URI.
    pub uri: String,
}

fn one_time_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// The identity service.
#[derive(Clone)]
pub struct Identity {
    ports: IdentityPorts,
    sealer: Arc<Sealer>,
    recovery_codes: Arc<KeyedHash>,
    config: IdentityConfig,
    sessions: Arc<SessionCache>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A service over `ports`; `sealer` encrypts TOTP secrets at rest; `recovery_codes` (a
    /// [`KeyedHash`] for [`RECOVERY_CODES_PURPOSE`], from the same application key) names the
    /// recovery codes in the store.
    #[must_use]
    pub fn new(
        ports: IdentityPorts,
        sealer: Arc<Sealer>,
        recovery_codes: Arc<KeyedHash>,
        config: IdentityConfig,
    ) -> Self {
        Self {
            ports,
            sealer,
            recovery_codes,
            sessions: Arc::new(SessionCache::new(config.session_cache_ttl)),
            config,
        }
    }

    /// The session cache (shared with [`crate::admin::Administration`], whose changes must
    /// invalidate it too).
    #[must_use]
    pub fn session_cache(&self) -> Arc<SessionCache> {
        self.sessions.clone()
    }

    /// What a recovery code is stored as (its keyed hash under the current key).
    fn recovery_hash(&self, code: &str) -> [u8; 32] {
        self.recovery_codes.tag(normalise_recovery(code).as_bytes())
    }

    /// Uses up one of the user's recovery codes; false when none matches. Tries the current
    /// key, the previous ones (key rotation), and the legacy unkeyed hash for codes of the
    /// first format.
    async fn consume_recovery_code(&self, user: UserId, code: &str) -> Result<bool, IdentityError> {
        let normalised = normalise_recovery(code);
        let mut candidates = self.recovery_codes.tags(normalised.as_bytes());
        if is_legacy_recovery(&normalised) {
            candidates.push(sha256(normalised.as_bytes()));
        }
        let now = OffsetDateTime::now_utc();
        for hash in &candidates {
            if self
                .ports
                .recovery
                .consume_recovery_code(user, hash, now)
                .await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The ports (for the admin service and job handlers).
    #[must_use]
    pub fn ports(&self) -> &IdentityPorts {
        &self.ports
    }
}

/// A job addressed to a user.
#[must_use]
pub fn user_job(
    kind: &str,
    user: UserId,
    approved: Option<bool>,
    reason: Option<String>,
) -> NewJob {
    let payload = mail_jobs::UserJob {
        user_id: user,
        approved,
        reason,
    };
    NewJob::new(kind, serde_json::to_value(payload).unwrap_or_default()).max_attempts(8)
}

/// The purpose of the [`KeyedHash`] that names recovery codes in the store.
pub const RECOVERY_CODES_PURPOSE: &str = "recovery codes";

/// Lower-case RFC 4648 base32: no padding is needed for 10 bytes (16 characters).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A recovery code: 80 random bits as 16 base32 characters in groups of four
/// (`abcd-efgh-ijkl-mnop`).
fn recovery_code() -> Result<String, chom_kernel::crypto::CryptoError> {
    let bytes = chom_kernel::crypto::random_bytes(10)?;
    let mut bits: u128 = 0;
    for b in &bytes {
        bits = (bits << 8) | u128::from(*b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 80 bits, five at a time from the top; the index is < 32 by the mask.
        let index = usize::try_from((bits >> (75 - 5 * i)) & 0x1f).unwrap_or(0);
        out.push(char::from(RECOVERY_ALPHABET[index]));
    }
    Ok(out)
}

fn normalise_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace('-', "")
}

/// A recovery code of the first format (10 hex digits, stored as plain SHA-256): still
/// accepted until the user enrols again, which replaces every code.
fn is_legacy_recovery(normalised: &str) -> bool {
    normalised.len() == 10 && normalised.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The associated data a user's TOTP secret is sealed with.
fn totp_context(user: UserId) -> String {
    format!("users.totp_secret:{user}")
}

/// Invalidates the session cache when dropped: at the end of a mutating use case, whether it
/// succeeded or failed half-way (a stale cached session is the only risk, never a lost change).
pub(crate) struct Invalidate<'a>(pub(crate) &'a SessionCache);

impl Drop for Invalidate<'_> {
    fn drop(&mut self) {
        self.0.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed assertion
    use super::*;

    #[test]
    fn l2_recovery_codes_are_80_random_bits_in_base32_groups() {
        let codes: Vec<String> = (0..2000).map(|_| recovery_code().unwrap()).collect();
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            let bare = normalise_recovery(code);
            assert_eq!(bare.len(), 16, "{code}");
            assert!(
                bare.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)),
                "{code}"
            );
            let dashes_every_five = code.char_indices().all(|(i, c)| (c == '-') == (i % 5 == 4));
            assert!(dashes_every_five, "{code}");
            assert!(!is_legacy_recovery(&bare));
        }
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), codes.len());
        // Every symbol shows up in every position: all 80 bits vary, none is stuck.
        for pos in 0..16 {
            let seen: std::collections::BTreeSet<u8> = codes
                .iter()
                .map(|c| normalise_recovery(c).as_bytes()[pos])
                .collect();
            assert_eq!(seen.len(), 32, "position {pos}");
        }
        assert_eq!(
            normalise_recovery(" ABCD-efgh-IJKL-mnop\n"),
            "abcdefghijklmnop"
        );
        assert!(is_legacy_recovery(&normalise_recovery("0A1B2-c3d4e")));
    }
}
