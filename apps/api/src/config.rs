//! Typed settings: defaults, then an optional `chom.toml`, then `CHOM_*` environment variables
//! (`CHOM_SERVER__PORT=8080`: a double underscore separates sections). Secrets are wrapped so
//! they never print. A bad value stops start-up with a message naming the key.

use crate::client_addr::{Cidr, ForwardedHeader, TrustedProxies};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything the API and the worker read at start-up.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Redis (cache, rate limits). Unset: in-memory.
    pub redis: RedisSettings,
    /// Job runner.
    pub worker: WorkerSettings,
    /// Logging.
    pub log: LogSettings,
    /// Keys and authentication limits.
    pub security: SecuritySettings,
    /// Outgoing e-mail.
    pub mail: MailSettings,
    /// Reaching the managed servers.
    pub ssh: SshConfig,
    /// Hosting sites.
    pub sites: SitesSettings,
}

/// Hosting sites: certificates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SitesSettings {
    /// Contact e-mail of the ACME account that requests certificates.
    pub acme_email: String,
    /// ACME directory URL (unset: Let's Encrypt production).
    pub acme_directory: Option<String>,
    /// Certificates expiring within this many days are renewed by the daily sweep.
    pub renew_within_days: u32,
}

/// How the control plane reaches managed servers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The control plane's private key (generated next to the SQLite database when missing).
    pub key_file: PathBuf,
    /// Master sockets and pinned host keys.
    pub state_dir: PathBuf,
    /// Where the agent lives on servers.
    pub agent_path: String,
    /// Fixed extra arguments for the agent (e.g. `["--root", "/srv/sandbox"]` in a lab).
    pub agent_args: Vec<String>,
    /// Run the agent with `sudo -n` (the SSH user is not root).
    pub sudo: bool,
    /// Connection timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Per-command timeout, seconds.
    pub command_timeout_secs: u64,
    /// The agent binary installed by bootstrap (default: `chom-agent` next to this program).
    pub agent_binary: Option<PathBuf>,
}

/// Keys and authentication limits.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// 32 bytes, base64url: encrypts secrets at rest (TOTP secrets…). Unset on SQLite: a key is
    /// generated once into `<sqlite dir>/secret.key`; required on PostgreSQL.
    #[serde(serialize_with = "ser_opt_secret")]
    pub encryption_key: Option<SecretString>,
    /// Earlier encryption keys (32 bytes, base64url each), kept while values they sealed are
    /// still stored: they open those values (and recognise recovery codes) but never seal.
    /// Rotation: move the old key here and set a new `encryption_key`.
    #[serde(serialize_with = "ser_secrets")]
    pub previous_encryption_keys: Vec<SecretString>,
    /// Requests per minute per client IP on the unauthenticated auth routes.
    pub auth_requests_per_minute: u32,
    /// Wrong passwords per account per 15 minutes before attempts slow down (one per pause of
    /// 1 s, 2 s, 4 s… up to 15 min); a success clears the count.
    pub password_attempts_per_15_min: u32,
    /// Milliseconds an authenticated session may be served from memory. Changes made on this
    /// replica apply at once; on other replicas within this delay. 0 disables the cache.
    pub session_cache_ms: u64,
    /// API requests per token per minute for tokens whose tenant has no plan yet (and super
    /// admins); a plan's own limit applies otherwise.
    pub api_requests_per_minute: u32,
    /// Super admins must have two-factor authentication on to use the admin API (until then
    /// their sessions can only turn it on).
    pub require_admin_two_factor: bool,
    /// Password hashes computed at once, off the request threads, each in reused memory
    /// (19 MiB). Unset: one per core. 0 hashes on the request thread in fresh memory (the
    /// benchmark's baseline; not for production).
    pub hash_slots: Option<usize>,
}

