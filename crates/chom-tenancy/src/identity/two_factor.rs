//! TOTP two-factor authentication: enrolment, confirmation with recovery codes, removal.

use super::*;
use chom_kernel::audit::AuditEvent;

impl Identity {
    /// Checks a TOTP code against the user's secret, once (the step is recorded atomically).
    pub(super) async fn accept_totp(&self, user: &User, code: &str) -> Result<bool, IdentityError> {
        let Some(sealed) = &user.totp_secret_sealed else {
            return Ok(false);
        };
        let secret = TotpSecret::from_bytes(self.sealer.open_for(&totp_context(user.id), sealed)?);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        match secret.verify(code, now, user.totp_last_step) {
            Some(step) => Ok(self.ports.users.record_totp_step(user.id, step).await?),
            None => Ok(false),
        }
    }

    /// Starts 2FA enrolment: a new secret, stored sealed, active only once confirmed. Asks for
    /// the password, so a stolen session cannot enrol the thief's device.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Conflict` when 2FA is already on; `Store`.
    pub async fn totp_setup(
        &self,
        session: &Session,
        password: &str,
    ) -> Result<TotpEnrolment, IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let user = self
            .ports
            .users
            .get_user(session.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        if !self
            .ports
            .hashing
            .verify(&user.password_hash, password)
            .await
        {
            return Err(IdentityError::InvalidCredentials);
        }
        if user.two_factor_enabled() {
            return Err(IdentityError::Conflict(
                "two-factor authentication is already enabled".into(),
            ));
        }
        let secret = TotpSecret::generate()?;
        let sealed = self
            .sealer
            .seal_for(&totp_context(user.id), secret.as_bytes())?;
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
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| self.recovery_hash(c)).collect();
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
        let event = AuditEvent::new(&session.actor(), "user.two_factor_enable", "user", user.id);
        self.ports.audit.append(uow.as_mut(), &event).await?;
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
        if !self
            .ports
            .hashing
            .verify(&user.password_hash, password)
            .await
        {
            return Err(IdentityError::InvalidCredentials);
        }
        let ok = match second {
            SecondFactor::Totp(code) => self.accept_totp(&user, &code).await?,
            SecondFactor::Recovery(code) => self.consume_recovery_code(user.id, &code).await?,
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
        let event = AuditEvent::new(&session.actor(), "user.two_factor_disable", "user", user.id);
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(())
    }
}
