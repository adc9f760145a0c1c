//! The VPS.

use chom_kernel::{TenantId, VpsId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

chom_kernel::str_enum! {
    /// Shared by many tenants, or dedicated to one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Allocation: "allocation" {
        /// Any tenant's sites may be placed here.
        Shared = "shared",
        /// Only one tenant's sites.
        Dedicated = "dedicated",
    }
}

chom_kernel::str_enum! {
    /// Whether the server takes work.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum VpsStatus: "server status" {
        /// In service.
        Active = "active",
        /// No new sites; existing ones keep running.
        Maintenance = "maintenance",
        /// Retired.
        Decommissioned = "decommissioned",
    }
}

chom_kernel::str_enum! {
    /// The last health verdict.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Health: "health" {
        /// Every service runs; resources are fine.
        Healthy = "healthy",
        /// Reachable, but a service is stopped or a resource is short.
        Degraded = "degraded",
        /// Reachable but not usable (host key changed, agent missing or broken).
        Unhealthy = "unhealthy",
        /// Not reachable over SSH.
        Unreachable = "unreachable",
        /// Never checked.
        Unknown = "unknown",
    }
}

/// A managed server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vps {
    /// Id.
    pub id: VpsId,
    /// Unique host name.
    pub hostname: String,
    /// Address SSH connects to.
    pub ip_address: String,
    /// SSH port.
    pub ssh_port: u16,
    /// SSH user.
    pub ssh_user: String,
    /// Provider (`hetzner`, `ovh`, `custom`…).
    pub provider: String,
    /// Region.
    pub region: Option<String>,
    /// CPU cores.
    pub cpu_cores: i32,
    /// Memory.
    pub memory_mb: i32,
    /// Disk.
    pub disk_gb: i32,
    /// Shared or dedicated.
    pub allocation: Allocation,
    /// The tenant a dedicated server belongs to.
    pub dedicated_tenant_id: Option<TenantId>,
    /// Most sites placed here.
    pub max_sites: i32,
    /// The pinned host key (`ssh-ed25519 AAAA…`); `None` until trusted.
    pub host_key: Option<String>,
    /// Service status.
    pub status: VpsStatus,
    /// Last health verdict.
    pub health: Health,
    /// Why.
    pub health_reason: Option<String>,
    /// When.
    pub health_checked_at: Option<OffsetDateTime>,
    /// Agent version reported at bootstrap or the last check.
    pub agent_version: Option<String>,
    /// Creation.
    pub created_at: OffsetDateTime,
}

/// An SSH public key as OpenSSH writes it (`ssh-ed25519 AAAA… [comment]`): its type and
/// decoded blob. Two spellings of one key (another comment, extra spaces) compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    kind: String,
    blob: Vec<u8>,
}

impl HostKey {
    /// Parses `type base64 [comment]`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let kind = parts.next()?;
        let blob = data_encoding::BASE64
            .decode(parts.next()?.as_bytes())
            .ok()?;
        let valid_kind = !kind.is_empty()
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.'));
        // The blob starts with its own type name (a length-prefixed string).
        let named = blob
            .get(..4)
            .and_then(|n| <[u8; 4]>::try_from(n).ok())
            .map(|n| u32::from_be_bytes(n) as usize)
            .and_then(|n| blob.get(4..4usize.checked_add(n)?))
            .is_some_and(|name| name == kind.as_bytes());
        (valid_kind && named).then(|| Self {
            kind: kind.to_owned(),
            blob,
        })
    }

    /// The SHA-256 fingerprint, as `ssh-keygen -lf` prints it (`SHA256:` + unpadded base64).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.blob);
        format!(
            "SHA256:{}",
            data_encoding::BASE64_NOPAD.encode(digest.as_ref())
        )
    }

    /// `type base64`, without a comment (the pinned spelling).
    #[must_use]
    pub fn openssh(&self) -> String {
        format!("{} {}", self.kind, data_encoding::BASE64.encode(&self.blob))
    }
}

/// The fingerprint of a key in OpenSSH spelling; `None` when it does not parse.
#[must_use]
pub fn fingerprint(key: &str) -> Option<String> {
    HostKey::parse(key).map(|k| k.fingerprint())
}

/// Whether `fingerprint` names `key`: `SHA256:…`, compared exactly (base64 is case-sensitive);
/// a trailing `=` padding is tolerated.
#[must_use]
pub fn fingerprint_names(fingerprint: &str, key: &HostKey) -> bool {
    fingerprint.trim().trim_end_matches('=') == key.fingerprint()
}

impl Vps {
    /// The pinned key's fingerprint (`SHA256:…`).
    #[must_use]
    pub fn host_key_fingerprint(&self) -> Option<String> {
        self.host_key.as_deref().and_then(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // `ssh-keygen -lf` of this key prints SHA256:kMhqyu5KHEoj5C6uCqZk0YHLeNwd5JdOHS7T/lCJ5ks.
    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjwPmvB18OWYxOqIpPaMqobm+8eFvuqO4YPfLmXE66j";

    #[test]
    fn a_key_parses_and_has_its_openssh_fingerprint() {
        let key = HostKey::parse(&format!("  {KEY}   some comment ")).unwrap();
        assert_eq!(key.openssh(), KEY);
        assert_eq!(HostKey::parse(KEY), Some(key.clone()));
        assert_eq!(
            key.fingerprint(),
            "SHA256:kMhqyu5KHEoj5C6uCqZk0YHLeNwd5JdOHS7T/lCJ5ks"
        );
        assert!(fingerprint_names(&key.fingerprint(), &key));
        assert!(fingerprint_names(&format!("{}=", key.fingerprint()), &key));
        assert!(!fingerprint_names("SHA256:AAAA", &key));
    }

    #[test]
    fn things_that_are_not_keys_do_not_parse() {
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 AAAAnotit",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIFjwPmvB18OWYxOqIpPaMqobm+8eFvuqO4YPfLmXE66j",
            "SHA256:kMhqyu5KHEoj5C6uCqZk0YHLeNwd5JdOHS7T/lCJ5ks",
            "ssh ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjwPmvB18OWYxOqIpPaMqobm+8eFvuqO4YPfLmXE66j",
        ] {
            assert_eq!(HostKey::parse(bad), None, "{bad}");
        }
    }
}
