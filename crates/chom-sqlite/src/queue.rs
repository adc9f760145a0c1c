//! The job queue on SQLite: single-writer atomic claims, in-process wake-ups.

use crate::error::map_err;
use async_trait::async_trait;
use chom_kernel::jobs::{
    ClaimedJob, JobQueue, JobRecord, JobState, LeaseRef, NewJob, QueueCounts, Wakeup, WorkerId,
};
use chom_kernel::{JobId, StoreError, TenantId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

pub(crate) fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("bad timestamp {v}: {e}")))
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn parse_id(s: &str) -> Result<JobId, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("bad job id {s:?}: {e}")))
}

fn leases_json(leases: &[LeaseRef]) -> String {
    serde_json::Value::Array(
        leases
            .iter()
            .map(|l| serde_json::json!([l.id.to_string(), l.attempt]))
            .collect(),
    )
    .to_string()
}

/// Inserts a job on `conn` (inside the caller's transaction). `None` when its unique key exists.
pub(crate) async fn enqueue_in(
    conn: &mut SqliteConnection,
    job: &NewJob,
) -> Result<Option<JobId>, StoreError> {
    let now = now_ms();
    let id = JobId::new();
    let r = sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts, run_at, unique_key, tenant_id,
                           request_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (unique_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(&job.kind)
    .bind(&job.queue)
    .bind(job.payload.to_string())
    .bind(job.max_attempts.max(1))
    .bind(job.run_at.map_or(now, ms))
    .bind(&job.unique_key)
    .bind(job.tenant_id.map(|t| t.to_string()))
    .bind(&job.request_id)
    .bind(now)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok((r.rows_affected() == 1).then_some(id))
}

fn claimed(row: &SqliteRow) -> Result<ClaimedJob, StoreError> {
    let get = |e: sqlx::Error| map_err(e);
    let payload: String = row.try_get("payload").map_err(get)?;
    Ok(ClaimedJob {
        id: parse_id(&row.try_get::<String, _>("id").map_err(get)?)?,
        kind: row.try_get("kind").map_err(get)?,
        queue: row.try_get("queue").map_err(get)?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Unexpected(e.into()))?,
        attempt: row.try_get("attempt").map_err(get)?,
        max_attempts: row.try_get("max_attempts").map_err(get)?,
        created_at: from_ms(row.try_get("created_at").map_err(get)?)?,
        run_at: from_ms(row.try_get("run_at").map_err(get)?)?,
        request_id: row.try_get("request_id").map_err(get)?,
        tenant_id: row
            .try_get::<Option<String>, _>("tenant_id")
            .map_err(get)?
            .map(|t| {
                t.parse::<TenantId>()
                    .map_err(|e| StoreError::Unexpected(e.into()))
            })
            .transpose()?,
    })
}

/// The SQLite job queue.
#[derive(Debug, Clone)]
pub struct SqliteJobQueue {
    pool: SqlitePool,
    signal: Arc<watch::Sender<u64>>,
}

impl SqliteJobQueue {
    pub(crate) fn new(pool: SqlitePool, signal: Arc<watch::Sender<u64>>) -> Self {
        Self { pool, signal }
    }

