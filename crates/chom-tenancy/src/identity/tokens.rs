//! Named API tokens: create (never stronger than the creator's), list, revoke.

use super::*;
use chom_kernel::audit::AuditEvent;

impl Identity {
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
        let event = AuditEvent::new(&session.actor(), "token.create", "token", issued.token.id)
            .with_summary(serde_json::json!({
                "name": issued.token.name,
                "abilities": issued.token.abilities.to_storage(),
                "expires_at": issued.token.expires_at.unix_timestamp(),
            }));
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(issued)
    }

    /// A page of the session user's live tokens, newest first: at most `limit`, created
    /// before the token `before` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list_tokens(
        &self,
        session: &Session,
        before: Option<uuid::Uuid>,
        limit: i64,
    ) -> Result<Vec<ApiToken>, IdentityError> {
        Ok(self
            .ports
            .tokens
            .list_tokens(session.user_id, OffsetDateTime::now_utc(), before, limit)
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
        let event = AuditEvent::new(&session.actor(), "token.revoke", "token", id);
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(())
    }
}
