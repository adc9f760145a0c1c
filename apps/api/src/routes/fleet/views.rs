//! What the fleet routes answer: servers, agent answers, health verdicts, and the envelopes.

use crate::routes::paging::PageMeta;
use chom_infrastructure::Vps;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A server as the super admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsView {
    /// Id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Address.
    pub ip_address: String,
    /// SSH port.
    pub ssh_port: u16,
    /// SSH user.
    pub ssh_user: String,
    /// Provider.
    pub provider: String,
    /// Region.
    pub region: Option<String>,
    /// CPU cores.
    pub cpu_cores: i32,
    /// Memory.
    pub memory_mb: i32,
    /// Disk.
    pub disk_gb: i32,
    /// `shared` or `dedicated`.
    pub allocation: String,
    /// Tenant of a dedicated server.
    pub dedicated_tenant_id: Option<String>,
    /// Site cap.
    pub max_sites: i32,
    /// The pinned host key (`null` until trusted).
    pub host_key: Option<String>,
    /// Its SHA-256 fingerprint as `ssh-keygen -lf` prints it (`SHA256:…`).
    pub host_key_fingerprint: Option<String>,
    /// `active`, `maintenance`, `decommissioned`.
    pub status: String,
    /// `healthy`, `degraded`, `unhealthy`, `unreachable`, `unknown`.
    pub health: String,
    /// Why.
    pub health_reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339::option")]
    pub health_checked_at: Option<OffsetDateTime>,
    /// Agent version.
    pub agent_version: Option<String>,
}

impl From<&Vps> for VpsView {
    fn from(v: &Vps) -> Self {
        Self {
            id: v.id.to_string(),
            hostname: v.hostname.clone(),
            ip_address: v.ip_address.clone(),
            ssh_port: v.ssh_port,
            ssh_user: v.ssh_user.clone(),
            provider: v.provider.clone(),
            region: v.region.clone(),
            cpu_cores: v.cpu_cores,
            memory_mb: v.memory_mb,
            disk_gb: v.disk_gb,
            allocation: v.allocation.as_str().to_owned(),
            dedicated_tenant_id: v.dedicated_tenant_id.map(|t| t.to_string()),
            max_sites: v.max_sites,
            host_key: v.host_key.clone(),
            host_key_fingerprint: v.host_key_fingerprint(),
            status: v.status.as_str().to_owned(),
            health: v.health.as_str().to_owned(),
            health_reason: v.health_reason.clone(),
            health_checked_at: v.health_checked_at,
            agent_version: v.agent_version.clone(),
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsResponse {
    /// Payload.
    pub data: VpsView,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct VpsList {
    /// Servers in the order they were added.
    pub data: Vec<VpsView>,
    /// Paging.
    pub meta: PageMeta,
}

/// `{"data": <agent answer>}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentAnswer {
    /// What the agent answered.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A health verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `healthy`, `degraded`, `unhealthy`, `unreachable`.
    pub health: String,
    /// Why.
    pub reason: Option<String>,
    /// The agent's report, when it answered.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Payload.
    pub data: HealthView,
}
