//! The audit log: appending (the kernel's `AuditTrail`, inside the caller's unit of work),
//! linking and reading (the team context's `AuditLog`). On PostgreSQL an append is one narrow
//! insert into `audit_inbox` in the change's transaction, and the linker (`crate::audit_link`,
//! ADR 0010) moves pending entries into `audit_log` in batches, one linker at a time, numbering
//! and hashing each after its chain's head: concurrent changes never wait for one another and a
//! chain never forks. SQLite, whose units of work already hold the single write lock, links
//! each entry as it appends it (the head locked, the link computed, the head advanced).

use crate::codec::{DbRow, get, get_id, id, ts};
use crate::shared::exec::{Query, execute, execute_one, fetch_all, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::audit::{AuditEntry, AuditEvent, AuditTrail, GENESIS, chain_link, content_hash};
use chom_kernel::store::UnitOfWork;
use chom_team::audit::{AuditFilter, AuditLog};
use sqlx::PgPool;
use uuid::Uuid;

/// The audit repository.
#[derive(Debug, Clone)]
pub struct PgAudit {
    pool: PgPool,
}

impl PgAudit {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "id, chain, seq, occurred_at, organization_id, tenant_id, actor_id,
    actor_kind, action, target_type, target_id, summary, client_addr, user_agent, request_id,
    prev_hash, hash";

fn entry(row: &DbRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: get(row, "seq")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
        ..crate::shared::audit_row::content(row)?
    })
}

#[async_trait]
impl AuditTrail for PgAudit {
    async fn append(
        &self,
        uow: &mut dyn UnitOfWork,
        event: &AuditEvent,
    ) -> Result<AuditEntry, StoreError> {
        let conn = tx(uow)?.conn();
        let mut e = AuditEntry::unlinked(event, Uuid::now_v7());
        if crate::codec::AUDIT_INBOX {
            // One narrow insert into the inbox, in the change's transaction (no index, no
            // lock: concurrent changes never wait for one another); the linker numbers and
            // hashes it after commit (`crate::audit_link`).
            let insert = sqlx::query(
                "INSERT INTO audit_inbox (chain, id, occurred_at, organization_id, tenant_id,
                     actor_id, actor_kind, action, target_type, target_id, summary, client_addr,
                     user_agent, request_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            );
            execute(bind_content(insert.bind(id(e.chain)), &e), &mut *conn).await?;
            return Ok(e);
        }
        // Linked as it is appended: read and lock the head (the no-op update takes the row
        // lock), link here, insert the entry, advance the head.
        let content = content_hash(&e);
        let head = sqlx::query(
            "INSERT INTO audit_heads (id, seq, hash) VALUES ($1, 0, $2)
             ON CONFLICT (id) DO UPDATE SET seq = audit_heads.seq
             RETURNING seq, hash",
        )
        .bind(id(e.chain))
        .bind(GENESIS);
        let (seq, prev) = fetch_one(head, &mut *conn, |r| {
            Ok((get::<i64>(r, "seq")?, get::<String>(r, "hash")?))
        })
        .await?;
        let (seq, hash) = (seq + 1, chain_link(&prev, &content));
        let insert = sqlx::query(
            "INSERT INTO audit_log (id, chain, seq, occurred_at, organization_id, tenant_id,
                 actor_id, actor_kind, action, target_type, target_id, summary, client_addr,
                 user_agent, request_id, prev_hash, hash)
             VALUES ($4, $1, $2, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $3, $17)",
        );
        let insert = bind_content(insert.bind(id(e.chain)).bind(seq).bind(prev.clone()), &e)
            .bind(hash.clone());
        execute(insert, &mut *conn).await?;
        let advance =
            sqlx::query("UPDATE audit_heads SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1")
                .bind(id(e.chain))
                .bind(seq)
                .bind(prev.clone())
                .bind(hash.clone());
        execute_one(advance, &mut *conn).await?;
        e.seq = seq;
        e.prev_hash = prev;
        e.hash = hash;
        Ok(e)
    }
}

/// Binds the entry's content as parameters `$4`…`$16` (after the first three).
fn bind_content(q: Query, e: &AuditEntry) -> Query {
    q.bind(id(e.id))
        .bind(ts(e.occurred_at))
        .bind(e.organization_id.map(id))
        .bind(e.tenant_id.map(id))
        .bind(e.actor_id.map(id))
        .bind(e.actor_kind.clone())
        .bind(e.action.clone())
        .bind(e.target_type.clone())
        .bind(e.target_id.clone())
        .bind(e.summary.clone())
        .bind(e.client_addr.clone())
        .bind(e.user_agent.clone())
        .bind(e.request_id.clone())
}

#[async_trait]
impl AuditLog for PgAudit {
    async fn page(
        &self,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log
             WHERE ($1 IS NULL OR chain = $1)
               AND ($2 IS NULL OR actor_id = $2)
               AND ($3 IS NULL OR action = $3)
               AND ($4 IS NULL OR target_type = $4)
               AND ($5 IS NULL OR target_id = $5)
               AND ($6 IS NULL OR occurred_at >= $6)
               AND ($7 IS NULL OR occurred_at < $7)
               AND ($8 IS NULL OR id < $8)
             ORDER BY id DESC LIMIT $9"
        )))
        .bind(filter.chain.map(id))
        .bind(filter.actor_id.map(id))
        .bind(filter.action.clone())
        .bind(filter.target_type.clone())
        .bind(filter.target_id.clone())
        .bind(filter.from.map(ts))
        .bind(filter.to.map(ts))
        .bind(before.map(id))
        .bind(limit);
        fetch_all(select, &self.pool, entry).await
    }

    async fn walk(
        &self,
        chain: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )))
        .bind(id(chain))
        .bind(after_seq)
        .bind(limit);
        fetch_all(select, &self.pool, entry).await
    }

    async fn head(&self, chain: Uuid) -> Result<Option<(i64, String)>, StoreError> {
        let select = sqlx::query("SELECT seq, hash FROM audit_heads WHERE id = $1").bind(id(chain));
        fetch_opt(select, &self.pool, |r| {
            Ok((get(r, "seq")?, get(r, "hash")?))
        })
        .await
    }

    async fn link_pending(&self) -> Result<usize, StoreError> {
        crate::audit_link::link_pending(&self.pool).await
    }

    async fn chains(&self) -> Result<Vec<Uuid>, StoreError> {
        let select = sqlx::query("SELECT id FROM audit_heads ORDER BY id");
        fetch_all(select, &self.pool, |r| get_id(r, "id")).await
    }
}
