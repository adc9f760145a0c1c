//! The audit log's read side: listing an organization's entries, listing every chain for the
//! operators, verifying chains, and linking (every read links what is pending first).
//! Appending is `chom_kernel::audit::AuditTrail`, called by each context inside the unit of
//! work of the change it records.

mod ports;
mod verify;

pub use ports::{AuditFilter, AuditLog};
pub use verify::{Break, BreakKind, Walker};

use crate::policy::{Action, allows};
use chom_kernel::audit::AuditEntry;
use chom_kernel::{StoreError, TenantContext};
use std::sync::Arc;
use uuid::Uuid;

/// What can go wrong reading the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The caller's role may not read the log.
    #[error("the {0} role may not read the audit log")]
    Forbidden(&'static str),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A chain's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The chain.
    pub chain: Uuid,
    /// Entries found intact before the first break (all of them when intact).
    pub checked: i64,
    /// The recorded head (number, hash).
    pub head: Option<(i64, String)>,
    /// The first broken link.
    pub broken: Option<Break>,
}

/// How often the worker links pending entries.
pub const LINK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Entries read per round trip while walking a chain.
const WALK_PAGE: i64 = 500;

/// The audit log service.
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

impl Audit {
    /// A service reading `log`.
    #[must_use]
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    fn may_read(ctx: &TenantContext) -> Result<(), AuditError> {
        if allows(ctx.role(), Action::ReadAudit) {
            Ok(())
        } else {
            Err(AuditError::Forbidden(ctx.role().as_str()))
        }
    }

    /// A page of the caller's organization's entries (owners and admins); whatever `filter`
    /// says about chains, only the caller's organization is read.
    ///
    /// # Errors
    /// `Forbidden` below admin; `Store`.
    #[tracing::instrument(skip(self, filter), fields(org = %ctx.organization_id()))]
    pub async fn list(
        &self,
        ctx: &TenantContext,
        mut filter: AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, AuditError> {
        Self::may_read(ctx)?;
        filter.chain = Some(ctx.organization_id().as_uuid());
        self.link_first().await;
        Ok(self.log.page(&filter, before, limit).await?)
    }

    /// A page over every chain, for super admins (the caller checks who asks).
    ///
    /// # Errors
    /// `Store`.
    pub async fn list_all(
        &self,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, AuditError> {
        self.link_first().await;
        Ok(self.log.page(filter, before, limit).await?)
    }

    /// Verifies the caller's organization's chain (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` below admin; `Store`.
    pub async fn verify_own(&self, ctx: &TenantContext) -> Result<Verification, AuditError> {
        Self::may_read(ctx)?;
        self.verify(ctx.organization_id().as_uuid()).await
    }

    /// Walks `chain` from its first entry and compares the end with the recorded head.
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(skip(self))]
    pub async fn verify(&self, chain: Uuid) -> Result<Verification, AuditError> {
        // What was appended so far is linked first.
        self.link_first().await;
        self.walk(chain).await
    }

    /// Walks `chain` as it is linked now.
    async fn walk(&self, chain: Uuid) -> Result<Verification, AuditError> {
        // The head first: entries appended during the walk are beyond it and not read.
        let head = self.log.head(chain).await?;
        let last = head.as_ref().map_or(0, |(seq, _)| *seq);
        let mut walker = Walker::default();
        let mut after = 0;
        'walk: while after < last {
            let page = self.log.walk(chain, after, WALK_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if e.seq > last {
                    break 'walk;
                }
                after = e.seq;
                if !walker.push(e) {
                    break 'walk;
                }
            }
        }
        let checked = walker.checked();
        let broken = walker.finish(head.as_ref()).err();
        Ok(Verification {
            chain,
            checked,
            head,
            broken,
        })
    }

    /// Before a read: links what is pending, at best (the worker links it anyway; a read is
    /// never refused because linking failed or another linker was slow).
    async fn link_first(&self) {
        if let Err(e) = self.log.link_pending().await {
            tracing::warn!(error = %e, "audit: entries not linked before a read (the worker will)");
        }
    }

    /// Links every pending entry (the worker's linker, every [`LINK_EVERY`]).
    ///
    /// # Errors
    /// `Store`.
    pub async fn link_pending(&self) -> Result<usize, AuditError> {
        Ok(self.log.link_pending().await?)
    }

    /// Verifies every chain (the CLI and the daily anchoring).
    ///
    /// # Errors
    /// `Store`.
    pub async fn verify_all(&self) -> Result<Vec<Verification>, AuditError> {
        // Linked once for every chain.
        self.link_first().await;
        let mut out = Vec::new();
        for chain in self.log.chains().await? {
            out.push(self.walk(chain).await?);
        }
        Ok(out)
    }
}