/// Outgoing e-mail.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp://[user:pass@]host[:port]` (plain, for a local relay), `smtp+starttls://…` or
    /// `smtps://…`. Unset: e-mails are not sent; on SQLite (the embedded default) they are
    /// logged without their one-time tokens and written whole to `outbox_dir`; on PostgreSQL
    /// start-up refuses unless `log_only` says this is meant.
    #[serde(serialize_with = "ser_opt_secret")]
    pub smtp_url: Option<SecretString>,
    /// Without SMTP on PostgreSQL: log e-mails (tokens redacted) instead of refusing to start.
    pub log_only: bool,
    /// Where unsent e-mails are written whole (mode 0600), for local development. Unset: next
    /// to the SQLite database (`var/outbox`) on the embedded default, nowhere on PostgreSQL.
    pub outbox_dir: Option<PathBuf>,
    /// Sender.
    pub from: String,
    /// Base URL of links in e-mails (the web app or API users reach). Unset: the API's URL.
    pub public_url: Option<String>,
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Interface to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted JSON body, bytes.
    pub max_body_bytes: usize,
    /// Time a client has to send its whole body, from the start of the request, ms (408 past
    /// it).
    pub body_timeout_ms: u64,
    /// Reverse proxies whose forwarding header is believed (CIDR blocks or addresses). Empty:
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write: `x-forwarded-for` or `forwarded` (RFC 7239).
    pub forwarded_header: String,
}

/// Database settings.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for PostgreSQL, `sqlite://PATH` for SQLite. Unset: SQLite at `sqlite_path`.
    #[serde(serialize_with = "ser_opt_secret")]
    pub url: Option<SecretString>,
    /// The embedded default's database file.
    pub sqlite_path: PathBuf,
    /// Pool size.
    pub max_connections: u32,
    /// Longest wait for a pooled connection, milliseconds: past it the request answers 503
    /// (`chom-worker` waits at least 5 s: its jobs retry anyway).
    pub acquire_timeout_ms: u64,
}

/// Redis settings.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://…`. Unset: in-memory cache and rate limiter (one process only).
    #[serde(serialize_with = "ser_opt_secret")]
    pub url: Option<SecretString>,
    /// Prefix of every key.
    pub key_prefix: String,
}

/// Which processes run jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddedWorker {
    /// In-process on SQLite, separate `chom-worker` on PostgreSQL.
    Auto,
    /// Always run an in-process worker in the API.
    On,
    /// Never: jobs are run by `chom-worker` processes.
    Off,
}

