//! The audit trail: every state-changing action of every context is appended, in the same
//! unit of work as the change, to its organization's hash chain.
//!
//! Each organization has one chain (actions outside any organization, such as fleet changes,
//! go to the operators' chain, [`OPERATORS_CHAIN`]). An entry carries the SHA-256 of the
//! previous entry of its chain and its own hash over every field ([`link_hash`]), so editing,
//! deleting or reordering a stored row breaks the chain at exactly that row. The adapter
//! numbers entries and links them under a per-chain lock (SQLite as it appends; PostgreSQL's
//! linker after commit, ADR 0010), so concurrent appends never fork.
//!
//! This vocabulary lives in the kernel because every context appends (tenancy's approvals are
//! upstream of the team context); reading, filtering and verifying belong to the team context.

use crate::error::StoreError;
use crate::ids::{OrganizationId, TenantId, UserId};
use crate::store::UnitOfWork;
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

/// The chain of actions that belong to no organization (fleet, operators' own changes).
pub const OPERATORS_CHAIN: Uuid = Uuid::nil();

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a request came from, as the HTTP layer saw it (empty for background work).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client address (after the trusted-proxy rules).
    pub client_addr: Option<String>,
    /// The `User-Agent` header, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The request id, to join the entry with the logs.
    pub request_id: Option<String>,
}

impl Origin {
    /// An origin; the user agent is cut to 256 characters.
    #[must_use]
    pub fn new(
        client_addr: Option<String>,
        user_agent: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            client_addr,
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
            request_id,
        }
    }
}

crate::str_enum! {
    /// Who acted.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ActorKind: "actor kind" {
        /// A member of the organization, through the API.
        User = "user",
        /// A super admin, through the admin API or the CLI.
        SuperAdmin = "super_admin",
        /// The control plane itself (a job, a sweep).
        System = "system",
    }
}

/// Who acts, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What kind of actor.
    pub kind: ActorKind,
    /// The user (`None` for the system).
    pub user_id: Option<UserId>,
    /// The actor's own organization (whose chain records its actions by default).
    pub organization_id: Option<OrganizationId>,
    /// Where the request came from.
    pub origin: Origin,
}

impl Actor {
    /// A user acting for themselves (their tokens, password…) or as a member.
    #[must_use]
    pub fn user(user: UserId, organization: Option<OrganizationId>, origin: Origin) -> Self {
        Self {
            kind: ActorKind::User,
            user_id: Some(user),
            organization_id: organization,
            origin,
        }
    }

    /// A super admin (the operators' chain unless the event names an organization).
    #[must_use]
    pub fn super_admin(user: UserId, origin: Origin) -> Self {
        Self {
            kind: ActorKind::SuperAdmin,
            user_id: Some(user),
            organization_id: None,
            origin,
        }
    }

    /// The control plane itself, or an operator at the console (`chom-api admin …`).
    #[must_use]
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            user_id: None,
            organization_id: None,
            origin: Origin::default(),
        }
    }
}

/// Appends to nothing, remembering every event in memory (unit tests' fake; it ignores the
/// unit of work, so a rolled-back event stays recorded).
#[derive(Debug, Default)]
pub struct MemoryTrail {
    events: std::sync::Mutex<Vec<AuditEvent>>,
}

impl MemoryTrail {
    /// Every event appended so far.
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl AuditTrail for MemoryTrail {
    async fn append(
        &self,
        _uow: &mut dyn UnitOfWork,
        event: &AuditEvent,
    ) -> Result<AuditEntry, StoreError> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.push(event.clone());
        let seq = i64::try_from(events.len()).unwrap_or(i64::MAX);
        Ok(AuditEntry::link(event, Uuid::now_v7(), seq, GENESIS))
    }
}

/// Records nothing: only for measuring what auditing costs (`cargo xtask bench audit`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrail;

#[async_trait]
impl AuditTrail for NoTrail {
    async fn append(
        &self,
        _uow: &mut dyn UnitOfWork,
        event: &AuditEvent,
    ) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry::link(event, Uuid::nil(), 0, GENESIS))
    }
}

/// One action, as a use case describes it before appending.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The organization whose chain records it (`None`: the operators' chain).
    pub organization_id: Option<OrganizationId>,
    /// The tenant acted for, if any.
    pub tenant_id: Option<TenantId>,
    /// The acting user (`None` for the system).
    pub actor_id: Option<UserId>,
    /// What kind of actor.
    pub actor_kind: ActorKind,
    /// `"<target type>.<verb>"`, e.g. `site.create`, `member.role_change`.
    pub action: &'static str,
    /// `site`, `member`, `organization`, `vps`, …
    pub target_type: &'static str,
    /// The target's id.
    pub target_id: Option<String>,
    /// A small JSON object: before/after where it matters; never a secret.
    pub summary: serde_json::Value,
    /// Where the request came from.
    pub origin: Origin,
    /// When (truncated to the millisecond, the precision both backends keep).
    pub occurred_at: OffsetDateTime,
}