    fn wake(&self) {
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[async_trait]
impl JobQueue for SqliteJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let id = enqueue_in(&mut conn, &job).await?;
        if id.is_some() {
            self.wake();
        }
        Ok(id)
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = now_ms();
        let queues = serde_json::to_string(queues).map_err(|e| StoreError::Unexpected(e.into()))?;
        let rows = sqlx::query(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ?1,
                    lease_expires_at = ?2, started_at = ?3
             WHERE id IN (
                 SELECT id FROM jobs
                 WHERE state = 'queued' AND run_at <= ?3
                   AND queue IN (SELECT value FROM json_each(?4))
                 ORDER BY run_at, id
                 LIMIT ?5)
             RETURNING id, kind, queue, payload, attempt, max_attempts, created_at, run_at,
                       request_id, tenant_id",
        )
        .bind(worker.as_str())
        .bind(now.saturating_add(dur_ms(lease)))
        .bind(now)
        .bind(queues)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(claimed).collect()
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: Duration) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?2 WHERE state = 'running' AND lease_owner = ?1",
        )
        .bind(worker.as_str())
        .bind(now_ms().saturating_add(dur_ms(lease)))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn complete(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let r = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = ?3, lease_owner = NULL,
                    lease_expires_at = NULL
             WHERE state = 'running' AND lease_owner = ?1
               AND (id, attempt) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))",
        )
        .bind(worker.as_str())
        .bind(leases_json(jobs))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn fail(
        &self,
        worker: &WorkerId,
        job: LeaseRef,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE jobs SET
                 state = CASE WHEN ?4 IS NULL THEN 'dead' ELSE 'queued' END,
                 run_at = CASE WHEN ?4 IS NULL THEN run_at ELSE ?6 + ?4 END,
                 finished_at = CASE WHEN ?4 IS NULL THEN ?6 END,
                 last_error = ?5, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = ?1 AND attempt = ?2 AND lease_owner = ?3 AND state = 'running'",
        )
        .bind(job.id.to_string())
        .bind(job.attempt)
        .bind(worker.as_str())
        .bind(retry_in.map(dur_ms))
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn release(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let r = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempt = attempt - 1, run_at = ?3,
                    lease_owner = NULL, lease_expires_at = NULL
             WHERE state = 'running' AND lease_owner = ?1
               AND (id, attempt) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))",
        )
        .bind(worker.as_str())
        .bind(leases_json(jobs))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        self.wake();
        Ok(r.rows_affected())
    }

    async fn rescue_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE jobs SET
                 state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END,
                 finished_at = CASE WHEN attempt >= max_attempts THEN ?1 END,
                 last_error = 'lease expired: worker ' || coalesce(lease_owner, '?')
                              || ' stopped heartbeating during attempt ' || attempt,
                 run_at = ?1, lease_owner = NULL, lease_expires_at = NULL
             WHERE state = 'running' AND lease_expires_at < ?1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if r.rows_affected() > 0 {
            self.wake();
        }
        Ok(r.rows_affected())
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, queue, state, attempt, max_attempts, run_at, last_error, unique_key,
                    created_at, finished_at
             FROM jobs WHERE id = ?1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let get = |e: sqlx::Error| map_err(e);
        Ok(Some(JobRecord {
            id: parse_id(&row.try_get::<String, _>("id").map_err(get)?)?,
            kind: row.try_get("kind").map_err(get)?,
            queue: row.try_get("queue").map_err(get)?,
            state: JobState::parse(&row.try_get::<String, _>("state").map_err(get)?)?,
            attempt: row.try_get("attempt").map_err(get)?,
            max_attempts: row.try_get("max_attempts").map_err(get)?,
            run_at: from_ms(row.try_get("run_at").map_err(get)?)?,
            last_error: row.try_get("last_error").map_err(get)?,
            unique_key: row.try_get("unique_key").map_err(get)?,
            created_at: from_ms(row.try_get("created_at").map_err(get)?)?,
            finished_at: row
                .try_get::<Option<i64>, _>("finished_at")
                .map_err(get)?
                .map(from_ms)
                .transpose()?,
        }))
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        QueueCounts::from_rows(rows)
    }

    async fn prune(&self, done_before: Duration, dead_before: Duration) -> Result<u64, StoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "DELETE FROM jobs
             WHERE (state = 'done' AND finished_at < ?1) OR (state = 'dead' AND finished_at < ?2)",
        )
        .bind(now.saturating_sub(dur_ms(done_before)))
        .bind(now.saturating_sub(dur_ms(dead_before)))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn wakeup(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        Ok(Box::new(SignalWakeup {
            rx: self.signal.subscribe(),
        }))
    }
}

struct SignalWakeup {
    rx: watch::Receiver<u64>,
}

#[async_trait]
impl Wakeup for SignalWakeup {
    async fn wait(&mut self, max: Duration) {
        // `changed` returns at once when an enqueue happened since the last wait: no lost
        // wake-up between an empty claim and this call.
        let _ = tokio::time::timeout(max, self.rx.changed()).await;
    }
}
