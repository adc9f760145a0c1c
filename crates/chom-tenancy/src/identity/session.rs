//! Login (with every gate in order), bearer authentication, logout and refresh.

use super::*;

impl Identity {
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
                let _ = self.ports.hashing.verify(h, password).await;
            }
            return Err(IdentityError::InvalidCredentials);
        };
        if !self
            .ports
            .hashing
            .verify(&user.password_hash, password)
            .await
        {
            return Err(IdentityError::InvalidCredentials);
        }
        self.gate(&user).await?;
        if user.two_factor_enabled() {
            let ok = match second {
                Some(SecondFactor::Totp(code)) => self.accept_totp(&user, &code).await?,
                Some(SecondFactor::Recovery(code)) => {
                    self.consume_recovery_code(user.id, &code).await?
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
        if user.approval == ApprovalStatus::Rejected {
            return Err(IdentityError::Rejected);
        }
        let org = match self.ports.orgs.membership_of(user.id).await? {
            Some(m) => self.ports.orgs.get_organization(m.organization_id).await?,
            None => None,
        };
        // A rejected organization says so, even while its owner's own row is still pending.
        if org
            .as_ref()
            .is_some_and(|o| o.approval == ApprovalStatus::Rejected)
        {
            return Err(IdentityError::Rejected);
        }
        if user.approval == ApprovalStatus::Pending {
            return Err(IdentityError::PendingApproval);
        }
        let org = org.ok_or(IdentityError::PendingApproval)?;
        org_gate(org.approval, org.status)
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
            // No membership: a member removed from their only organization (their tokens
            // were revoked with it) is simply signed out; anyone else waits for approval.
            let m = match membership.as_ref() {
                Some(m) => m,
                None if token.revoked_at.is_some() => return Err(IdentityError::Unauthenticated),
                None => return Err(IdentityError::PendingApproval),
            };
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
            origin: chom_kernel::audit::Origin::default(),
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

    /// Replaces the session's token with a new secret (same name, abilities and expiry): a
    /// refresh rotates the credential, it never extends it, so a stolen token cannot be kept
    /// alive past the lifetime it was issued with.
    ///
    /// # Errors
    /// `TokenExpired`, `Store`.
    pub async fn refresh(&self, session: &Session) -> Result<IssuedToken, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let now = OffsetDateTime::now_utc();
        let left = session.token.expires_at - now;
        if left <= time::Duration::ZERO {
            return Err(IdentityError::TokenExpired);
        }
        let mut issued = IssuedToken::mint(
            session.user_id,
            &session.token.name,
            session.token.abilities.clone(),
            now,
            left,
        )?;
        issued.token.expires_at = session.token.expires_at;
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
}

/// Whether an organization in this standing may be acted in: approved and not suspended.
///
/// # Errors
/// `Rejected`, `PendingApproval`, `OrganizationSuspended`.
pub fn org_gate(approval: ApprovalStatus, status: OrganizationStatus) -> Result<(), IdentityError> {
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

fn dummy_hash() -> &'static Option<PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY.get_or_init(|| PasswordHash::of("dummy password to keep timing even").ok())
}
