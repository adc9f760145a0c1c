//! The jobs of this context: the identity e-mails (their wording lives here, beside the use
//! cases that queue them) and the tenant status event other contexts react to.

use crate::admin::{TENANT_STATUS_CHANGED, TenantStatusChanged};
use crate::identity::Identity;
use chom_auth::mail::jobs::{self as mail_jobs, UserJob};
use chom_auth::mail::{Mailer, OutgoingEmail};
use chom_auth::ports::Purpose;
use chom_kernel::jobs::{Job, JobError, Registration};
use std::sync::Arc;

impl Job for TenantStatusChanged {
    const KIND: &'static str = TENANT_STATUS_CHANGED;
}

/// What the mail handlers need: the identity use cases, a mailer, and the base URL of links.
#[derive(Clone)]
struct Mail {
    identity: Identity,
    mailer: Arc<dyn Mailer>,
    public_url: String,
}

/// The identity e-mail handlers (verification, password reset, sign-up decision, admin notice).
#[must_use]
pub fn jobs(identity: &Identity, mailer: Arc<dyn Mailer>, public_url: &str) -> Vec<Registration> {
    let mail = Mail {
        identity: identity.clone(),
        mailer,
        public_url: public_url.to_owned(),
    };
    [
        mail_jobs::SEND_VERIFICATION,
        mail_jobs::SEND_PASSWORD_RESET,
        mail_jobs::SEND_DECISION,
        mail_jobs::NOTIFY_ADMINS,
    ]
    .into_iter()
    .map(|kind| {
        let mail = mail.clone();
        Registration::payload(kind, move |job: UserJob, claimed| {
            identity_mail(mail.clone(), job, claimed.kind)
        })
    })
    .collect()
}

async fn user_of(mail: &Mail, id: chom_kernel::UserId) -> Result<chom_auth::User, JobError> {
    mail.identity
        .ports()
        .users
        .get_user(id)
        .await
        .map_err(|e| JobError::Retryable(e.into()))?
        .ok_or_else(|| JobError::Permanent(anyhow::anyhow!("user {id} no longer exists")))
}

async fn send(
    mail: &Mail,
    to: &str,
    subject: &str,
    body: String,
    secrets: Vec<String>,
) -> Result<(), JobError> {
    let email = OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
        secrets,
    };
    mail.mailer.send(&email).await.map_err(JobError::Retryable)
}

/// Runs one identity e-mail job.
async fn identity_mail(mail: Mail, job: UserJob, kind: String) -> Result<(), JobError> {
    let user = user_of(&mail, job.user_id).await?;
    let base = mail.public_url.trim_end_matches('/');
    let name = user.first_name.as_str();
    match kind.as_str() {
        mail_jobs::SEND_VERIFICATION => {
            if user.email_verified_at.is_some() {
                return Ok(());
            }
            let token = mail
                .identity
                .mint_one_time(user.id, Purpose::VerifyEmail)
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            let body = format!(
                "Hello {name},\n\nconfirm your e-mail address for CHOM by opening this link (valid 24 hours):\n\n  {base}/api/v1/auth/verify-email#token={token}\n\nor by sending this token to POST /api/v1/auth/verify-email:\n\n  {token}\n\nIf you did not sign up, ignore this message.\n"
            );
            send(
                &mail,
                user.email.as_str(),
                "Confirm your e-mail address",
                body,
                vec![token],
            )
            .await
        }
        mail_jobs::SEND_PASSWORD_RESET => {
            let token = mail
                .identity
                .mint_one_time(user.id, Purpose::ResetPassword)
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            let body = format!(
                "Hello {name},\n\nsomeone asked to reset your CHOM password. The token below is valid for 60 minutes and works once:\n\n  {token}\n\nSend it with your new password to POST {base}/api/v1/auth/reset-password.\nIf you did not ask, ignore this message: your password is unchanged.\n"
            );
            send(
                &mail,
                user.email.as_str(),
                "Reset your password",
                body,
                vec![token],
            )
            .await
        }
        mail_jobs::SEND_DECISION => {
            let (subject, text) = if job.approved == Some(true) {
                (
                    "Your CHOM account is approved",
                    "your account has been approved: you can now log in and choose a plan."
                        .to_owned(),
                )
            } else {
                (
                    "Your CHOM sign-up was not approved",
                    format!(
                        "your sign-up was not approved. Reason: {}",
                        job.reason.as_deref().unwrap_or("not given")
                    ),
                )
            };
            send(
                &mail,
                user.email.as_str(),
                subject,
                format!("Hello {name},\n\n{text}\n"),
                Vec::new(),
            )
            .await
        }
        mail_jobs::NOTIFY_ADMINS => {
            let admins = mail
                .identity
                .ports()
                .users
                .list_super_admins()
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            for admin in admins {
                let body = format!(
                    "A new sign-up waits for approval:\n\n  {} {} <{}> (username {})\n\nReview it at GET {base}/api/v1/admin/approvals.\n",
                    user.first_name, user.last_name, user.email, user.username
                );
                send(
                    &mail,
                    admin.email.as_str(),
                    "New sign-up waiting for approval",
                    body,
                    Vec::new(),
                )
                .await?;
            }
            Ok(())
        }
        other => Err(JobError::Permanent(anyhow::anyhow!(
            "not an identity mail job: {other}"
        ))),
    }
}
