//! The VPS.

use chom_kernel::{StoreError, TenantId, VpsId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("bad {what} {v:?}"))
}

/// Shared by many tenants, or dedicated to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocation {
    /// Any tenant's sites may be placed here.
    Shared,
    /// Only one tenant's sites.
    Dedicated,
}

impl Allocation {
    /// Storage spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Dedicated => "dedicated",
        }
    }

    /// Parses it.
    ///
    /// # Errors
    /// A corrupt row.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "shared" => Ok(Self::Shared),
            "dedicated" => Ok(Self::Dedicated),
            _ => Err(corrupt("allocation", s)),
        }
    }
}

/// Whether the server takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VpsStatus {
    /// In service.
    Active,
    /// No new sites; existing ones keep running.
    Maintenance,
    /// Retired.
    Decommissioned,
}

impl VpsStatus {
    /// Storage spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Maintenance => "maintenance",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Parses it.
    ///
    /// # Errors
    /// A corrupt row.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "maintenance" => Ok(Self::Maintenance),
            "decommissioned" => Ok(Self::Decommissioned),
            _ => Err(corrupt("status", s)),
        }
    }
}

/// The last health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Every service runs; resources are fine.
    Healthy,
    /// Reachable, but a service is stopped or a resource is short.
    Degraded,
    /// Reachable but not usable (host key changed, agent missing or broken).
    Unhealthy,
    /// Not reachable over SSH.
    Unreachable,
    /// Never checked.
    Unknown,
}

impl Health {
    /// Storage spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
            Self::Unreachable => "unreachable",
            Self::Unknown => "unknown",
        }
    }

    /// Parses it.
    ///
    /// # Errors
    /// A corrupt row.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "healthy" => Ok(Self::Healthy),
            "degraded" => Ok(Self::Degraded),
            "unhealthy" => Ok(Self::Unhealthy),
            "unreachable" => Ok(Self::Unreachable),
            "unknown" => Ok(Self::Unknown),
            _ => Err(corrupt("health", s)),
        }
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
