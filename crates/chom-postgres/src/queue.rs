//! The job queue on PostgreSQL: `FOR UPDATE SKIP LOCKED` claims, `LISTEN/NOTIFY` wake-ups.

use crate::error::map_err;
use async_trait::async_trait;
use chom_kernel::jobs::{
    ClaimedJob, JobQueue, JobRecord, JobState, LeaseRef, NewJob, QueueCounts, Wakeup, WorkerId,
};
use chom_kernel::{JobId, StoreError, TenantId};
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

/// The notification channel workers listen on.
pub const CHANNEL: &str = "chom_jobs";

/// Inserts a job on `conn` (inside the caller's transaction). `None` when its unique key exists.
pub(crate) async fn enqueue_in(
    conn: &mut PgConnection,
    job: &NewJob,
) -> Result<Option<JobId>, StoreError> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts, run_at, unique_key, tenant_id, request_id)
         VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()), $7, $8, $9)
         ON CONFLICT (unique_key) DO NOTHING
         RETURNING id",
    )
    .bind(JobId::new().as_uuid())
    .bind(&job.kind)
    .bind(&job.queue)
    .bind(&job.payload)
    .bind(job.max_attempts.max(1))
    .bind(job.run_at)
    .bind(&job.unique_key)
    .bind(job.tenant_id.map(|t| t.as_uuid()))
    .bind(&job.request_id)
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    Ok(id.map(JobId::from_uuid))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn split(leases: &[LeaseRef]) -> (Vec<Uuid>, Vec<i32>) {
    leases.iter().map(|l| (l.id.as_uuid(), l.attempt)).unzip()
}

fn claimed(row: &PgRow) -> Result<ClaimedJob, sqlx::Error> {
    Ok(ClaimedJob {
        id: JobId::from_uuid(row.try_get("id")?),
        kind: row.try_get("kind")?,
        queue: row.try_get("queue")?,
        payload: row.try_get("payload")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        created_at: row.try_get("created_at")?,
        run_at: row.try_get("run_at")?,
        request_id: row.try_get("request_id")?,
        tenant_id: row
            .try_get::<Option<Uuid>, _>("tenant_id")?
            .map(TenantId::from_uuid),
    })
}

/// The PostgreSQL job queue.
#[derive(Debug, Clone)]
pub struct PgJobQueue {
    pool: PgPool,
}

impl PgJobQueue {
    /// A queue on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl JobQueue for PgJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        enqueue_in(&mut conn, &job).await
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let rows = sqlx::query(
            "WITH next AS (
                 SELECT id FROM jobs
                 WHERE state = 'queued' AND queue = ANY($3) AND run_at <= now()
                 ORDER BY run_at, id
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, lease_owner = $1,
                    lease_expires_at = now() + make_interval(secs => $2), started_at = now()
             FROM next WHERE jobs.id = next.id
             RETURNING jobs.id, jobs.kind, jobs.queue, jobs.payload, jobs.attempt, jobs.max_attempts,
                       jobs.created_at, jobs.run_at, jobs.request_id, jobs.tenant_id",
        )
        .bind(worker.as_str())
        .bind(secs(lease))
        .bind(queues)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(claimed)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: Duration) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $2)
             WHERE state = 'running' AND lease_owner = $1",
        )
        .bind(worker.as_str())
        .bind(secs(lease))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn complete(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let (ids, attempts) = split(jobs);
        let r = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
             FROM unnest($2::uuid[], $3::int4[]) AS c(id, attempt)
             WHERE jobs.id = c.id AND jobs.attempt = c.attempt
               AND jobs.lease_owner = $1 AND jobs.state = 'running'",
        )
        .bind(worker.as_str())
        .bind(ids)
        .bind(attempts)
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
        let r = sqlx::query(
            "UPDATE jobs SET
                 state = CASE WHEN $4::float8 IS NULL THEN 'dead' ELSE 'queued' END,
                 run_at = CASE WHEN $4::float8 IS NULL THEN run_at ELSE now() + make_interval(secs => $4) END,
                 finished_at = CASE WHEN $4::float8 IS NULL THEN now() END,
                 last_error = $5, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(job.id.as_uuid())
        .bind(job.attempt)
        .bind(worker.as_str())
        .bind(retry_in.map(secs))
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn release(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let (ids, attempts) = split(jobs);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let r = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempt = jobs.attempt - 1, run_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL
             FROM unnest($2::uuid[], $3::int4[]) AS c(id, attempt)
             WHERE jobs.id = c.id AND jobs.attempt = c.attempt
               AND jobs.lease_owner = $1 AND jobs.state = 'running'",
        )
        .bind(worker.as_str())
        .bind(ids)
        .bind(attempts)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn rescue_expired(&self) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET
                 state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END,
                 finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
                 last_error = 'lease expired: worker ' || coalesce(lease_owner, '?')
                              || ' stopped heartbeating during attempt ' || attempt,
                 run_at = now(), lease_owner = NULL, lease_expires_at = NULL
             WHERE state = 'running' AND lease_expires_at < now()",
        )
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if r.rows_affected() > 0 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        }
        Ok(r.rows_affected())
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, queue, state, attempt, max_attempts, run_at, last_error, unique_key,
                    created_at, finished_at
             FROM jobs WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let record = (|| -> Result<JobRecord, sqlx::Error> {
            Ok(JobRecord {
                id: JobId::from_uuid(row.try_get("id")?),
                kind: row.try_get("kind")?,
                queue: row.try_get("queue")?,
                state: JobState::Queued,
                attempt: row.try_get("attempt")?,
                max_attempts: row.try_get("max_attempts")?,
                run_at: row.try_get("run_at")?,
                last_error: row.try_get("last_error")?,
                unique_key: row.try_get("unique_key")?,
                created_at: row.try_get("created_at")?,
                finished_at: row.try_get("finished_at")?,
            })
        })()
        .map_err(map_err)?;
        let state: String = row.try_get("state").map_err(map_err)?;
        Ok(Some(JobRecord {
            state: JobState::parse(&state)?,
            ..record
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
        let r = sqlx::query(
            "DELETE FROM jobs
             WHERE (state = 'done' AND finished_at < now() - make_interval(secs => $1))
                OR (state = 'dead' AND finished_at < now() - make_interval(secs => $2))",
        )
        .bind(secs(done_before))
        .bind(secs(dead_before))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn wakeup(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(map_err)?;
        listener.listen(CHANNEL).await.map_err(map_err)?;
        Ok(Box::new(PgWakeup { listener }))
    }
}

struct PgWakeup {
    listener: PgListener,
}

#[async_trait]
impl Wakeup for PgWakeup {
    async fn wait(&mut self, max: Duration) {
        match tokio::time::timeout(max, self.listener.recv()).await {
            Ok(Ok(_)) => {
                // Drain notifications that piled up while we were busy: one claim serves all.
                while self.listener.next_buffered().is_some() {}
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "LISTEN connection failed; it reconnects on next wait");
                tokio::time::sleep(max.min(Duration::from_secs(1))).await;
            }
            Err(_) => {}
        }
    }
}
