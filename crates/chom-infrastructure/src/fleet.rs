//! The fleet application service.

use crate::model::{Allocation, Health, HostKey, Vps, VpsStatus, fingerprint_names};
use crate::ports::{AgentGateway, GatewayError, VpsRepository};
use chom_agent_protocol::{Command, Request, Response};
use chom_kernel::store::Store;
use chom_kernel::{StoreError, TenantId, VpsId};
use std::sync::Arc;
use time::OffsetDateTime;

/// Fleet use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Invalid fields (field, message).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, String)>),
    /// No such server.
    #[error("no such server")]
    NotFound,
    /// The host name is taken.
    #[error("a server with this host name exists")]
    HostnameTaken,
    /// Not allowed in the server's state.
    #[error("{0}")]
    Conflict(String),
    /// The server could not be used.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The agent refused.
    #[error("the agent refused: {0}")]
    Agent(String),
    /// The agent was busy with another changing command; nothing was done.
    #[error("the server is busy: {0}")]
    Busy(String),
    /// A key is pinned already and the request did not prove it knows which one (nor named
    /// the key the server presents now): nothing changed.
    #[error("{0}")]
    HostKeyAlreadyPinned(String),
    /// Site rows (deleted ones included, for `remove`; live ones, for `decommission`) name the
    /// server.
    #[error("{0} site(s) on this server")]
    HasSites(i64),
    /// Only a decommissioned server may be removed.
    #[error("the server is not decommissioned")]
    NotDecommissioned,
    /// The server presents another key than the administrator expects (fingerprint given).
    #[error("the server presents {0}, not the expected key")]
    HostKeyUnexpected(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How an administrator vouches for the key to pin.
#[derive(Debug, Clone, Default)]
pub struct TrustHostKey {
    /// The key the server must present now (`ssh-ed25519 AAAA…` or its `SHA256:` fingerprint),
    /// compared out of band. Enough on its own to re-pin.
    pub expected_key: Option<String>,
    /// Replace the pinned key by whatever the server presents now; needs `old_fingerprint`.
    pub replace: bool,
    /// With `replace`: the fingerprint of the key pinned now.
    pub old_fingerprint: Option<String>,
}

/// The expected key or fingerprint, parsed.
enum Expected {
    Key(HostKey),
    Fingerprint(String),
}

impl Expected {
    fn matches(&self, presented: &HostKey) -> bool {
        match self {
            Self::Key(k) => k == presented,
            Self::Fingerprint(f) => fingerprint_names(f, presented),
        }
    }
}

fn fingerprint_ok(f: &str) -> bool {
    f.trim().strip_prefix("SHA256:").is_some_and(|b| {
        let b = b.trim_end_matches('=');
        b.len() == 43
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

fn parse_trust(req: &TrustHostKey) -> Result<Option<Expected>, FleetError> {
    let mut errors = Vec::new();
    let expected = match req.expected_key.as_deref() {
        None => None,
        Some(e) if fingerprint_ok(e) => Some(Expected::Fingerprint(e.trim().to_owned())),
        Some(e) => match HostKey::parse(e) {
            Some(k) => Some(Expected::Key(k)),
            None => {
                errors.push((
                    "expected_key",
                    "an OpenSSH public key (`ssh-ed25519 AAAA…`) or its `SHA256:…` fingerprint"
                        .to_owned(),
                ));
                None
            }
        },
    };
    match (&req.old_fingerprint, req.replace) {
        (None, true) => errors.push((
            "old_fingerprint",
            "replace needs the fingerprint of the key pinned now".to_owned(),
        )),
        (Some(f), _) if !fingerprint_ok(f) => {
            errors.push(("old_fingerprint", "a `SHA256:…` fingerprint".to_owned()));
        }
        (Some(_), false) => errors.push((
            "old_fingerprint",
            "only meaningful with replace: true".to_owned(),
        )),
        _ => {}
    }
    if errors.is_empty() {
        Ok(expected)
    } else {
        Err(FleetError::Invalid(errors))
    }
}

/// A server to add (or the new values of one).
#[derive(Debug, Clone, Default)]
pub struct NewVps {
    /// Host name.
    pub hostname: String,
    /// Address.
    pub ip_address: String,
    /// SSH port (default 22).
    pub ssh_port: Option<u16>,
    /// SSH user (default `chom`).
    pub ssh_user: Option<String>,
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
    pub dedicated_tenant_id: Option<TenantId>,
    /// Site cap (default 50).
    pub max_sites: Option<i32>,
}

fn hostname_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn validate(input: &NewVps) -> Result<(Allocation, u16, String, i32), FleetError> {
    let mut errors = Vec::new();
    if !hostname_ok(&input.hostname) {
        errors.push((
            "hostname",
            "a host name of letters, digits, '-' and '.'".to_owned(),
        ));
    }
    if input.ip_address.parse::<std::net::IpAddr>().is_err() {
        errors.push(("ip_address", "an IPv4 or IPv6 address".to_owned()));
    }
    let port = input.ssh_port.unwrap_or(22);
    if port == 0 {
        errors.push(("ssh_port", "1 to 65535".to_owned()));
    }
    let user = input.ssh_user.clone().unwrap_or_else(|| "chom".to_owned());
    if user.is_empty()
        || user.len() > 32
        || !user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        || !user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
    {
        errors.push(("ssh_user", "a Linux user name".to_owned()));
    }
    if input.provider.trim().is_empty() || input.provider.len() > 50 {
        errors.push(("provider", "1 to 50 characters".to_owned()));
    }
    if input.region.as_ref().is_some_and(|r| r.len() > 50) {
        errors.push(("region", "at most 50 characters".to_owned()));
    }
    for (field, value, min) in [
        ("cpu_cores", input.cpu_cores, 1),
        ("memory_mb", input.memory_mb, 256),
        ("disk_gb", input.disk_gb, 1),
    ] {
        if value < min {
            errors.push((field, format!("at least {min}")));
        }
    }
    let max_sites = input.max_sites.unwrap_or(50);
    if !(0..=10_000).contains(&max_sites) {
        errors.push(("max_sites", "0 to 10000".to_owned()));
    }
    let allocation = match input.allocation.as_str() {
        "shared" => Some(Allocation::Shared),
        "dedicated" => Some(Allocation::Dedicated),
        _ => {
            errors.push(("allocation", "shared or dedicated".to_owned()));
            None
        }
    };
    if allocation == Some(Allocation::Dedicated) && input.dedicated_tenant_id.is_none() {
        errors.push((
            "dedicated_tenant_id",
            "a dedicated server needs its tenant".to_owned(),
        ));
    }
    match allocation {
        Some(a) if errors.is_empty() => Ok((a, port, user, max_sites)),
        _ => Err(FleetError::Invalid(errors)),
    }
}

/// The fleet service.
#[derive(Clone)]
pub struct Fleet {
    store: Arc<dyn Store>,
    repo: Arc<dyn VpsRepository>,
    gateway: Arc<dyn AgentGateway>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fleet")
    }
}

fn conflict(e: StoreError) -> FleetError {
    match e {
        StoreError::Conflict(c) if c.contains("hostname") => FleetError::HostnameTaken,
        StoreError::NotFound => FleetError::NotFound,
        other => other.into(),
    }
}

impl Fleet {
    /// A service over its ports.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        repo: Arc<dyn VpsRepository>,
        gateway: Arc<dyn AgentGateway>,
    ) -> Self {
        Self {
            store,
            repo,
            gateway,
        }
    }

    /// Adds a server (health `unknown`, no trusted key yet).
    ///
    /// # Errors
    /// `Invalid`, `HostnameTaken`, `Store`.
    pub async fn add(&self, input: NewVps) -> Result<Vps, FleetError> {
        let (allocation, ssh_port, ssh_user, max_sites) = validate(&input)?;
        self.check_tenant(allocation, input.dedicated_tenant_id)
            .await?;
        let vps = Vps {
            id: VpsId::new(),
            hostname: input.hostname.to_ascii_lowercase(),
            ip_address: input.ip_address,
            ssh_port,
            ssh_user,
            provider: input.provider.trim().to_owned(),
            region: input.region,
            cpu_cores: input.cpu_cores,
            memory_mb: input.memory_mb,
            disk_gb: input.disk_gb,
            allocation,
            dedicated_tenant_id: input
                .dedicated_tenant_id
                .filter(|_| allocation == Allocation::Dedicated),
            max_sites,
            host_key: None,
            status: VpsStatus::Active,
            health: Health::Unknown,
            health_reason: None,
            health_checked_at: None,
            agent_version: None,
            created_at: OffsetDateTime::now_utc(),
        };
        let mut uow = self.store.begin().await?;
        self.repo
            .insert_vps(uow.as_mut(), &vps)
            .await
            .map_err(conflict)?;
        uow.commit().await?;
        Ok(vps)
    }

    /// Edits a server (a changed address or port forgets the trusted key).
    ///
    /// # Errors
    /// `NotFound`, `Invalid`, `HostnameTaken`, `Store`.
    pub async fn edit(&self, id: VpsId, input: NewVps) -> Result<Vps, FleetError> {
        let current = self.get(id).await?;
        let (allocation, ssh_port, ssh_user, max_sites) = validate(&input)?;
        self.check_tenant(allocation, input.dedicated_tenant_id)
            .await?;
        let endpoint_changed =
            current.ip_address != input.ip_address || current.ssh_port != ssh_port;
        let vps = Vps {
            hostname: input.hostname.to_ascii_lowercase(),
            ip_address: input.ip_address,
            ssh_port,
            ssh_user,
            provider: input.provider.trim().to_owned(),
            region: input.region,
            cpu_cores: input.cpu_cores,
            memory_mb: input.memory_mb,
            disk_gb: input.disk_gb,
            allocation,
            dedicated_tenant_id: input
                .dedicated_tenant_id
                .filter(|_| allocation == Allocation::Dedicated),
            max_sites,
            host_key: if endpoint_changed {
                None
            } else {
                current.host_key.clone()
            },
            ..current
        };
        self.save(&vps).await?;
        Ok(vps)
    }

    /// A dedicated server must name a tenant that exists (there is no foreign key: tenants
    /// live in another context).
    async fn check_tenant(
        &self,
        allocation: Allocation,
        tenant: Option<TenantId>,
    ) -> Result<(), FleetError> {
        match tenant {
            Some(t)
                if allocation == Allocation::Dedicated && !self.repo.tenant_exists(t).await? =>
            {
                Err(FleetError::Invalid(vec![(
                    "dedicated_tenant_id",
                    "no such tenant".to_owned(),
                )]))
            }
            _ => Ok(()),
        }
    }

    async fn save(&self, vps: &Vps) -> Result<(), FleetError> {
        let mut uow = self.store.begin().await?;
        self.repo
            .update_vps(uow.as_mut(), vps)
            .await
            .map_err(conflict)?;
        uow.commit().await?;
        Ok(())
    }

    /// One server.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn get(&self, id: VpsId) -> Result<Vps, FleetError> {
        self.repo.get_vps(id).await?.ok_or(FleetError::NotFound)
    }

    /// Every server.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list(&self) -> Result<Vec<Vps>, FleetError> {
        Ok(self.repo.list_vps().await?)
    }

    /// A page of servers in creation order: at most `limit`, after server `after`.
    ///
    /// # Errors
    /// `Store`.
    pub async fn page(&self, after: Option<VpsId>, limit: i64) -> Result<Vec<Vps>, FleetError> {
        Ok(self.repo.list_vps_page(after, limit).await?)
    }

    /// Pins the host key the server presents now; every later connection checks it strictly.
    ///
    /// First contact (nothing pinned) trusts what answers unless `expected_key` is given.
    /// Once a key is pinned, re-pinning needs `expected_key` equal to what the server presents
    /// now, or `replace` with `old_fingerprint` equal to the pinned key's fingerprint; a call
    /// with neither succeeds only if the server still presents the pinned key (nothing
    /// changes). The pin is a compare-and-swap on the key that was checked.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (the request), `HostKeyAlreadyPinned`, `HostKeyUnexpected`,
    /// `Gateway` (unreachable, or it offers no usable key), `Store`.
    pub async fn trust_host_key(&self, id: VpsId, req: &TrustHostKey) -> Result<Vps, FleetError> {
        let expected = parse_trust(req)?;
        let mut vps = self.get(id).await?;
        // `Some(None)`: a key is pinned but unreadable (written outside this service).
        let pinned = vps.host_key.as_deref().map(HostKey::parse);
        let pinned_fingerprint = pinned.as_ref().map(|p| {
            p.as_ref()
                .map_or_else(|| "an unreadable key".to_owned(), HostKey::fingerprint)
        });
        let replace_proven = match (&pinned, &req.old_fingerprint) {
            (Some(p), Some(old)) if req.replace => {
                if !p.as_ref().is_some_and(|p| fingerprint_names(old, p)) {
                    return Err(FleetError::HostKeyAlreadyPinned(format!(
                        "old_fingerprint is not the fingerprint of the pinned key ({}): nothing changed",
                        pinned_fingerprint.unwrap_or_default()
                    )));
                }
                true
            }
            _ => false,
        };
        let scanned = self.gateway.scan_host_key(&vps).await?;
        let presented = HostKey::parse(&scanned).ok_or_else(|| {
            GatewayError::BadAnswer(format!(
                "the server offered an unreadable host key: {scanned}"
            ))
        })?;
        if let Some(want) = &expected
            && !want.matches(&presented)
        {
            return Err(FleetError::HostKeyUnexpected(presented.fingerprint()));
        }
        if let Some(p) = &pinned
            && expected.is_none()
            && !replace_proven
        {
            if p.as_ref() == Some(&presented) {
                return Ok(vps);
            }
            return Err(FleetError::HostKeyAlreadyPinned(format!(
                "a key is pinned ({}) and the server now presents {}: pass expected_key (compared out of band) or replace: true with old_fingerprint",
                pinned_fingerprint.unwrap_or_default(),
                presented.fingerprint()
            )));
        }
        let key = presented.openssh();
        let mut uow = self.store.begin().await?;
        let swapped = self
            .repo
            .pin_host_key(uow.as_mut(), id, vps.host_key.as_deref(), &key)
            .await?;
        if !swapped {
            return Err(FleetError::HostKeyAlreadyPinned(
                "the pinned key changed meanwhile: read the server again".into(),
            ));
        }
        uow.commit().await?;
        tracing::info!(vps = %id, fingerprint = %presented.fingerprint(), replaced = ?pinned_fingerprint, "pinned a host key");
        vps.host_key = Some(key);
        Ok(vps)
    }

    async fn call(&self, vps: &Vps, command: Command) -> Result<serde_json::Value, FleetError> {
        let response: Response = match self.gateway.call(vps, &Request::new(command)).await {
            Ok(r) => r,
            Err(e @ GatewayError::HostKeyMismatch(_)) => {
                // Someone may be impersonating the server: say so loudly, and keep new sites
                // off it (placement takes only healthy or degraded servers) until re-pinned.
                tracing::error!(vps = %vps.id, hostname = %vps.hostname, error = %e, "host key mismatch");
                if let Err(store) = self
                    .repo
                    .record_health(
                        vps.id,
                        Health::Unhealthy,
                        Some(&e.to_string()),
                        OffsetDateTime::now_utc(),
                    )
                    .await
                {
                    tracing::warn!(vps = %vps.id, error = %store, "could not record the mismatch as the server's health");
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        match (response.ok, response.data, response.error) {
            (true, Some(data), _) => Ok(data),
            (_, _, Some(e)) if e.code == chom_agent_protocol::ErrorCode::Busy => {
                Err(FleetError::Busy(e.message))
            }
            (_, _, Some(e)) => Err(FleetError::Agent(format!("{:?}: {}", e.code, e.message))),
            _ => Err(FleetError::Agent("empty answer".into())),
        }
    }

    /// Checks that the agent answers (`version`); records the agent version.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn test_connection(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        let version = self.call(&vps, Command::Version).await?;
        self.note_version(vps, &version).await?;
        Ok(version)
    }

    async fn note_version(
        &self,
        mut vps: Vps,
        version: &serde_json::Value,
    ) -> Result<(), FleetError> {
        let agent = version["agent"].as_str().map(ToOwned::to_owned);
        if agent != vps.agent_version {
            vps.agent_version = agent;
            self.save(&vps).await?;
        }
        Ok(())
    }

    /// Installs the agent and verifies it answers `version`.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn bootstrap(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        self.gateway.install_agent(&vps).await?;
        let version = self.call(&vps, Command::Version).await?;
        self.note_version(vps, &version).await?;
        Ok(version)
    }

    /// Runs the agent's health check and records the verdict: `healthy` when nothing is wrong,
    /// `degraded` with the issues, `unhealthy` for a changed key or a broken agent,
    /// `unreachable` when SSH fails.
    ///
    /// # Errors
    /// `NotFound`, `Store` (gateway failures are verdicts, not errors).
    pub async fn check_health(
        &self,
        id: VpsId,
    ) -> Result<(Health, Option<String>, Option<serde_json::Value>), FleetError> {
        let vps = self.get(id).await?;
        let (health, reason, report) = match self.call(&vps, Command::Health).await {
            Ok(report) => {
                let issues: Vec<String> = report["issues"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i.as_str().map(ToOwned::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if issues.is_empty() {
                    (Health::Healthy, None, Some(report))
                } else {
                    (Health::Degraded, Some(issues.join("; ")), Some(report))
                }
            }
            Err(FleetError::Gateway(GatewayError::Unreachable(why))) => {
                (Health::Unreachable, Some(why), None)
            }
            Err(FleetError::Gateway(e)) => (Health::Unhealthy, Some(e.to_string()), None),
            Err(FleetError::Agent(why)) => (Health::Unhealthy, Some(why), None),
            Err(other) => return Err(other),
        };
        self.repo
            .record_health(id, health, reason.as_deref(), OffsetDateTime::now_utc())
            .await?;
        Ok((health, reason, report))
    }

    /// Checks every server in service (the periodic job). Returns how many were checked.
    ///
    /// # Errors
    /// `Store`.
    pub async fn check_all(&self) -> Result<usize, FleetError> {
        let mut n = 0;
        for vps in self.list().await? {
            if vps.status != VpsStatus::Decommissioned {
                self.check_health(vps.id).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The sites the agent reports on the server (super admins only: never shown to tenants).
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn sites(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::SiteList).await
    }

    /// Runs one agent command on server `id` and returns its answer.
    ///
    /// # Errors
    /// `NotFound`, `Gateway` (transport), `Agent` (the agent refused).
    pub async fn run(&self, id: VpsId, command: Command) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        self.call(&vps, command).await
    }

    /// The agent's `stats` (uptime, processes, sites, network and disk counters).
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn stats(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::Stats).await
    }

    /// The agent's security self-audit.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn security_audit(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::SecurityAudit).await
    }

    /// Puts the server in or out of maintenance.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (decommissioned), `Store`.
    pub async fn set_maintenance(&self, id: VpsId, on: bool) -> Result<Vps, FleetError> {
        let mut vps = self.get(id).await?;
        if vps.status == VpsStatus::Decommissioned {
            return Err(FleetError::Conflict("the server is decommissioned".into()));
        }
        vps.status = if on {
            VpsStatus::Maintenance
        } else {
            VpsStatus::Active
        };
        self.save(&vps).await?;
        Ok(vps)
    }

    /// Retires the server (no new sites; health checks stop). Refused while site rows that are
    /// not deleted name it, or while its agent reports sites (or cannot be asked). The agent is
    /// not asked when the database knows the server never held a site: no site row ever named
    /// it, and it was never trusted or never answered (a server added by mistake, or one that
    /// never came up). Decommissioning a decommissioned server changes nothing.
    ///
    /// # Errors
    /// `NotFound`, `HasSites` (in the database), `Conflict` (the agent reports sites, or cannot
    /// tell), `Store`.
    pub async fn decommission(&self, id: VpsId) -> Result<Vps, FleetError> {
        let mut vps = self.get(id).await?;
        if vps.status == VpsStatus::Decommissioned {
            return Ok(vps);
        }
        let rows = self.repo.site_rows(id).await?;
        if rows.live > 0 {
            return Err(FleetError::HasSites(rows.live));
        }
        let never_held_a_site =
            rows.ever == 0 && (vps.host_key.is_none() || vps.agent_version.is_none());
        if !never_held_a_site {
            let sites = match self.call(&vps, Command::SiteList).await {
                Ok(list) => list["count"].as_u64().unwrap_or(0),
                Err(e) => {
                    return Err(FleetError::Conflict(format!(
                        "cannot tell whether sites live there: {e}"
                    )));
                }
            };
            if sites > 0 {
                return Err(FleetError::Conflict(format!(
                    "{sites} site(s) still live on this server"
                )));
            }
        }
        vps.status = VpsStatus::Decommissioned;
        self.save(&vps).await?;
        Ok(vps)
    }

    /// Removes a decommissioned server from the fleet. Refused while any site row, deleted or
    /// not, names it: a deleted site's history (operations, backups) still points at its
    /// server.
    ///
    /// # Errors
    /// `NotFound`, `NotDecommissioned`, `HasSites`, `Store`.
    pub async fn remove(&self, id: VpsId) -> Result<(), FleetError> {
        let vps = self.get(id).await?;
        if vps.status != VpsStatus::Decommissioned {
            return Err(FleetError::NotDecommissioned);
        }
        let rows = self.repo.site_rows(id).await?;
        if rows.ever > 0 {
            return Err(FleetError::HasSites(rows.ever));
        }
        // The delete re-checks both conditions itself, so a change in between cannot slip by.
        let mut uow = self.store.begin().await?;
        let deleted = match self.repo.delete_vps(uow.as_mut(), id).await {
            Ok(d) => d,
            Err(StoreError::Conflict(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if !deleted {
            drop(uow);
            let rows = self.repo.site_rows(id).await?;
            return Err(match self.repo.get_vps(id).await? {
                None => FleetError::NotFound,
                Some(v) if v.status != VpsStatus::Decommissioned => FleetError::NotDecommissioned,
                Some(_) => FleetError::HasSites(rows.ever),
            });
        }
        uow.commit().await?;
        tracing::info!(vps = %id, hostname = %vps.hostname, "removed a decommissioned server");
        Ok(())
    }
}
