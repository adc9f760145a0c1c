//! The identity application service: sign-up, e-mail verification, login and the login gate,
//! token authentication, tokens, passwords and 2FA. It lives in tenancy because every gate
//! involves the organization (approval, suspension).

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
use chom_kernel::crypto::{Sealer, random_token, sha256};
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
    /// Organization name (default: "<first> <last>").
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

fn collect<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    r: Result<T, FieldError>,
) -> Option<T> {
    r.map_err(|e| errors.push((field, e))).ok()
}

fn one_time_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

fn dummy_hash() -> &'static Option<PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY.get_or_init(|| PasswordHash::of("dummy password to keep timing even").ok())
}

/// The identity service.
#[derive(Clone)]
pub struct Identity {
    ports: IdentityPorts,
    sealer: Arc<Sealer>,
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
    /// A service over `ports`; `sealer` encrypts TOTP secrets at rest.
    #[must_use]
    pub fn new(ports: IdentityPorts, sealer: Arc<Sealer>, config: IdentityConfig) -> Self {
        Self {
            ports,
            sealer,
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

    /// The ports (for the admin service and job handlers).
    #[must_use]
    pub fn ports(&self) -> &IdentityPorts {
        &self.ports
    }

    /// Signs up: user (pending, unverified), organization (pending) with its default tenant,
    /// owner membership; e-mails a verification link and tells the super admins — all in one
    /// transaction.
    ///
    /// # Errors
    /// `Invalid`, `EmailTaken`, `UsernameTaken`, `EmailRejected`, `Store`.
    pub async fn register(
        &self,
        input: Registration,
        request_id: Option<String>,
    ) -> Result<Registered, IdentityError> {
        let mut errors = FieldErrors::new();
        let username = collect(&mut errors, "username", Username::parse(&input.username));
        let first = collect(
            &mut errors,
            "first_name",
            PersonName::parse(&input.first_name),
        );
        let last = collect(
            &mut errors,
            "last_name",
            PersonName::parse(&input.last_name),
        );
        let email = collect(&mut errors, "email", EmailAddress::parse(&input.email));
        let org_name = match &input.organization_name {
            Some(name) => collect(&mut errors, "organization_name", PersonName::parse(name)),
            None => None,
        };
        let forbidden = [input.email.trim(), input.username.trim()];
        let password = collect(
            &mut errors,
            "password",
            Password::new(&input.password, &forbidden),
        );
        let (Some(username), Some(first), Some(last), Some(email), Some(password)) =
            (username, first, last, email, password)
        else {
            return Err(IdentityError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(IdentityError::Invalid(errors));
        }
        if self.ports.users.check_rejected_email(&email).await? {
            return Err(IdentityError::EmailRejected);
        }
        let now = OffsetDateTime::now_utc();
        let hash = password.hash()?;
        let user = NewUser {
            id: UserId::new(),
            username,
            email,
            first_name: first.clone(),
            last_name: last.clone(),
            password_hash: hash,
            is_super_admin: false,
            approval: ApprovalStatus::Pending,
            email_verified_at: None,
        };
        let organization = Organization {
            id: OrganizationId::new(),
            name: org_name.map_or_else(|| format!("{first} {last}"), |n| n.as_str().to_owned()),
            status: OrganizationStatus::Active,
            approval: ApprovalStatus::Pending,
            approval_reason: None,
            created_at: now,
        };
        let tenant = Tenant {
            id: TenantId::new(),
            organization_id: organization.id,
            name: "Default".into(),
            is_default: true,
            status: TenantStatus::Active,
            plan_code: None,
            plan_selected_at: None,
            created_at: now,
        };
        let mut uow = self.ports.store.begin().await?;
        match self.ports.users.insert_user(uow.as_mut(), &user).await {
            Err(StoreError::Conflict(c)) if c.contains("email") => {
                return Err(IdentityError::EmailTaken);
            }
            Err(StoreError::Conflict(c)) if c.contains("username") => {
                return Err(IdentityError::UsernameTaken);
            }
            other => other?,
        }
        self.ports
            .orgs
            .insert_organization(uow.as_mut(), &organization, &tenant)
            .await?;
        self.ports
            .orgs
            .insert_membership(
                uow.as_mut(),
                &Membership {
                    user_id: user.id,
                    organization_id: organization.id,
                    role: Role::Owner,
                },
            )
            .await?;
        for kind in [mail_jobs::SEND_VERIFICATION, mail_jobs::NOTIFY_ADMINS] {
            uow.enqueue(user_job(kind, user.id, None, None).request_id(request_id.clone()))
                .await?;
        }
        uow.commit().await?;
        let user = self
            .ports
            .users
            .get_user(user.id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        Ok(Registered {
            user,
            organization,
            tenant,
        })
    }

    /// Verifies an e-mail address with the token from the link.
    ///
    /// # Errors
    /// `InvalidToken`, `Store`.
    pub async fn verify_email(&self, token: &str) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        let mut uow = self.ports.store.begin().await?;
        let user = self
            .ports
            .one_time
            .consume_one_time(
                uow.as_mut(),
                Purpose::VerifyEmail,
                &one_time_hash(token),
                now,
            )
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        self.ports
            .users
            .mark_email_verified(uow.as_mut(), user, now)
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Sends a new verification link if `email` belongs to an unverified user. Always succeeds
    /// the same way, so it reveals nothing.
    ///
    /// # Errors
    /// `Store`.
    pub async fn resend_verification(
        &self,
        email: &str,
        request_id: Option<String>,
    ) -> Result<(), IdentityError> {
        let Ok(email) = EmailAddress::parse(email) else {
            return Ok(());
        };
        if let Some(user) = self.ports.users.find_user_by_email(&email).await?
            && user.email_verified_at.is_none()
        {
            let mut uow = self.ports.store.begin().await?;
            uow.enqueue(
                user_job(mail_jobs::SEND_VERIFICATION, user.id, None, None).request_id(request_id),
            )
            .await?;
            uow.commit().await?;
        }
        Ok(())
    }

    /// Logs in: checks the password, then each gate in order, then the second factor, and
    /// issues a session token with every ability.
    ///
    /// # Errors
    /// `InvalidCredentials`, `EmailNotVerified`, `Rejected`, `PendingApproval`,
    /// `OrganizationSuspended`, `TwoFactorRequired`, `Store`.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        second: Option<SecondFactor>,
    ) -> Result<(User, IssuedToken), IdentityError> {
        let user = match EmailAddress::parse(email) {
            Ok(email) => self.ports.users.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            // Same work as a real check, so timing does not reveal unknown e-mails.
            if let Some(h) = dummy_hash() {
                let _ = h.verify(password);
            }
            return Err(IdentityError::InvalidCredentials);
        };
        if !user.password_hash.verify(password) {
            return Err(IdentityError::InvalidCredentials);
        }
        self.gate(&user).await?;
        if user.two_factor_enabled() {
            let ok = match second {
                Some(SecondFactor::Totp(code)) => self.accept_totp(&user, &code).await?,
                Some(SecondFactor::Recovery(code)) => {
                    self.ports
                        .recovery
                        .consume_recovery_code(
                            user.id,
                            &sha256(normalise_recovery(&code).as_bytes()),
                            OffsetDateTime::now_utc(),
                        )
                        .await?
                }
                None => false,
            };
            if !ok {
                return Err(IdentityError::TwoFactorRequired);
            }
        }
        let now = OffsetDateTime::now_utc();
        let issued = IssuedToken::mint(
            user.id,
            "login",
            Abilities::all(),
            now,
            self.config.session_lifetime,
        )?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .tokens
            .insert_token(uow.as_mut(), &issued.token)
            .await?;
        uow.commit().await?;
        self.ports.users.touch_login(user.id, now).await?;
        Ok((user, issued))
    }

    /// The login gates after the password: verification, approval, organization standing.
    async fn gate(&self, user: &User) -> Result<(), IdentityError> {
        if user.is_super_admin {
            return Ok(());
        }
        if user.email_verified_at.is_none() {
            return Err(IdentityError::EmailNotVerified);
        }
        match user.approval {
            ApprovalStatus::Rejected => return Err(IdentityError::Rejected),
            ApprovalStatus::Pending => return Err(IdentityError::PendingApproval),
            ApprovalStatus::Approved => {}
        }
        let membership = self
            .ports
            .orgs
            .membership_of(user.id)
            .await?
            .ok_or(IdentityError::PendingApproval)?;
        let org = self
            .ports
            .orgs
            .get_organization(membership.organization_id)
            .await?
            .ok_or(IdentityError::PendingApproval)?;
        org_gate(org.approval, org.status)
    }

    async fn accept_totp(&self, user: &User, code: &str) -> Result<bool, IdentityError> {
        let Some(sealed) = &user.totp_secret_sealed else {
            return Ok(false);
        };
        let secret = TotpSecret::from_bytes(self.sealer.open(sealed)?);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        match secret.verify(code, now, user.totp_last_step) {
            Some(step) => Ok(self.ports.users.record_totp_step(user.id, step).await?),
            None => Ok(false),
        }
    }

    /// Resolves a bearer credential to a session, applying every gate: revocation, expiry,
    /// password change, verification, approval, suspension.
    ///
    /// # Errors
    /// `Unauthenticated`, `TokenExpired`, `EmailNotVerified`, `PendingApproval`, `Rejected`,
    /// `OrganizationSuspended`, `Store`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Session, IdentityError> {
        let bearer = BearerToken::parse(bearer).ok_or(IdentityError::Unauthenticated)?;
        let record = match self.sessions.get(bearer.id) {
            Some(r) => r,
            None => {
                let generation = self.sessions.generation();
                let r = self
                    .ports
                    .sessions
                    .session(bearer.id)
                    .await?
                    .ok_or(IdentityError::Unauthenticated)?;
                self.sessions.put(bearer.id, r.clone(), generation);
                r
            }
        };
        let SessionRecord {
            token,
            user,
            membership,
        } = record;
        let (user_id, is_super_admin) = (user.id, user.is_super_admin);
        let (user_approval, email_verified, password_changed_at) = (
            user.approval,
            user.email_verified_at.is_some(),
            user.password_changed_at,
        );
        if !token.matches(&bearer.secret) {
            return Err(IdentityError::Unauthenticated);
        }
        // The holder proved the secret: tell them why the account is refused (a suspended
        // organization, a rejection) before the generic "token dead".
        if !is_super_admin {
            if !email_verified {
                return Err(IdentityError::EmailNotVerified);
            }
            match user_approval {
                ApprovalStatus::Rejected => return Err(IdentityError::Rejected),
                ApprovalStatus::Pending => return Err(IdentityError::PendingApproval),
                ApprovalStatus::Approved => {}
            }
            let m = membership.as_ref().ok_or(IdentityError::PendingApproval)?;
            org_gate(m.organization.approval, m.organization.status)?;
        }
        if token.revoked_at.is_some() || token.created_at < password_changed_at {
            return Err(IdentityError::Unauthenticated);
        }
        let now = OffsetDateTime::now_utc();
        if token.expires_at <= now {
            return Err(IdentityError::TokenExpired);
        }
        if token
            .last_used_at
            .is_none_or(|t| now - t > time::Duration::minutes(1))
        {
            // Best effort: a failed stamp must not fail the request.
            let _ = self.ports.tokens.touch_token(token.id, now).await;
        }
        Ok(Session {
            user_id,
            is_super_admin,
            membership: membership.as_ref().map(|m| (m.organization.id, m.role)),
            organization: membership.as_ref().map(|m| m.organization.clone()),
            default_tenant: membership.and_then(|m| m.default_tenant),
            user,
            token,
        })
    }

    /// Revokes the session's token.
    ///
    /// # Errors
    /// `Store`.
    pub async fn logout(&self, session: &Session) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .tokens
            .revoke_token(
                uow.as_mut(),
                session.user_id,
                session.token.id,
                OffsetDateTime::now_utc(),
            )
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Replaces the session's token with a new one (same name and abilities, fresh expiry).
    ///
    /// # Errors
    /// `Store`.
    pub async fn refresh(&self, session: &Session) -> Result<IssuedToken, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        let lifetime = if session.token.name == "login" {
            self.config.session_lifetime
        } else {
            self.config.token_default_lifetime
        };
        let issued = IssuedToken::mint(
            session.user_id,
            &session.token.name,
            session.token.abilities.clone(),
            now,
            lifetime,
        )?;
        let mut uow = self.ports.store.begin().await?;
        if !self
            .ports
            .tokens
            .revoke_token(uow.as_mut(), session.user_id, session.token.id, now)
            .await?
        {
            return Err(IdentityError::Unauthenticated);
        }
        self.ports
            .tokens
            .insert_token(uow.as_mut(), &issued.token)
            .await?;
        uow.commit().await?;
        Ok(issued)
    }

    /// Creates a named token with at most the session's abilities.
    ///
    /// # Errors
    /// `Invalid` (name, abilities, lifetime), `Forbidden` (more than the session has), `Store`.
    pub async fn create_token(
        &self,
        session: &Session,
        name: &str,
        abilities: Abilities,
        lifetime: Option<time::Duration>,
    ) -> Result<IssuedToken, IdentityError> {
        let mut errors = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push((
                "name",
                FieldError::new("INVALID_FORMAT", "1 to 100 printable characters"),
            ));
        }
        if abilities.is_empty() {
            errors.push((
                "abilities",
                FieldError::new("REQUIRED", "at least one ability"),
            ));
        }
        let lifetime = lifetime.unwrap_or(self.config.token_default_lifetime);
        if lifetime < time::Duration::minutes(1) || lifetime > self.config.token_max_lifetime {
            errors.push((
                "expires_in_days",
                FieldError::new(
                    "OUT_OF_RANGE",
                    format!(
                        "between 1 and {} days",
                        self.config.token_max_lifetime.whole_days()
                    ),
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(IdentityError::Invalid(errors));
        }
        if !session.token.abilities.covers(&abilities) {
            return Err(IdentityError::Forbidden(
                "a token cannot grant abilities its creator's token lacks".into(),
            ));
        }
        let issued = IssuedToken::mint(
            session.user_id,
            name,
            abilities,
            OffsetDateTime::now_utc(),
            lifetime,
        )?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .tokens
            .insert_token(uow.as_mut(), &issued.token)
            .await?;
        uow.commit().await?;
        Ok(issued)
    }

    /// The session user's live tokens.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list_tokens(&self, session: &Session) -> Result<Vec<ApiToken>, IdentityError> {
        Ok(self
            .ports
            .tokens
            .list_tokens(session.user_id, OffsetDateTime::now_utc())
            .await?)
    }

    /// Revokes one of the session user's tokens.
    ///
    /// # Errors
    /// `NotFound` for another user's or an unknown token; `Store`.
    pub async fn revoke_token(
        &self,
        session: &Session,
        id: uuid::Uuid,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let mut uow = self.ports.store.begin().await?;
        if !self
            .ports
            .tokens
            .revoke_token(uow.as_mut(), session.user_id, id, OffsetDateTime::now_utc())
            .await?
        {
            return Err(IdentityError::NotFound);
        }
        uow.commit().await?;
        Ok(())
    }

    /// Starts a password reset: e-mails a link if the address is known. Same answer either way.
    ///
    /// # Errors
    /// `Store`.
    pub async fn forgot_password(
        &self,
        email: &str,
        request_id: Option<String>,
    ) -> Result<(), IdentityError> {
        let Ok(email) = EmailAddress::parse(email) else {
            return Ok(());
        };
        if let Some(user) = self.ports.users.find_user_by_email(&email).await? {
            let mut uow = self.ports.store.begin().await?;
            uow.enqueue(
                user_job(mail_jobs::SEND_PASSWORD_RESET, user.id, None, None)
                    .request_id(request_id),
            )
            .await?;
            uow.commit().await?;
        }
        Ok(())
    }

    /// Sets a new password with a reset token; every token of the user dies.
    ///
    /// # Errors
    /// `InvalidToken`, `Invalid`, `Store`.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        let mut uow = self.ports.store.begin().await?;
        let user_id = self
            .ports
            .one_time
            .consume_one_time(
                uow.as_mut(),
                Purpose::ResetPassword,
                &one_time_hash(token),
                now,
            )
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let user = self
            .ports
            .users
            .get_user(user_id)
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let password = Password::new(new_password, &[user.email.as_str(), user.username.as_str()])
            .map_err(|e| IdentityError::Invalid(vec![("password", e)]))?;
        let hash = password.hash()?;
        self.ports
            .users
            .set_password(uow.as_mut(), user_id, hash.as_str(), now)
            .await?;
        self.ports
            .tokens
            .revoke_all_tokens(uow.as_mut(), user_id, now)
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Changes the password (knowing the current one); every token dies, including this one.
    ///
    /// # Errors
    /// `InvalidCredentials` (wrong current password), `Invalid`, `Store`.
    pub async fn change_password(
        &self,
        session: &Session,
        current: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let user = self
            .ports
            .users
            .get_user(session.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        if !user.password_hash.verify(current) {
            return Err(IdentityError::InvalidCredentials);
        }
        let password = Password::new(new_password, &[user.email.as_str(), user.username.as_str()])
            .map_err(|e| IdentityError::Invalid(vec![("new_password", e)]))?;
        let now = OffsetDateTime::now_utc();
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .set_password(uow.as_mut(), user.id, password.hash()?.as_str(), now)
            .await?;
        self.ports
            .tokens
            .revoke_all_tokens(uow.as_mut(), user.id, now)
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Starts 2FA enrolment: a new secret, stored sealed, active only once confirmed.
    ///
    /// # Errors
    /// `Conflict` when 2FA is already on; `Store`.
    pub async fn totp_setup(&self, session: &Session) -> Result<TotpEnrolment, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let user = self
            .ports
            .users
            .get_user(session.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        if user.two_factor_enabled() {
            return Err(IdentityError::Conflict(
                "two-factor authentication is already enabled".into(),
            ));
        }
        let secret = TotpSecret::generate()?;
        let sealed = self.sealer.seal(secret.as_bytes())?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .set_totp(uow.as_mut(), user.id, Some(&sealed), None)
            .await?;
        uow.commit().await?;
        Ok(TotpEnrolment {
            secret: secret.base32(),
            uri: secret.uri("CHOM", user.email.as_str()),
        })
    }

    /// Confirms enrolment with a code; returns 10 recovery codes, shown once.
    ///
    /// # Errors
    /// `Conflict` (not started or already on), `TwoFactorRequired` (wrong code), `Store`.
    pub async fn totp_confirm(
        &self,
        session: &Session,
        code: &str,
    ) -> Result<Vec<String>, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let user = self
            .ports
            .users
            .get_user(session.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        if user.two_factor_enabled() || user.totp_secret_sealed.is_none() {
            return Err(IdentityError::Conflict(
                "start the set-up first (or 2FA is already on)".into(),
            ));
        }
        if !self.accept_totp(&user, code).await? {
            return Err(IdentityError::TwoFactorRequired);
        }
        let codes: Vec<String> = (0..10).map(|_| recovery_code()).collect::<Result<_, _>>()?;
        let hashes: Vec<[u8; 32]> = codes
            .iter()
            .map(|c| sha256(normalise_recovery(c).as_bytes()))
            .collect();
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .set_totp(
                uow.as_mut(),
                user.id,
                user.totp_secret_sealed.as_deref(),
                Some(OffsetDateTime::now_utc()),
            )
            .await?;
        self.ports
            .recovery
            .replace_recovery_codes(uow.as_mut(), user.id, &hashes)
            .await?;
        uow.commit().await?;
        Ok(codes)
    }

    /// Turns 2FA off (password and a current code or recovery code required).
    ///
    /// # Errors
    /// `InvalidCredentials`, `TwoFactorRequired`, `Conflict` (not on), `Store`.
    pub async fn totp_disable(
        &self,
        session: &Session,
        password: &str,
        second: SecondFactor,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let user = self
            .ports
            .users
            .get_user(session.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        if !user.two_factor_enabled() {
            return Err(IdentityError::Conflict(
                "two-factor authentication is not enabled".into(),
            ));
        }
        if !user.password_hash.verify(password) {
            return Err(IdentityError::InvalidCredentials);
        }
        let ok = match second {
            SecondFactor::Totp(code) => self.accept_totp(&user, &code).await?,
            SecondFactor::Recovery(code) => {
                self.ports
                    .recovery
                    .consume_recovery_code(
                        user.id,
                        &sha256(normalise_recovery(&code).as_bytes()),
                        OffsetDateTime::now_utc(),
                    )
                    .await?
            }
        };
        if !ok {
            return Err(IdentityError::TwoFactorRequired);
        }
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .set_totp(uow.as_mut(), user.id, None, None)
            .await?;
        self.ports
            .recovery
            .replace_recovery_codes(uow.as_mut(), user.id, &[])
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Mints and stores a one-time token for `user` (in the job that e-mails it).
    ///
    /// # Errors
    /// `Store`.
    pub async fn mint_one_time(
        &self,
        user: UserId,
        purpose: Purpose,
    ) -> Result<String, IdentityError> {
        let token = random_token(32)?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .one_time
            .insert_one_time(
                uow.as_mut(),
                purpose,
                &one_time_hash(&token),
                user,
                OffsetDateTime::now_utc() + purpose.lifetime(),
            )
            .await?;
        uow.commit().await?;
        Ok(token)
    }
}

fn org_gate(approval: ApprovalStatus, status: OrganizationStatus) -> Result<(), IdentityError> {
    match approval {
        ApprovalStatus::Rejected => return Err(IdentityError::Rejected),
        ApprovalStatus::Pending => return Err(IdentityError::PendingApproval),
        ApprovalStatus::Approved => {}
    }
    if status == OrganizationStatus::Suspended {
        return Err(IdentityError::OrganizationSuspended);
    }
    Ok(())
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

fn recovery_code() -> Result<String, chom_kernel::crypto::CryptoError> {
    let raw = data_encoding_hex(&chom_kernel::crypto::random_bytes(5)?);
    Ok(format!("{}-{}", &raw[..5], &raw[5..]))
}

fn data_encoding_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn normalise_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace('-', "")
}

/// Invalidates the session cache when dropped: at the end of a mutating use case, whether it
/// succeeded or failed half-way (a stale cached session is the only risk, never a lost change).
pub(crate) struct Invalidate<'a>(pub(crate) &'a SessionCache);

impl Drop for Invalidate<'_> {
    fn drop(&mut self) {
        self.0.invalidate_all();
    }
}
