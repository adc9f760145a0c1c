//! The team's jobs: the invitation e-mail (the handler mints the token, so no secret is ever
//! stored in the queue).

use crate::model::INVITATION_LIFETIME;
use crate::service::{InvitationJob, SEND_INVITATION, Team};
use chom_auth::mail::{Mailer, OutgoingEmail};
use chom_kernel::InvitationId;
use chom_kernel::crypto::{random_token, sha256};
use chom_kernel::jobs::{JobError, Registration};
use std::sync::Arc;
use time::OffsetDateTime;

/// The handlers of this context's jobs.
#[must_use]
pub fn jobs(team: &Team, mailer: Arc<dyn Mailer>, public_url: &str) -> Vec<Registration> {
    let team = team.clone();
    let base = public_url.trim_end_matches('/').to_owned();
    vec![Registration::payload(
        SEND_INVITATION,
        move |job: InvitationJob, _claimed| {
            send_invitation(
                team.clone(),
                mailer.clone(),
                base.clone(),
                job.invitation_id,
            )
        },
    )]
}

fn retry(e: impl Into<anyhow::Error>) -> JobError {
    JobError::Retryable(e.into())
}

async fn send_invitation(
    team: Team,
    mailer: Arc<dyn Mailer>,
    base: String,
    id: InvitationId,
) -> Result<(), JobError> {
    let Some(invitation) = team.repository().invitation(id).await.map_err(retry)? else {
        return Ok(());
    };
    if !invitation.is_open() {
        return Ok(());
    }
    let ports = team.identity();
    let org = ports
        .orgs
        .get_organization(invitation.organization_id)
        .await
        .map_err(retry)?
        .map_or_else(|| "an organization".to_owned(), |o| o.name);
    let inviter = match invitation.invited_by {
        Some(u) => ports
            .users
            .get_user(u)
            .await
            .map_err(retry)?
            .map(|u| format!("{} {}", u.first_name, u.last_name)),
        None => None,
    }
    .unwrap_or_else(|| "A member".to_owned());
    let token = random_token(32).map_err(retry)?;
    let now = OffsetDateTime::now_utc();
    let mut uow = ports.store.begin().await.map_err(retry)?;
    let open = team
        .repository()
        .set_invitation_token(
            uow.as_mut(),
            id,
            &sha256(token.as_bytes()),
            now,
            now + INVITATION_LIFETIME,
        )
        .await
        .map_err(retry)?;
    if !open {
        return Ok(());
    }
    uow.commit().await.map_err(retry)?;
    let body = format!(
        "Hello,\n\n{inviter} invites you to join {org} on CHOM as {role}.\n\nThe invitation is valid for 7 days and works once. Accept it with this token:\n\n  {token}\n\n- if you have a CHOM account with this address: log in, then POST {base}/api/v1/invitations/accept with {{\"token\": \"<the token>\"}};\n- if not: POST {base}/api/v1/invitations/accept with the token and your new account (username, first_name, last_name, password).\n\nIf you do not expect this, ignore this message.\n",
        role = invitation.role.as_str()
    );
    let email = OutgoingEmail {
        to: invitation.email.clone(),
        subject: format!("Join {org} on CHOM"),
        body,
        secrets: vec![token],
    };
    mailer.send(&email).await.map_err(JobError::Retryable)
}
