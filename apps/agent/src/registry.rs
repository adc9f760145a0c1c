//! The agent's record of the sites on this server (a JSON file, written atomically and last, so
//! a site is listed only once everything it needs exists).

use crate::fsx;
use chom_agent_protocol::{AgentError, Domain, ErrorCode, PhpVersion, SiteNames, SiteType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// The domain.
    pub domain: Domain,
    /// Application type.
    pub site_type: SiteType,
    /// PHP version of its pool.
    pub php_version: PhpVersion,
    /// Whether nginx serves it.
    pub enabled: bool,
    /// Derived system names.
    pub names: SiteNames,
    /// Served over HTTPS with an ACME certificate.
    #[serde(default)]
    pub ssl: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// All sites, by domain.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    /// Sites.
    pub sites: BTreeMap<Domain, SiteRecord>,
}

impl Registry {
    /// Reads the registry (empty when the file does not exist yet).
    ///
    /// # Errors
    /// `IO` when it exists but cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                AgentError::new(ErrorCode::Io, format!("{} is corrupt: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(AgentError::new(
                ErrorCode::Io,
                format!("{}: {e}", path.display()),
            )),
        }
    }

    /// Writes it atomically.
    ///
    /// # Errors
    /// `IO`.
    pub fn save(&self, path: &Path) -> Result<(), AgentError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| AgentError::new(ErrorCode::Io, e.to_string()))?;
        fsx::write_atomic(path, &text).map(drop)
    }

    /// A site, or `SITE_NOT_FOUND`.
    ///
    /// # Errors
    /// `SITE_NOT_FOUND`.
    pub fn get(&self, domain: &Domain) -> Result<&SiteRecord, AgentError> {
        self.sites.get(domain).ok_or_else(|| {
            AgentError::new(
                ErrorCode::SiteNotFound,
                format!("no site {domain} on this server"),
            )
        })
    }
}
