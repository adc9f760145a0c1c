//! What the control plane reads from the agent's answers, typed. An answer may carry more than
//! these fields (for people and for later versions); these are the ones the domain acts on, so
//! a missing or mistyped one is a bad answer, named, not a `null` read from untyped JSON.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// An answer that lacks what its command promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command}: unexpected answer: {what}")]
pub struct BadAnswer {
    /// The command.
    pub command: &'static str,
    /// What is wrong with the answer.
    pub what: String,
}

/// A command's typed answer.
pub trait Answer: DeserializeOwned {
    /// The command that gives it.
    const COMMAND: &'static str;

    /// Reads the answer.
    ///
    /// # Errors
    /// A field the domain needs is missing or has the wrong type.
    fn read(answer: &serde_json::Value) -> Result<Self, BadAnswer> {
        serde_path_to_error::deserialize(answer).map_err(|e| {
            // Name the field, never quote its value: an answer may carry a password.
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let what = if inner.starts_with("missing field") {
                inner
            } else {
                format!("`{path}` has the wrong type")
            };
            BadAnswer {
                command: Self::COMMAND,
                what,
            }
        })
    }
}

/// `version`: the agent's version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionAnswer {
    /// The agent's package version.
    pub agent: String,
}

impl Answer for VersionAnswer {
    const COMMAND: &'static str = "version";
}

/// `health`: what is wrong on the server (empty when healthy).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HealthAnswer {
    /// Problems found (services down, disks full).
    pub issues: Vec<String>,
}

impl Answer for HealthAnswer {
    const COMMAND: &'static str = "health";
}

/// `site.list`: how many sites the server holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteListAnswer {
    /// Sites in the agent's registry.
    pub count: u64,
}

impl Answer for SiteListAnswer {
    const COMMAND: &'static str = "site.list";
}

/// The database a site was given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DatabaseAccess {
    /// Database name.
    pub name: String,
    /// Database user.
    pub user: String,
    /// Its password (shown once: the control plane seals it).
    pub password: String,
}

/// `site.create`: the site's database credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteCreatedAnswer {
    /// The database and its user.
    pub database: DatabaseAccess,
}

impl Answer for SiteCreatedAnswer {
    const COMMAND: &'static str = "site.create";
}

/// `site.info`: the site's disk usage (absent when it could not be measured).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteInfoAnswer {
    /// Bytes under the site's directory.
    #[serde(default)]
    pub disk_usage_bytes: Option<u64>,
}

impl Answer for SiteInfoAnswer {
    const COMMAND: &'static str = "site.info";
}

/// `ssl.issue`, `ssl.renew`, `ssl.status`: the certificate's expiry, RFC 3339 (absent when the
/// site has none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CertificateAnswer {
    /// When the certificate expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl Answer for CertificateAnswer {
    const COMMAND: &'static str = "ssl";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_read_their_fields_and_ignore_the_rest() {
        let created = SiteCreatedAnswer::read(&json!({
            "domain": "a.example.com",
            "database": {"name": "db", "user": "u", "password": "p", "host": "localhost"},
        }));
        assert_eq!(
            created.map(|a| a.database),
            Ok(DatabaseAccess {
                name: "db".into(),
                user: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            SiteInfoAnswer::read(&json!({"domain": "a"})).map(|a| a.disk_usage_bytes),
            Ok(None)
        );
        assert_eq!(
            SiteListAnswer::read(&json!({"sites": [], "count": 0})).map(|a| a.count),
            Ok(0)
        );
    }

    #[test]
    fn a_missing_or_mistyped_field_is_a_named_bad_answer() {
        let Err(e) = SiteCreatedAnswer::read(&json!({"database": {"name": "db", "user": "u"}}))
        else {
            panic!("an answer without the password was read");
        };
        assert_eq!(e.command, "site.create");
        assert!(e.to_string().contains("password"), "{e}");
        assert!(HealthAnswer::read(&json!({"issues": "disk"})).is_err());
        let Err(e) = SiteCreatedAnswer::read(
            &json!({"database": {"name": "db", "user": "u", "password": ["s3cret"]}}),
        ) else {
            panic!("a mistyped password was read");
        };
        assert!(e.to_string().contains("database.password"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "the value leaked: {e}");
        assert!(VersionAnswer::read(&json!({})).is_err());
    }
}
