//! Checks run once at load: a bad value stops start-up naming its key.

use super::*;
use secrecy::ExposeSecret;

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.server.host.trim().is_empty() {
            return Err(ConfigError::new("server.host", "must not be empty"));
        }
        self.trusted_proxies()?;
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.worker.concurrency == 0 {
            return Err(ConfigError::new("worker.concurrency", "must be at least 1"));
        }
        if !self.worker.metrics_listen.is_empty()
            && self
                .worker
                .metrics_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err(ConfigError::new(
                "worker.metrics_listen",
                "must be host:port with an IP address (e.g. 127.0.0.1:9465), or empty",
            ));
        }
        if let Some(url) = &self.backup.verify_database
            && !url.expose_secret().is_empty()
            && let Err(why) = chom_restic::ScratchDatabase::parse(url.expose_secret())
        {
            return Err(ConfigError::new("backup.verify_database", why));
        }
        if self.backup.storage == RepositoryStorage::S3 {
            let s3 = &self.backup.s3;
            for (key, value) in [
                ("backup.s3.endpoint", s3.endpoint.as_str()),
                ("backup.s3.bucket", s3.bucket.as_str()),
                ("backup.s3.region", s3.region.as_str()),
                ("backup.s3.access_key", s3.access_key.as_str()),
            ] {
                if value.trim().is_empty() {
                    return Err(ConfigError::new(
                        key,
                        "is required when backup.storage is s3",
                    ));
                }
            }
            if !s3.endpoint.starts_with("https://") && !s3.endpoint.starts_with("http://") {
                return Err(ConfigError::new(
                    "backup.s3.endpoint",
                    "must start with https:// (or http:// for a local server)",
                ));
            }
            // Keys are listed back under the prefix as written: characters S3 would percent-
            // encode would make every listing come back empty.
            let plain = s3
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            if !plain || !(s3.prefix.is_empty() || s3.prefix.ends_with('/')) {
                return Err(ConfigError::new(
                    "backup.s3.prefix",
                    "must be empty, or letters, digits, `-_./` ending with `/` (e.g. `chom/`)",
                ));
            }
            if s3
                .secret_key
                .as_ref()
                .is_none_or(|k| k.expose_secret().is_empty())
            {
                return Err(ConfigError::new(
                    "backup.s3.secret_key",
                    "is required when backup.storage is s3 (CHOM_BACKUP__S3__SECRET_KEY)",
                ));
            }
        }
        if self.worker.lease_secs < 3 {
            return Err(ConfigError::new("worker.lease_secs", "must be at least 3"));
        }
        if let Some(url) = &self.redis.url
            && !url.expose_secret().starts_with("redis://")
            && !url.expose_secret().starts_with("rediss://")
        {
            return Err(ConfigError::new(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        if let Some(key) = &self.security.encryption_key
            && decode_key(key.expose_secret()).is_none()
        {
            return Err(ConfigError::new(
                "security.encryption_key",
                "must be 32 bytes encoded as base64url (e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`)",
            ));
        }
        if self
            .security
            .previous_encryption_keys
            .iter()
            .any(|k| decode_key(k.expose_secret()).is_none())
        {
            return Err(ConfigError::new(
                "security.previous_encryption_keys",
                "each must be 32 bytes encoded as base64url",
            ));
        }
        if self.security.session_cache_ms > 60_000 {
            return Err(ConfigError::new(
                "security.session_cache_ms",
                "at most 60000 (revocations must apply within a minute)",
            ));
        }
        if self.security.sensitive_operations_per_minute == 0 {
            return Err(ConfigError::new(
                "security.sensitive_operations_per_minute",
                "must be at least 1",
            ));
        }
        if self.security.api_requests_per_minute == 0 {
            return Err(ConfigError::new(
                "security.api_requests_per_minute",
                "must be at least 1",
            ));
        }
        if self.security.auth_requests_per_minute == 0
            || self.security.password_attempts_per_15_min == 0
        {
            return Err(ConfigError::new(
                "security",
                "rate limits must be at least 1",
            ));
        }
        if let Some(url) = &self.mail.smtp_url {
            let u = url.expose_secret();
            if !(u.starts_with("smtp://")
                || u.starts_with("smtps://")
                || u.starts_with("smtp+starttls://"))
            {
                return Err(ConfigError::new(
                    "mail.smtp_url",
                    "must start with smtp://, smtp+starttls:// or smtps://",
                ));
            }
        }
        if let Some(public) = &self.mail.public_url
            && !(public.starts_with("http://") || public.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "mail.public_url",
                "must start with http:// or https://",
            ));
        }
        if self.ssh.connect_timeout_secs == 0 || self.ssh.command_timeout_secs == 0 {
            return Err(ConfigError::new(
                "ssh",
                "timeouts must be at least 1 second",
            ));
        }
        if !self.ssh.agent_path.starts_with('/') {
            return Err(ConfigError::new(
                "ssh.agent_path",
                "must be an absolute path",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(ConfigError::new("log.filter", e.to_string()));
        }
        self.database_target().map(drop)
    }
}
