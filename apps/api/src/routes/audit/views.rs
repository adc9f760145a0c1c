//! What the audit area reads and answers.

use crate::routes::paging::PageMeta;
use chom_kernel::audit::AuditEntry;
use chom_team::audit::Verification;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// Filters of an audit listing (each narrows; all optional).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this user's actions (a user id).
    pub actor: Option<String>,
    /// Only this action (`site.create`, `member.role_change`…).
    pub action: Option<String>,
    /// Only this kind of target (`site`, `user`, `organization`, `tenant`, `token`, `vps`).
    pub target_type: Option<String>,
    /// Only this target id.
    pub target_id: Option<String>,
    /// At or after this time (RFC 3339).
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

/// Filters of the operators' audit listing: those of an organization's, plus which chain.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminAuditQuery {
    /// Only this organization's chain (an organization id), or `operators` for the actions
    /// outside any organization (fleet, super admins' own). Every chain when left out.
    pub organization: Option<String>,
    /// Only this user's actions (a user id).
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this kind of target.
    pub target_type: Option<String>,
    /// Only this target id.
    pub target_id: Option<String>,
    /// At or after this time (RFC 3339).
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Entry id (time-ordered).
    pub id: String,
    /// Place in its organization's chain: 1, 2, 3…
    pub seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The organization whose chain holds it (null: the operators' chain).
    pub organization_id: Option<String>,
    /// The tenant acted for, if any.
    pub tenant_id: Option<String>,
    /// The acting user (null for the system).
    pub actor_id: Option<String>,
    /// `user`, `super_admin` or `system`.
    #[schema(example = "user")]
    pub actor_kind: String,
    /// What was done.
    #[schema(example = "site.create")]
    pub action: String,
    /// On what kind of thing.
    #[schema(example = "site")]
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// Before/after details where they matter (never a secret).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id`, to find it in the logs.
    pub request_id: Option<String>,
    /// SHA-256 (hex) of the previous entry of the chain (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this entry.
    pub hash: String,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            seq: e.seq,
            occurred_at: e.occurred_at,
            organization_id: e.organization_id.map(|o| o.to_string()),
            tenant_id: e.tenant_id.map(|t| t.to_string()),
            actor_id: e.actor_id.map(|u| u.to_string()),
            actor_kind: e.actor_kind.clone(),
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            // Stored as the JSON text that was hashed; a row edited into non-JSON still shows.
            summary: serde_json::from_str(&e.summary)
                .unwrap_or_else(|_| serde_json::Value::String(e.summary.clone())),
            client_addr: e.client_addr.clone(),
            user_agent: e.user_agent.clone(),
            request_id: e.request_id.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// The entries.
    pub data: Vec<AuditEntryView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Where a chain breaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainBreak {
    /// The number the broken entry has (or should have).
    pub seq: i64,
    /// The row found there (null when rows are missing at the end).
    pub entry_id: Option<String>,
    /// `edited` (content changed), `unlinked` (reordered, or an entry before it removed),
    /// `missing` (numbers skip), `truncated` (the newest entries removed).
    #[schema(example = "edited")]
    pub kind: String,
}

/// A chain's verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    /// The organization (null: the operators' chain).
    pub organization_id: Option<String>,
    /// Whether every entry and the head check out.
    pub intact: bool,
    /// Entries checked intact (before the break, if any).
    pub checked: i64,
    /// The recorded head: the last entry's number (0 for an empty chain).
    pub head_seq: i64,
    /// The recorded head's hash (anchor it elsewhere to detect a rewrite of the whole chain).
    pub head_hash: Option<String>,
    /// The first broken link.
    pub broken: Option<ChainBreak>,
}

impl From<&Verification> for VerificationView {
    fn from(v: &Verification) -> Self {
        Self {
            organization_id: (!v.chain.is_nil()).then(|| v.chain.to_string()),
            intact: v.broken.is_none(),
            checked: v.checked,
            head_seq: v.head.as_ref().map_or(0, |(seq, _)| *seq),
            head_hash: v.head.as_ref().map(|(_, hash)| hash.clone()),
            broken: v.broken.as_ref().map(|b| ChainBreak {
                seq: b.seq,
                entry_id: b.entry_id.map(|id| id.to_string()),
                kind: b.kind.as_str().to_owned(),
            }),
        }
    }
}

/// The answer of a verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationResponse {
    /// The verdict.
    pub data: VerificationView,
}