impl AuditEvent {
    /// An action by `actor`, in the chain of the actor's organization (see
    /// [`AuditEvent::in_organization`] to record it in the organization acted upon).
    #[must_use]
    pub fn new(
        actor: &Actor,
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self {
            organization_id: actor.organization_id,
            tenant_id: None,
            actor_id: actor.user_id,
            actor_kind: actor.kind,
            action,
            target_type,
            target_id: Some(target_id.to_string()),
            summary: serde_json::Value::Object(serde_json::Map::new()),
            origin: actor.origin.clone(),
            occurred_at: now_ms(),
        }
    }

    /// Recorded in `organization`'s chain (an operator acting on an organization: its owners
    /// see it), or the operators' chain for `None`.
    #[must_use]
    pub fn in_organization(mut self, organization: Option<OrganizationId>) -> Self {
        self.organization_id = organization;
        self
    }

    /// With a summary (a JSON object; keys are stored sorted).
    #[must_use]
    pub fn with_summary(mut self, summary: serde_json::Value) -> Self {
        self.summary = summary;
        self
    }

    /// With the request's origin.
    #[must_use]
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// For a tenant.
    #[must_use]
    pub fn for_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant_id = Some(tenant);
        self
    }

    /// The chain this event belongs to.
    #[must_use]
    pub fn chain(&self) -> Uuid {
        self.organization_id
            .map_or(OPERATORS_CHAIN, |o| o.as_uuid())
    }
}

/// Now, truncated to the millisecond.
#[must_use]
pub fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now)
}

/// One stored entry: the event as stored (strings), its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unique id (time-ordered).
    pub id: Uuid,
    /// The chain (organization id, or [`OPERATORS_CHAIN`]).
    pub chain: Uuid,
    /// 1, 2, 3… within the chain.
    pub seq: i64,
    /// When.
    pub occurred_at: OffsetDateTime,
    /// Organization.
    pub organization_id: Option<Uuid>,
    /// Tenant.
    pub tenant_id: Option<Uuid>,
    /// Acting user.
    pub actor_id: Option<Uuid>,
    /// `user`, `super_admin`, `system`.
    pub actor_kind: String,
    /// `site.create`, …
    pub action: String,
    /// `site`, …
    pub target_type: String,
    /// The target's id.
    pub target_id: Option<String>,
    /// The summary, as stored (compact JSON text).
    pub summary: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Hex SHA-256 of the previous entry of the chain ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this entry ([`link_hash`]).
    pub hash: String,
}

impl AuditEntry {
    /// The entry an adapter stores for `event` at `seq` after `prev_hash`, hash included.
    #[must_use]
    pub fn link(event: &AuditEvent, id: Uuid, seq: i64, prev_hash: &str) -> Self {
        let mut entry = Self::unlinked(event, id);
        entry.seq = seq;
        entry.prev_hash = prev_hash.to_owned();
        entry.hash = link_hash(&entry);
        entry
    }

