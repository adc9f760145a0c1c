//! The sections of the settings, as `chom.toml` spells them, with secrets redacted in `Debug`.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

/// Backups: where the sites' repositories live and how the agents reach them (ADR 0008).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Where `chom-api` serves the restic REST server (`host:port`; empty: not served).
    pub listen: String,
    /// The address agents reach it at (`https://backups.example.com`); empty:
    /// `http://<listen>`.
    pub public_url: String,
    /// The repositories' directory (one per site).
    pub repository_root: std::path::PathBuf,
    /// The largest repository file accepted, MiB.
    pub max_file_mb: u64,
    /// Scheduled backups pending or running on one server at most.
    pub max_per_server: u32,
    /// Where the repositories are kept: `disk` (under `repository_root`) or `s3` (in the
    /// bucket of `backup.s3`; `repository_root` then only spools uploads while they are
    /// checked).
    pub storage: RepositoryStorage,
    /// The bucket, when `storage` is `s3`.
    pub s3: BackupS3Settings,
    /// A MariaDB server on the worker's host where verifications load each dump into a scratch
    /// database (`mysql://user[:password]@host[:port]`; the user creates and drops databases
    /// named `chom_verify_*`); empty: the dump is checked as a stream only.
    #[serde(serialize_with = "ser_opt_secret")]
    pub verify_database: Option<SecretString>,
}

/// Where the backup repositories are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepositoryStorage {
    /// Directories under `backup.repository_root`.
    Disk,
    /// An S3-compatible bucket (AWS S3, Backblaze B2, Cloudflare R2, MinIO…).
    S3,
}

/// An S3-compatible bucket for the backup repositories.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupS3Settings {
    /// The endpoint (`https://s3.eu-west-1.amazonaws.com`, `https://<account>.r2.cloudflarestorage.com`).
    pub endpoint: String,
    /// The bucket (made beforehand).
    pub bucket: String,
    /// Its region (`us-east-1` where the provider has none; R2: `auto`).
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    #[serde(serialize_with = "ser_opt_secret")]
    pub secret_key: Option<SecretString>,
    /// Keys start with it (`chom/`), so one bucket can hold other things.
    pub prefix: String,
    /// Path-style addresses (`endpoint/bucket/key`: MinIO and most self-hosted servers)
    /// instead of virtual-host ones (`bucket.endpoint/key`).
    pub path_style: bool,
}

impl std::fmt::Debug for BackupS3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupS3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &redacted(self.secret_key.as_ref()))
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .finish()
    }
}

impl BackupSettings {
    /// What agents are told: `public_url`, else `http://<listen>`; empty while that is not
    /// known (no listener here, or port 0: `chom-api` fills it in once it has bound one).
    #[must_use]
    pub fn agent_url(&self) -> String {
        if !self.public_url.is_empty() {
            self.public_url.clone()
        } else if self.listen.is_empty() || self.listen.ends_with(":0") {
            String::new()
        } else {
            format!("http://{}", self.listen)
        }
    }
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
    /// Sensitive operations (site deletion, database export) per tenant per minute.
    pub sensitive_operations_per_minute: u32,
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
    /// Where `chom-worker` serves its own Prometheus `/metrics` (`host:port`; empty: nowhere).
    /// `chom-api` serves the embedded worker's metrics on its own `/metrics`.
    pub metrics_listen: String,
    /// Whether this process enqueues the periodic jobs (health checks, reaper, pruning…). Every
    /// occurrence is enqueued once whichever process gets there first, so any number of
    /// processes may; turn it off where periodic work must not start (a process that only
    /// drains the queue, or a test that places sites on a server no agent answers on).
    pub schedule: bool,
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
            .field(
                "sensitive_operations_per_minute",
                &self.sensitive_operations_per_minute,
            )
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
