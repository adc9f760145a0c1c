//! The team's jobs: the invitation e-mail (the handler mints the token, so no secret is ever
//! stored in the queue), and the daily anchoring of every audit chain's head.

use crate::audit::Audit;
use crate::model::INVITATION_LIFETIME;
use crate::service::{InvitationJob, SEND_INVITATION, Team};
use chom_auth::mail::{Mailer, OutgoingEmail};
use chom_kernel::InvitationId;
use chom_kernel::crypto::{random_token, sha256};
use chom_kernel::jobs::{JobError, Registration, Schedule};
use std::sync::Arc;
use time::OffsetDateTime;

/// Daily: verifies every audit chain and writes its head (number and hash) to the log, so a
/// rewrite of a whole chain is caught by comparing with an earlier anchor.
pub const ANCHOR_AUDIT: &str = "team::anchor_audit";

/// The handlers of this context's jobs.
#[must_use]
pub fn jobs(
    team: &Team,
    audit: &Audit,
    mailer: Arc<dyn Mailer>,
    public_url: &str,
) -> Vec<Registration> {
    let team = team.clone();
    let audit = audit.clone();
    let base = public_url.trim_end_matches('/').to_owned();
    vec![
        Registration::payload(SEND_INVITATION, move |job: InvitationJob, _claimed| {
            send_invitation(
                team.clone(),
                mailer.clone(),
                base.clone(),
                job.invitation_id,
            )
        }),
        Registration::periodic(ANCHOR_AUDIT, move || {
            let audit = audit.clone();
            async move { anchor(&audit).await }
        }),
    ]
}

/// The periodic jobs: the audit anchor daily at 00:30 UTC.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    vec![
        Schedule::every(
            "anchor-audit",
            ANCHOR_AUDIT,
            std::time::Duration::from_secs(86_400),
        )
        .offset(std::time::Duration::from_secs(1800)),
    ]
}

/// Logs every chain's head; a broken chain is an error line naming where it breaks.
async fn anchor(audit: &Audit) -> Result<(), JobError> {
    let chains = audit.verify_all().await.map_err(retry)?;
    for v in &chains {
        let (seq, hash) = v.head.clone().unwrap_or((0, String::new()));
        match &v.broken {
            None => tracing::info!(chain = %v.chain, seq, head = %hash, "audit chain anchored"),
            Some(b) => tracing::error!(
                chain = %v.chain, seq, head = %hash, broken_at = b.seq, kind = b.kind.as_str(),
                "audit chain BROKEN"
            ),
        }
    }
    Ok(())
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
