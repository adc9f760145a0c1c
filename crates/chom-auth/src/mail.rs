//! Outgoing e-mail: the port, and the jobs that send identity mail.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A plain-text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The one-time secrets the body carries (tokens): a mailer that logs must redact them.
    #[serde(default, skip_serializing)]
    pub secrets: Vec<String>,
}

/// Sends e-mail. Adapters: SMTP (lettre), and a logger for the embedded default.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message.
    ///
    /// # Errors
    /// The server refused it or could not be reached (the job retries).
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()>;
}

/// Job kinds of this context. Payloads carry ids only: the handler mints any one-time token, so
/// no secret is ever stored in the queue.
pub mod jobs {
    use serde::{Deserialize, Serialize};

    /// `{user_id}`: mint a verification token and e-mail the link.
    pub const SEND_VERIFICATION: &str = "auth::send_verification_email";
    /// `{user_id}`: mint a reset token and e-mail the link.
    pub const SEND_PASSWORD_RESET: &str = "auth::send_password_reset";
    /// `{user_id, approved, reason}`: tell the user the decision on their sign-up.
    pub const SEND_DECISION: &str = "auth::send_decision";
    /// `{user_id}`: tell every super admin a sign-up waits for approval.
    pub const NOTIFY_ADMINS: &str = "auth::notify_admins_of_signup";

    /// Payload of the user-addressed jobs.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct UserJob {
        /// The user.
        pub user_id: chom_kernel::UserId,
        /// For decisions: approved or rejected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub approved: Option<bool>,
        /// For decisions: the reason given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::jobs::UserJob;

    #[test]
    fn job_payloads_hold_no_secret() {
        let p = UserJob {
            user_id: chom_kernel::UserId::new(),
            approved: None,
            reason: None,
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1);
    }
}
