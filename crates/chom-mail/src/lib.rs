#![doc = include_str!("../README.md")]

use anyhow::Context as _;
use async_trait::async_trait;
use chom_auth::mail::{Mailer, OutgoingEmail};
use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// Does not send: logs each e-mail at INFO with its one-time secrets redacted, and writes it
/// whole (mode 0600) into an outbox directory when one is set, where a developer finds the
/// verification link. One-time tokens never reach the log, at any level.
#[derive(Debug, Default)]
pub struct LogMailer {
    outbox: Option<PathBuf>,
}

impl LogMailer {
    /// A mailer writing whole messages into `outbox` (if any).
    #[must_use]
    pub fn new(outbox: Option<PathBuf>) -> Self {
        Self { outbox }
    }

    fn file(&self, email: &OutgoingEmail) -> std::io::Result<Option<PathBuf>> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let Some(dir) = &self.outbox else {
            return Ok(None);
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let name = format!(
            "{}-{}.eml",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
            uuid::Uuid::new_v4().simple()
        );
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        write!(
            f,
            "To: {}\nSubject: {}\n\n{}",
            email.to, email.subject, email.body
        )?;
        Ok(Some(path))
    }
}

/// `body` with every secret replaced by `[redacted]`.
#[must_use]
pub fn redact(body: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(body.to_owned(), |b, s| b.replace(s.as_str(), "[redacted]"))
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let file = self
            .file(email)
            .context("writing the e-mail to the outbox")?;
        let body = redact(&email.body, &email.secrets);
        match file {
            Some(path) => {
                tracing::info!(to = %email.to, subject = %email.subject, body = %body, outbox = %path.display(), "e-mail not sent (no mail.smtp_url): written to the outbox")
            }
            None => {
                tracing::info!(to = %email.to, subject = %email.subject, body = %body, "e-mail not sent (mail.log_only)")
            }
        }
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
    #[tracing::instrument(name = "smtp.send", skip_all)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m5_one_time_tokens_never_reach_the_log_and_the_outbox_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let captured = chom_test_support::logs::CapturedLog::default();
        let subscriber = captured.subscriber(tracing::Level::TRACE);
        let token = "Zq3vU4sF0-secret_TOKEN-value";
        let email = OutgoingEmail {
            to: "jane@example.com".into(),
            subject: "Confirm".into(),
            body: format!("open http://x/verify-email#token={token}\n\n  {token}\n"),
            secrets: vec![token.into()],
        };
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(LogMailer::new(Some(outbox.clone())).send(&email))
                .unwrap();
            rt.block_on(LogMailer::new(None).send(&email)).unwrap();
        });
        let log = captured.text();
        assert!(
            log.contains("jane@example.com") && log.contains("[redacted]"),
            "{log}"
        );
        assert!(!log.contains(token), "a token reached the log: {log}");
        let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let meta = files[0].metadata().unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(
            std::fs::read_to_string(files[0].path())
                .unwrap()
                .contains(token)
        );
    }
}
