//! The audit linker (ADR 0010): entries appended to `audit_inbox` in their changes'
//! transactions are moved into `audit_log` in batches after commit, oldest first, each
//! numbered and hashed after its chain's head, one linker at a time in the whole database (an
//! advisory lock): the worker runs it every [`chom_team::audit::LINK_EVERY`], and every read of
//! the log runs it first.

use crate::codec::{get, get_id, id};
use crate::shared::audit_row::content;
use crate::shared::exec::{execute, fetch_all, fetch_one};
use chom_kernel::StoreError;
use chom_kernel::audit::{GENESIS, chain_link, content_hash};
use sqlx::PgPool;
use uuid::Uuid;

/// Entries linked per transaction of the linker.
const LINK_BATCH: i64 = 1000;

/// The advisory lock the linker holds: one linker at a time in the whole database.
const LINKER_LOCK: i64 = 0x6368_6f6d_6175_6474; // "chomaudt"

const INBOX_COLUMNS: &str = "id, chain, occurred_at, organization_id, tenant_id, actor_id,
    actor_kind, action, target_type, target_id, summary, client_addr, user_agent, request_id";

/// Batches linked per call at most (a backlog is drained over several calls, so no caller
/// waits on it for long).
const MAX_BATCHES: usize = 20;

/// Links the pending entries, batch after batch (at most [`MAX_BATCHES`]); how many.
///
/// # Errors
/// `Unavailable` (among others, another linker held the lock for more than 2 s), `Unexpected`.
pub(crate) async fn link_pending(pool: &PgPool) -> Result<usize, StoreError> {
    let quiet = sqlx::query("SELECT NOT EXISTS (SELECT 1 FROM audit_inbox) AS quiet");
    if fetch_one(quiet, pool, |r| get::<bool>(r, "quiet")).await? {
        return Ok(0);
    }
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = link_batch(pool).await?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < LINK_BATCH {
            break;
        }
    }
    Ok(total)
}

/// Links up to [`LINK_BATCH`] pending entries, oldest first, in one transaction under the
/// linker's lock: each chain's head locked and read, every entry numbered and hashed after
/// it, the entries inserted into the log, the heads advanced, the inbox emptied of them.
/// How many were linked.
async fn link_batch(pool: &PgPool) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await.map_err(crate::error::map_err)?;
    // Waits for another linker's batch, not for ever.
    execute(sqlx::query("SET LOCAL lock_timeout = '2s'"), &mut *tx).await?;
    execute(
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LINKER_LOCK),
        &mut *tx,
    )
    .await?;
    let select = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INBOX_COLUMNS} FROM audit_inbox ORDER BY id LIMIT $1"
    )))
    .bind(LINK_BATCH);
    let mut entries = fetch_all(select, &mut *tx, content).await?;
    if entries.is_empty() {
        tx.commit().await.map_err(crate::error::map_err)?;
        return Ok(0);
    }
    let mut chains: Vec<Uuid> = entries.iter().map(|e| e.chain).collect();
    chains.sort_unstable();
    chains.dedup();
    let heads = sqlx::query(
        "SELECT id, seq, hash FROM audit_heads WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(chains.iter().copied().map(id).collect::<Vec<_>>());
    let mut heads: std::collections::HashMap<Uuid, (i64, String, String)> =
        fetch_all(heads, &mut *tx, |r| {
            Ok((
                get_id(r, "id")?,
                (
                    get::<i64>(r, "seq")?,
                    String::new(),
                    get::<String>(r, "hash")?,
                ),
            ))
        })
        .await?
        .into_iter()
        .collect();
    for e in &mut entries {
        let head = heads
            .entry(e.chain)
            .or_insert_with(|| (0, String::new(), GENESIS.to_owned()));
        e.seq = head.0 + 1;
        e.prev_hash = head.2.clone();
        e.hash = chain_link(&e.prev_hash, &content_hash(e));
        *head = (e.seq, e.prev_hash.clone(), e.hash.clone());
    }
    let ids: Vec<_> = entries.iter().map(|e| id(e.id)).collect();
    let insert = sqlx::query(
        "INSERT INTO audit_log (id, chain, seq, occurred_at, organization_id, tenant_id,
             actor_id, actor_kind, action, target_type, target_id, summary, client_addr,
             user_agent, request_id, prev_hash, hash)
         SELECT i.id, i.chain, l.seq, i.occurred_at, i.organization_id, i.tenant_id,
             i.actor_id, i.actor_kind, i.action, i.target_type, i.target_id, i.summary,
             i.client_addr, i.user_agent, i.request_id, l.prev_hash, l.hash
         FROM audit_inbox i
         JOIN unnest($1::uuid[], $2::int8[], $3::text[], $4::text[])
             AS l (id, seq, prev_hash, hash) ON l.id = i.id",
    )
    .bind(ids.clone())
    .bind(entries.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(
        entries
            .iter()
            .map(|e| e.prev_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
    let inserted = execute(insert, &mut *tx).await?;
    if usize::try_from(inserted).ok() != Some(entries.len()) {
        return Err(StoreError::Unexpected(anyhow::anyhow!(
            "audit linker: {inserted} of {} entries inserted",
            entries.len()
        )));
    }
    let (mut head_ids, mut seqs, mut prevs, mut hashes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Every chain read or made above got at least one entry: each head is advanced.
    for (chain, (seq, prev, hash)) in heads {
        head_ids.push(id(chain));
        seqs.push(seq);
        prevs.push(prev);
        hashes.push(hash);
    }
    let advance = sqlx::query(
        "INSERT INTO audit_heads (id, seq, prev_hash, hash)
         SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[])
         ON CONFLICT (id) DO UPDATE
             SET seq = excluded.seq, prev_hash = excluded.prev_hash, hash = excluded.hash",
    )
    .bind(head_ids)
    .bind(seqs)
    .bind(prevs)
    .bind(hashes);
    execute(advance, &mut *tx).await?;
    execute(
        sqlx::query("DELETE FROM audit_inbox WHERE id = ANY($1)").bind(ids),
        &mut *tx,
    )
    .await?;
    tx.commit().await.map_err(crate::error::map_err)?;
    Ok(entries.len())
}
