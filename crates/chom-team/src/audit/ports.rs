//! The read side of the audit log (appending is the kernel's `AuditTrail`, used by every
//! context inside its own units of work).

use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::audit::AuditEntry;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which entries a listing wants. Every field narrows; `chain: None` is every chain (super
/// admins only: the API never builds it for a member).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// One organization's chain (or the operators' chain), or every chain.
    pub chain: Option<Uuid>,
    /// Acting user.
    pub actor_id: Option<Uuid>,
    /// Exact action (`site.create`).
    pub action: Option<String>,
    /// Target type (`site`).
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub to: Option<OffsetDateTime>,
}

/// Reads the audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// A page of entries matching `filter`, newest first (ids are time-ordered): at most
    /// `limit`, older than the entry `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn page(
        &self,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Up to `limit` entries of `chain` in chain order, numbered above `after_seq`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn walk(
        &self,
        chain: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The recorded head of `chain`: last number and hash (`None` before its first entry).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn head(&self, chain: Uuid) -> Result<Option<(i64, String)>, StoreError>;

    /// Links every entry appended but not yet in its chain (numbered and hashed after its
    /// chain's head), one linker at a time; how many. A backend that links as it appends has
    /// none pending.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn link_pending(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Every chain that has a head, in id order.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn chains(&self) -> Result<Vec<Uuid>, StoreError>;
}
