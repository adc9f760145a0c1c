//! Bootstrap: creating a super admin (`chom-api admin create`).

use super::Administration;
use crate::identity::{FieldErrors, IdentityError, insert_new_user};
use chom_auth::{ApprovalStatus, PersonName, User};
use chom_kernel::UserId;
use chom_kernel::audit::{Actor, AuditEvent};
use time::OffsetDateTime;

impl Administration {
    /// Creates a super admin (bootstrap: `chom-api admin create`). Approved and verified, in no
    /// organization. There are no default credentials anywhere.
    ///
    /// # Errors
    /// `Invalid`, `EmailTaken`, `UsernameTaken`, `Store`.
    pub async fn create_super_admin(
        &self,
        username: &str,
        first_name: &str,
        last_name: &str,
        email: &str,
        password: &str,
    ) -> Result<User, IdentityError> {
        let mut errors = FieldErrors::new();
        let username = chom_auth::Username::parse(username)
            .map_err(|e| errors.push(("username", e)))
            .ok();
        let first = PersonName::parse(first_name)
            .map_err(|e| errors.push(("first_name", e)))
            .ok();
        let last = PersonName::parse(last_name)
            .map_err(|e| errors.push(("last_name", e)))
            .ok();
        let address = chom_auth::EmailAddress::parse(email)
            .map_err(|e| errors.push(("email", e)))
            .ok();
        let pw = chom_auth::Password::new(
            password,
            &[email, username.as_ref().map_or("", |u| u.as_str())],
        )
        .map_err(|e| errors.push(("password", e)))
        .ok();
        let (Some(username), Some(first_name), Some(last_name), Some(email), Some(pw)) =
            (username, first, last, address, pw)
        else {
            return Err(IdentityError::Invalid(errors));
        };
        let now = OffsetDateTime::now_utc();
        let user = chom_auth::NewUser {
            id: UserId::new(),
            username,
            email,
            first_name,
            last_name,
            password_hash: self.ports.hashing.hash(pw.expose()).await?,
            is_super_admin: true,
            approval: ApprovalStatus::Approved,
            email_verified_at: Some(now),
        };
        let mut uow = self.ports.store.begin().await?;
        insert_new_user(&self.ports, uow.as_mut(), &user).await?;
        let event = AuditEvent::new(&Actor::system(), "user.create_super_admin", "user", user.id)
            .with_summary(serde_json::json!({"username": user.username.as_str()}));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        self.ports
            .users
            .get_user(user.id)
            .await?
            .ok_or(IdentityError::NotFound)
    }
}
