//! Forgotten, reset and changed passwords: every token dies with the old password.

use super::*;
use chom_kernel::audit::{Actor, AuditEvent, Origin};

impl Identity {
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
        let hash = self.ports.hashing.hash(password.expose()).await?;
        self.ports
            .users
            .set_password(uow.as_mut(), user_id, hash.as_str(), now)
            .await?;
        self.ports
            .tokens
            .revoke_all_tokens(uow.as_mut(), user_id, now)
            .await?;
        let org = self
            .ports
            .orgs
            .membership_of(user_id)
            .await?
            .map(|m| m.organization_id);
        let actor = Actor::user(user_id, org, Origin::default());
        let event = AuditEvent::new(&actor, "user.password_reset", "user", user_id);
        self.ports.audit.append(uow.as_mut(), &event).await?;
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
        if !self
            .ports
            .hashing
            .verify(&user.password_hash, current)
            .await
        {
            return Err(IdentityError::InvalidCredentials);
        }
        let password = Password::new(new_password, &[user.email.as_str(), user.username.as_str()])
            .map_err(|e| IdentityError::Invalid(vec![("new_password", e)]))?;
        let now = OffsetDateTime::now_utc();
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .users
            .set_password(
                uow.as_mut(),
                user.id,
                self.ports.hashing.hash(password.expose()).await?.as_str(),
                now,
            )
            .await?;
        self.ports
            .tokens
            .revoke_all_tokens(uow.as_mut(), user.id, now)
            .await?;
        let event = AuditEvent::new(&session.actor(), "user.password_change", "user", user.id);
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(())
    }
}
