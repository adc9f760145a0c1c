//! Sign-up: registration, e-mail verification, one-time tokens.

use super::*;
use chom_kernel::UniqueKey;
use chom_kernel::audit::{Actor, AuditEvent, Origin};

impl Identity {
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
        let hash = self.ports.hashing.hash(password.expose()).await?;
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
        insert_new_user(&self.ports, uow.as_mut(), &user).await?;
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
        let actor = Actor::user(
            user.id,
            Some(organization.id),
            Origin::new(None, None, request_id.clone()),
        );
        let event = AuditEvent::new(
            &actor,
            "organization.register",
            "organization",
            organization.id,
        )
        .with_summary(serde_json::json!({
            "name": organization.name,
            "owner": user.username.as_str(),
            "tenant_id": tenant.id,
        }));
        self.ports.audit.append(uow.as_mut(), &event).await?;
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

fn collect<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    r: Result<T, FieldError>,
) -> Option<T> {
    r.map_err(|e| errors.push((field, e))).ok()
}

/// Stores a new user, telling a taken e-mail from a taken username.
///
/// # Errors
/// `EmailTaken`, `UsernameTaken`, `Store`.
pub async fn insert_new_user(
    ports: &IdentityPorts,
    uow: &mut dyn chom_kernel::store::UnitOfWork,
    user: &NewUser,
) -> Result<(), IdentityError> {
    match ports.users.insert_user(uow, user).await {
        Err(StoreError::Conflict(c)) => Err(match c.key {
            Some(UniqueKey::UserEmail) => IdentityError::EmailTaken,
            Some(UniqueKey::UserUsername) => IdentityError::UsernameTaken,
            _ => StoreError::Conflict(c).into(),
        }),
        other => Ok(other?),
    }
}
