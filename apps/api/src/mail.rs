//! Mailer adapters: SMTP through lettre, or the log (the embedded default, so a developer sees
//! the verification link without a mail server).

use anyhow::Context as _;
use async_trait::async_trait;
use chom_auth::mail::{Mailer, OutgoingEmail};
use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Writes each e-mail to the log at INFO, body included.
#[derive(Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        tracing::info!(to = %email.to, subject = %email.subject, body = %email.body, "e-mail (not sent: mail.smtp_url is unset)");
        Ok(())
    }
}

/// Sends through an SMTP server, with a 10 s timeout per message.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (`smtp://` plain, `smtp+starttls://`, `smtps://`).
    ///
    /// # Errors
    /// A malformed URL or sender.
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let url = match url.strip_prefix("smtp+starttls://") {
            Some(rest) => format!(
                "smtp://{rest}{}tls=required",
                if rest.contains('?') { "&" } else { "?" }
            ),
            None => url.to_owned(),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .context("mail.smtp_url")?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self {
            transport,
            from: from.parse().context("mail.from")?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse().context("recipient address")?)
            .subject(&email.subject)
            .header(ContentType::TEXT_PLAIN)
            // Plain 7-bit when the text allows it (links stay intact in any client); else the
            // encoding lettre picks.
            .body(
                Body::new_with_encoding(email.body.clone(), ContentTransferEncoding::SevenBit)
                    .unwrap_or_else(Body::new),
            )?;
        self.transport
            .send(message)
            .await
            .context("SMTP delivery")?;
        Ok(())
    }
}
