//! Typed settings: defaults, then an optional `chom.toml`, then `CHOM_*` environment variables
//! (`CHOM_SERVER__PORT=8080`: a double underscore separates sections). Secrets are wrapped so
//! they never print. A bad value stops start-up with a message naming the key.

mod defaults;
mod proxies;
mod sections;
mod validate;

pub use chom_ssh::GatewaySettings;
pub use proxies::{Cidr, ForwardedHeader};
pub use sections::*;

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
    pub ssh: GatewaySettings,
    /// Hosting sites.
    pub sites: SitesSettings,
    /// Backups.
    pub backup: BackupSettings,
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
    /// What is wrong with `key`.
    #[must_use]
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
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
    /// The reverse proxies to believe and the header they write, parsed (checked at load).
    ///
    /// # Errors
    /// A block or the header name is malformed (names the key).
    pub fn trusted_proxies(&self) -> Result<(Vec<Cidr>, ForwardedHeader), ConfigError> {
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
        Ok((blocks, header))
    }

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
mod tests;