    /// The entry of `event` before its place in a chain is known (`seq` 0, no hashes): what
    /// [`content_hash`] reads.
    #[must_use]
    pub fn unlinked(event: &AuditEvent, id: Uuid) -> Self {
        Self {
            id,
            chain: event.chain(),
            seq: 0,
            occurred_at: event.occurred_at,
            organization_id: event.organization_id.map(|o| o.as_uuid()),
            tenant_id: event.tenant_id.map(|t| t.as_uuid()),
            actor_id: event.actor_id.map(|u| u.as_uuid()),
            actor_kind: event.actor_kind.as_str().to_owned(),
            action: event.action.to_owned(),
            target_type: event.target_type.to_owned(),
            target_id: event.target_id.clone(),
            summary: event.summary.to_string(),
            client_addr: event.origin.client_addr.clone(),
            user_agent: event.origin.user_agent.clone(),
            request_id: event.origin.request_id.clone(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// The hash of an entry's content: SHA-256 over a versioned, length-prefixed encoding of every
/// field but its place in the chain (`seq`, `prev_hash`, `hash`), as lower-case hex.
#[must_use]
pub fn content_hash(e: &AuditEntry) -> String {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn opt(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            // A missing value and an empty string differ.
            None => out.push(0),
            Some(v) => {
                out.push(1);
                field(out, v.as_bytes());
            }
        }
    }
    let mut out = Vec::with_capacity(512);
    field(&mut out, b"chom-audit-v1");
    field(&mut out, e.id.as_bytes());
    field(&mut out, e.chain.as_bytes());
    let ms = e.occurred_at.unix_timestamp_nanos() / 1_000_000;
    field(&mut out, &ms.to_be_bytes());
    let uuid = |u: Option<Uuid>| u.map(|u| u.to_string());
    opt(&mut out, uuid(e.organization_id).as_deref());
    opt(&mut out, uuid(e.tenant_id).as_deref());
    opt(&mut out, uuid(e.actor_id).as_deref());
    field(&mut out, e.actor_kind.as_bytes());
    field(&mut out, e.action.as_bytes());
    field(&mut out, e.target_type.as_bytes());
    opt(&mut out, e.target_id.as_deref());
    field(&mut out, e.summary.as_bytes());
    opt(&mut out, e.client_addr.as_deref());
    opt(&mut out, e.user_agent.as_deref());
    opt(&mut out, e.request_id.as_deref());
    data_encoding::HEXLOWER.encode(&crate::crypto::sha256(&out))
}

/// A link of the chain: lower-case hex SHA-256 of the previous entry's hash followed by this
/// entry's content hash (both as bytes). PostgreSQL computes the same in SQL
/// (`sha256(decode(prev, 'hex') || decode(content, 'hex'))`), so an append is one statement
/// there. An argument that is not hex yields a hash no entry has.
#[must_use]
pub fn chain_link(prev_hash: &str, content_hash: &str) -> String {
    let hex = data_encoding::HEXLOWER_PERMISSIVE;
    match (
        hex.decode(prev_hash.as_bytes()),
        hex.decode(content_hash.as_bytes()),
    ) {
        (Ok(mut bytes), Ok(content)) => {
            bytes.extend_from_slice(&content);
            data_encoding::HEXLOWER.encode(&crate::crypto::sha256(&bytes))
        }
        _ => String::new(),
    }
}

/// The hash an entry must carry: its link from `prev_hash` over its content. Editing any field
/// but `seq` changes it; `seq` is held by the order of the links (a renumbered or reordered
/// entry no longer follows its predecessor).
#[must_use]
pub fn link_hash(e: &AuditEntry) -> String {
    chain_link(&e.prev_hash, &content_hash(e))
}

/// Appends events to their chains. Implemented by the storage adapters.
#[async_trait]
pub trait AuditTrail: Send + Sync {
    /// Appends `event` inside `uow`: it exists if and only if the change it records commits.
    /// The entry is numbered and linked into its organization's chain either here (SQLite:
    /// the answer carries its number and hashes) or after commit by the linker (PostgreSQL,
    /// ADR 0010: the answer is the entry unlinked).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn append(
        &self,
        uow: &mut dyn UnitOfWork,
        event: &AuditEvent,
    ) -> Result<AuditEntry, StoreError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed assertion
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent::new(
            &Actor::super_admin(UserId::new(), Origin::default()),
            "organization.suspend",
            "organization",
            "x",
        )
        .in_organization(Some(OrganizationId::new()))
        .with_summary(serde_json::json!({"b": 1, "a": "two"}))
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let e = AuditEntry::link(&event(), Uuid::now_v7(), 7, GENESIS);
        assert_eq!(e.hash, link_hash(&e));
        assert_eq!(e.summary, r#"{"a":"two","b":1}"#, "keys sorted");
        let edits: Vec<fn(&mut AuditEntry)> = vec![
            |e| e.id = Uuid::now_v7(),
            |e| e.chain = Uuid::now_v7(),
            |e| e.occurred_at += time::Duration::milliseconds(1),
            |e| e.organization_id = None,
            |e| e.tenant_id = Some(Uuid::nil()),
            |e| e.actor_id = None,
            |e| e.actor_kind = "user".into(),
            |e| e.action = "organization.reactivate".into(),
            |e| e.target_type = "site".into(),
            |e| e.target_id = Some(String::new()),
            |e| e.summary = "{}".into(),
            |e| e.client_addr = Some("10.0.0.1".into()),
            |e| e.user_agent = Some(String::new()),
            |e| e.request_id = Some("r".into()),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut changed = e.clone();
            edit(&mut changed);
            assert_ne!(link_hash(&changed), e.hash, "field {i} is not hashed");
        }
        // The link is what PostgreSQL computes in SQL: sha256(prev bytes || content bytes).
        let mut bytes = data_encoding::HEXLOWER.decode(GENESIS.as_bytes()).unwrap();
        bytes.extend(
            data_encoding::HEXLOWER
                .decode(content_hash(&e).as_bytes())
                .unwrap(),
        );
        assert_eq!(
            e.hash,
            data_encoding::HEXLOWER.encode(&crate::crypto::sha256(&bytes))
        );
        assert_eq!(chain_link("not hex", &content_hash(&e)), "");
    }

    #[test]
    fn long_user_agents_are_cut() {
        let o = Origin::new(None, Some("x".repeat(1000)), None);
        assert_eq!(o.user_agent.unwrap().len(), 256);
    }
}