/// Job runner settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Whether `chom-api` runs jobs itself.
    pub embedded: EmbeddedWorker,
    /// Jobs run at once per process.
    pub concurrency: usize,
    /// Lease of a claimed job, seconds (heartbeat every third).
    pub lease_secs: u64,
    /// Seconds running jobs get to finish on SIGTERM before they are released.
    pub shutdown_grace_secs: u64,
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production, log shippers).
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` or `pretty`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `chom_api=debug,info`); `RUST_LOG` overrides it.
    pub filter: String,
}

#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes a reference"
)]
fn ser_opt_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

fn ser_secrets<S: serde::Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|_| "[redacted]"))
}

fn redacted(v: Option<&SecretString>) -> &'static str {
    if v.is_some() {
        "Some([redacted])"
    } else {
        "None"
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redacted(self.url.as_ref()))
            .field("sqlite_path", &self.sqlite_path)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .finish()
    }
}

impl std::fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuritySettings")
            .field("encryption_key", &redacted(self.encryption_key.as_ref()))
            .field(
                "previous_encryption_keys",
                &format_args!("[{} redacted]", self.previous_encryption_keys.len()),
            )
            .field("auth_requests_per_minute", &self.auth_requests_per_minute)
            .field(
                "password_attempts_per_15_min",
                &self.password_attempts_per_15_min,
            )
            .field("api_requests_per_minute", &self.api_requests_per_minute)
            .field("require_admin_two_factor", &self.require_admin_two_factor)
            .field("hash_slots", &self.hash_slots)
            .finish()
    }
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_url", &redacted(self.smtp_url.as_ref()))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("log_only", &self.log_only)
            .field("outbox_dir", &self.outbox_dir)
            .finish()
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redacted(self.url.as_ref()))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                host: "127.0.0.1".into(),
                port: 8080,
                workers: 0,
                max_body_bytes: 256 * 1024,
                body_timeout_ms: 10_000,
                trusted_proxies: Vec::new(),
                forwarded_header: "x-forwarded-for".into(),
            },
            database: DatabaseSettings {
                url: None,
                sqlite_path: PathBuf::from("var/chom.db"),
                max_connections: 10,
                acquire_timeout_ms: 1000,
            },
            redis: RedisSettings {
                url: None,
                key_prefix: "chom:".into(),
            },
            worker: WorkerSettings {
                embedded: EmbeddedWorker::Auto,
                concurrency: 16,
                lease_secs: 60,
                shutdown_grace_secs: 20,
            },
            log: LogSettings {
                format: LogFormat::Json,
                filter: "info".into(),
            },
            security: SecuritySettings {
                encryption_key: None,
                previous_encryption_keys: Vec::new(),
                auth_requests_per_minute: 5,
                password_attempts_per_15_min: 10,
                session_cache_ms: 1000,
                api_requests_per_minute: 120,
                require_admin_two_factor: false,
                hash_slots: None,
            },
            mail: MailSettings {
                smtp_url: None,
                from: "CHOM <noreply@chom.localhost>".into(),
                public_url: None,
                log_only: false,
                outbox_dir: None,
            },
            ssh: SshConfig {
                key_file: PathBuf::from("var/ssh/id_ed25519"),
                state_dir: PathBuf::from("var/ssh"),
                agent_path: "/usr/local/bin/chom-agent".into(),
                agent_args: Vec::new(),
                sudo: true,
                connect_timeout_secs: 10,
                command_timeout_secs: 120,
                agent_binary: None,
            },
            sites: SitesSettings {
                acme_email: "hostmaster@chom.localhost".into(),
                acme_directory: None,
                renew_within_days: 30,
            },
        }
    }
}

/// Decodes a base64url (padded or not) 32-byte key.
#[must_use]
pub fn decode_key(raw: &str) -> Option<Vec<u8>> {
    use data_encoding::{BASE64URL, BASE64URL_NOPAD};
    let raw = raw.trim();
    BASE64URL_NOPAD
        .decode(raw.as_bytes())
        .or_else(|_| BASE64URL.decode(raw.as_bytes()))
        .ok()
        .filter(|k| k.len() == 32)
}

/// Which database the settings select.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    /// A PostgreSQL URL.
    Postgres(SecretString),
    /// A SQLite file.
    Sqlite(PathBuf),
}

/// A configuration error: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    /// Dotted key (`server.port`), as in `chom.toml`; `CHOM_SERVER__PORT` in the environment.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// `CHOM_<SECTION>__<KEY>` variables. Variables without a `__` (like `CHOM_CONFIG`, or test
/// switches) are not settings and are left alone; a sectioned variable with an unknown name is
/// still an error, so typos do not pass silently.
fn settings_env() -> Env {
    Env::prefixed("CHOM_")
        .filter(|key| key.as_str().contains("__"))
        .split("__")
}

impl Settings {
    /// Loads defaults ← `file` (if it exists, or must exist when given explicitly) ← `CHOM_*`.
    ///
    /// # Errors
    /// A value has the wrong type or is out of range; the error names the key.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::new(
                    "config file",
                    format!("{} does not exist", path.display()),
                ));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file("chom.toml")),
        }
        Self::from_figment(figment.merge(settings_env()))
    }

    /// Extracts and validates settings from a prepared figment (used by tests).
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() {
                "(root)".to_owned()
            } else {
                e.path.join(".")
            };
            ConfigError::new(&key, e.kind.to_string())
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// The reverse proxies to believe, parsed.
    ///
    /// # Errors
    /// A block or the header name is malformed (names the key).
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let blocks = self
            .server
            .trusted_proxies
            .iter()
            .map(|b| b.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::new("server.trusted_proxies", e))?;
        let header = self
            .server
            .forwarded_header
            .parse::<ForwardedHeader>()
            .map_err(|e| ConfigError::new("server.forwarded_header", e))?;
        Ok(TrustedProxies::new(blocks, header))
    }

    fn validate(&self) -> Result<(), ConfigError> {
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

    /// The previous encryption keys, decoded (oldest last, as configured).
    ///
    /// # Errors
    /// A key is not 32 bytes of base64url.
    pub fn previous_encryption_keys(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        self.security
            .previous_encryption_keys
            .iter()
            .map(|k| {
                decode_key(k.expose_secret()).ok_or_else(|| {
                    ConfigError::new(
                        "security.previous_encryption_keys",
                        "each must be 32 bytes encoded as base64url",
                    )
                })
            })
            .collect()
    }

    /// The database these settings select.
    ///
    /// # Errors
    /// `database.url` has an unknown scheme.
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        let Some(url) = &self.database.url else {
            return Ok(DatabaseTarget::Sqlite(self.database.sqlite_path.clone()));
        };
        let raw = url.expose_secret();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseTarget::Postgres(url.clone()))
        } else if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::new(
                    "database.url",
                    "sqlite:// needs a file path",
                ));
            }
            Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
        } else {
            Err(ConfigError::new(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite://",
            ))
        }
    }

    /// Whether the API process should run jobs itself.
    #[must_use]
    pub fn runs_embedded_worker(&self) -> bool {
        match self.worker.embedded {
            EmbeddedWorker::On => true,
            EmbeddedWorker::Off => false,
            EmbeddedWorker::Auto => matches!(self.database_target(), Ok(DatabaseTarget::Sqlite(_))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn with(key: &str, value: serde_json::Value) -> Result<Settings, ConfigError> {
        Settings::from_figment(
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Serialized::default(key, value)),
        )
    }

    #[test]
    fn defaults_select_the_embedded_sqlite_database_and_worker() {
        let s = with("server.port", 8080.into()).unwrap();
        assert!(
            matches!(s.database_target().unwrap(), DatabaseTarget::Sqlite(p) if p == Path::new("var/chom.db"))
        );
        assert!(s.runs_embedded_worker());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("server.port", serde_json::json!("eighty")),
            ("server.port", serde_json::json!(70000)),
            ("database.url", serde_json::json!("mysql://x")),
            ("worker.concurrency", serde_json::json!(0)),
            ("log.format", serde_json::json!("xml")),
            ("redis.url", serde_json::json!("http://localhost")),
        ];
        for (key, value) in cases {
            let err = with(key, value.clone()).expect_err(&format!("{key}={value} accepted"));
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = with("database.url", "postgres://chom:hunter2@db/chom".into()).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        assert!(!s.runs_embedded_worker());
    }

    #[test]
    fn l11_previous_encryption_keys_are_checked_and_never_print() {
        let key = data_encoding::BASE64URL_NOPAD.encode(&[5u8; 32]);
        let s = with(
            "security.previous_encryption_keys",
            serde_json::json!([key.clone()]),
        )
        .unwrap();
        assert_eq!(s.previous_encryption_keys().unwrap(), vec![vec![5u8; 32]]);
        assert!(!format!("{s:?}").contains(&key));
        assert!(!serde_json::to_string(&s).unwrap().contains(&key));
        let err = with(
            "security.previous_encryption_keys",
            serde_json::json!([key, "short"]),
        )
        .expect_err("a short key accepted");
        assert_eq!(err.key, "security.previous_encryption_keys");
    }
}
