//! The backup context's storage: site backup schedules (`ScheduleRepository`), backups and
//! repository passwords (`BackupRepository`). Every statement of tenant data names the tenant.

use crate::codec::{DbRow, get, get_id, get_opt_id, get_opt_ts, get_ts, id, ts};
use crate::shared::exec::{corrupt, execute, fetch_all, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_agent_protocol::backup::BackupKind;
use chom_backup::model::{
    Backup, BackupFilter, BackupSchedule, BackupStatus, Contents, Frequency, Trigger, Verification,
    VerificationStatus, Weekday,
};
use chom_backup::ports::{BackupRepository, ScheduleRepository, ScheduledSite};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{BackupId, OperationId, SiteId, StoreError, TenantId, VpsId};
use sqlx::PgPool;

/// The backup repository.
#[derive(Debug, Clone)]
pub struct PgBackups {
    pool: PgPool,
}

impl PgBackups {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn schedule(row: &DbRow) -> Result<BackupSchedule, StoreError> {
    let weekday: Option<String> = get(row, "weekday")?;
    Ok(BackupSchedule {
        site_id: SiteId::from_uuid(get_id(row, "site_id")?),
        frequency: Frequency::parse(&get::<String>(row, "frequency")?)?,
        hour: u8::try_from(get::<i32>(row, "hour")?).map_err(corrupt)?,
        weekday: weekday.as_deref().map(Weekday::parse).transpose()?,
        time_zone: get(row, "time_zone")?,
        enabled: get(row, "enabled")?,
        updated_at: Some(get_ts(row, "updated_at")?),
    })
}

#[async_trait]
impl ScheduleRepository for PgBackups {
    async fn site_exists(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<bool, StoreError> {
        let count = sqlx::query(
            "SELECT COUNT(*) AS n FROM sites
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(id(tenant.as_uuid()))
        .bind(id(site.as_uuid()));
        Ok(fetch_one(count, tx(uow)?.conn(), |r| get::<i64>(r, "n")).await? > 0)
    }

    async fn enabled_schedules(&self) -> Result<Vec<ScheduledSite>, StoreError> {
        let select = sqlx::query(
            "SELECT s.tenant_id, s.site_id, s.frequency, s.hour, s.weekday, s.time_zone, s.enabled,
                    s.updated_at,
                    (SELECT MAX(b.created_at) FROM backups b
                     WHERE b.site_id = s.site_id AND b.trigger = $2) AS last_scheduled,
                    (SELECT MAX(b.created_at) FROM backups b
                     WHERE b.site_id = s.site_id AND b.status = $3) AS last_completed
             FROM backup_schedules s
             JOIN sites t ON t.id = s.site_id AND t.tenant_id = s.tenant_id
             WHERE s.enabled = $1 AND t.deleted_at IS NULL
             ORDER BY s.site_id",
        )
        .bind(true)
        .bind(Trigger::Scheduled.as_str())
        .bind(BackupStatus::Completed.as_str());
        fetch_all(select, &self.pool, |r| {
            Ok(ScheduledSite {
                tenant_id: TenantId::from_uuid(get_id(r, "tenant_id")?),
                schedule: schedule(r)?,
                last_scheduled: get_opt_ts(r, "last_scheduled")?,
                last_completed: get_opt_ts(r, "last_completed")?,
            })
        })
        .await
    }

    async fn get_schedule(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<Option<BackupSchedule>, StoreError> {
        let select = sqlx::query(
            "SELECT site_id, frequency, hour, weekday, time_zone, enabled, updated_at
             FROM backup_schedules WHERE tenant_id = $1 AND site_id = $2",
        )
        .bind(id(tenant.as_uuid()))
        .bind(id(site.as_uuid()));
        fetch_opt(select, &self.pool, schedule).await
    }

    async fn put_schedule(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        schedule: &BackupSchedule,
    ) -> Result<(), StoreError> {
        let updated_at = schedule
            .updated_at
            .ok_or_else(|| corrupt("a saved schedule carries its time"))?;
        // A site belongs to one tenant; the WHERE keeps a row of another tenant untouched
        // should an id ever be reused.
        let upsert = sqlx::query(
            "INSERT INTO backup_schedules
                 (tenant_id, site_id, frequency, hour, weekday, time_zone, enabled, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (site_id) DO UPDATE SET
                 frequency = excluded.frequency, hour = excluded.hour,
                 weekday = excluded.weekday, time_zone = excluded.time_zone,
                 enabled = excluded.enabled, updated_at = excluded.updated_at
             WHERE backup_schedules.tenant_id = excluded.tenant_id",
        )
        .bind(id(tenant.as_uuid()))
        .bind(id(schedule.site_id.as_uuid()))
        .bind(schedule.frequency.as_str())
        .bind(i32::from(schedule.hour))
        .bind(schedule.weekday.map(Weekday::as_str))
        .bind(schedule.time_zone.clone())
        .bind(schedule.enabled)
        .bind(ts(updated_at));
        crate::shared::exec::one(execute(upsert, tx(uow)?.conn()).await?)
    }
}

macro_rules! backup_columns {
    () => {
        "id, tenant_id, site_id, kind, status, trigger, operation_id, parts, manifest_sha256, \
         file_count, total_bytes, added_bytes, tables, error, expires_at, verification, \
         verified_at, verification_detail, created_at, finished_at"
    };
}

fn json_text(v: &impl erased::Json) -> Result<String, StoreError> {
    v.text()
}

/// JSON text of the two shapes stored (no serde dependency here: serde_json's own values).
mod erased {
    use chom_agent_protocol::backup::Part;
    use chom_kernel::StoreError;
    use std::collections::BTreeMap;

    pub trait Json {
        fn text(&self) -> Result<String, StoreError>;
    }

    impl Json for Vec<Part> {
        fn text(&self) -> Result<String, StoreError> {
            serde_json::to_string(self).map_err(super::corrupt)
        }
    }

    impl Json for BTreeMap<String, u64> {
        fn text(&self) -> Result<String, StoreError> {
            serde_json::to_string(self).map_err(super::corrupt)
        }
    }
}

fn backup(row: &DbRow) -> Result<Backup, StoreError> {
    let parts: Option<String> = get(row, "parts")?;
    let contents = match parts {
        Some(parts) => {
            let tables: Option<String> = get(row, "tables")?;
            Some(Contents {
                parts: serde_json::from_str(&parts).map_err(corrupt)?,
                manifest_sha256: get::<Option<String>>(row, "manifest_sha256")?.unwrap_or_default(),
                file_count: get::<Option<i64>>(row, "file_count")?.unwrap_or(0),
                total_bytes: get::<Option<i64>>(row, "total_bytes")?.unwrap_or(0),
                added_bytes: get::<Option<i64>>(row, "added_bytes")?.unwrap_or(0),
                tables: match tables {
                    Some(t) => serde_json::from_str(&t).map_err(corrupt)?,
                    None => std::collections::BTreeMap::new(),
                },
            })
        }
        None => None,
    };
    let verification = match get::<Option<String>>(row, "verification")? {
        Some(status) => Some(Verification {
            status: VerificationStatus::parse(&status)?,
            at: get_ts(row, "verified_at")?,
            detail: get::<Option<String>>(row, "verification_detail")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Backup {
        id: BackupId::from_uuid(get_id(row, "id")?),
        tenant_id: TenantId::from_uuid(get_id(row, "tenant_id")?),
        site_id: SiteId::from_uuid(get_id(row, "site_id")?),
        kind: BackupKind::parse(&get::<String>(row, "kind")?)
            .ok_or_else(|| corrupt("unknown backup kind"))?,
        status: BackupStatus::parse(&get::<String>(row, "status")?)?,
        trigger: Trigger::parse(&get::<String>(row, "trigger")?)?,
        operation_id: get_opt_id(row, "operation_id")?.map(OperationId::from_uuid),
        contents,
        error: get(row, "error")?,
        expires_at: get_opt_ts(row, "expires_at")?,
        verification,
        created_at: get_ts(row, "created_at")?,
        finished_at: get_opt_ts(row, "finished_at")?,
    })
}

#[async_trait]
impl BackupRepository for PgBackups {
    async fn insert_backup(&self, uow: &mut dyn UnitOfWork, b: &Backup) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO backups (id, tenant_id, site_id, kind, status, trigger, operation_id, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE EXISTS (SELECT 1 FROM sites WHERE id = $3 AND tenant_id = $2)",
        )
        .bind(id(b.id.as_uuid()))
        .bind(id(b.tenant_id.as_uuid()))
        .bind(id(b.site_id.as_uuid()))
        .bind(b.kind.as_str())
        .bind(b.status.as_str())
        .bind(b.trigger.as_str())
        .bind(b.operation_id.map(|o| id(o.as_uuid())))
        .bind(ts(b.created_at));
        crate::shared::exec::one(execute(insert, tx(uow)?.conn()).await?)
    }

    async fn save_backup(&self, uow: &mut dyn UnitOfWork, b: &Backup) -> Result<(), StoreError> {
        let c = b.contents.as_ref();
        let v = b.verification.as_ref();
        let update = sqlx::query(
            "UPDATE backups SET status = $3, parts = $4, manifest_sha256 = $5, file_count = $6,
                 total_bytes = $7, added_bytes = $8, tables = $9, error = $10, expires_at = $11,
                 verification = $12, verified_at = $13, verification_detail = $14,
                 finished_at = $15
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(id(b.tenant_id.as_uuid()))
        .bind(id(b.id.as_uuid()))
        .bind(b.status.as_str())
        .bind(c.map(|c| json_text(&c.parts)).transpose()?)
        .bind(c.map(|c| c.manifest_sha256.clone()))
        .bind(c.map(|c| c.file_count))
        .bind(c.map(|c| c.total_bytes))
        .bind(c.map(|c| c.added_bytes))
        .bind(c.map(|c| json_text(&c.tables)).transpose()?)
        .bind(b.error.clone())
        .bind(b.expires_at.map(ts))
        .bind(v.map(|v| v.status.as_str()))
        .bind(v.map(|v| ts(v.at)))
        .bind(v.map(|v| v.detail.clone()))
        .bind(b.finished_at.map(ts));
        crate::shared::exec::one(execute(update, tx(uow)?.conn()).await?)
    }

    async fn get_backup(
        &self,
        tenant: TenantId,
        b: BackupId,
    ) -> Result<Option<Backup>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            backup_columns!(),
            " FROM backups WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.as_uuid()))
        .bind(id(b.as_uuid()));
        fetch_opt(select, &self.pool, backup).await
    }

    async fn list_backups(
        &self,
        tenant: TenantId,
        f: &BackupFilter,
        after: Option<BackupId>,
        limit: i64,
    ) -> Result<Vec<Backup>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            backup_columns!(),
            " FROM backups
             WHERE tenant_id = $1
               AND ($2 IS NULL OR site_id = $2)
               AND ($3 IS NULL OR kind = $3)
               AND ($4 IS NULL OR status = $4)
               AND ($5 IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6"
        ))
        .bind(id(tenant.as_uuid()))
        .bind(f.site_id.map(|s| id(s.as_uuid())))
        .bind(f.kind.map(BackupKind::as_str))
        .bind(f.status.map(BackupStatus::as_str))
        .bind(after.map(|a| id(a.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, backup).await
    }

    async fn active_backups_by_server(&self) -> Result<Vec<(VpsId, i64)>, StoreError> {
        let select = sqlx::query(
            "SELECT t.vps_id, COUNT(*) AS n FROM backups b JOIN sites t ON t.id = b.site_id
             WHERE b.status IN ($1, $2) GROUP BY t.vps_id",
        )
        .bind(BackupStatus::Pending.as_str())
        .bind(BackupStatus::Running.as_str());
        fetch_all(select, &self.pool, |r| {
            Ok((VpsId::from_uuid(get_id(r, "vps_id")?), get::<i64>(r, "n")?))
        })
        .await
    }

    async fn completed_backups(&self) -> Result<Vec<Backup>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            backup_columns!(),
            " FROM backups WHERE status = $1 ORDER BY site_id, id"
        ))
        .bind(BackupStatus::Completed.as_str());
        fetch_all(select, &self.pool, backup).await
    }

    async fn unforgotten_backups(&self) -> Result<Vec<Backup>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            backup_columns!(),
            " FROM backups WHERE status IN ($1, $2) AND forgotten_at IS NULL
             ORDER BY site_id, id"
        ))
        .bind(BackupStatus::Expired.as_str())
        .bind(BackupStatus::Failed.as_str());
        fetch_all(select, &self.pool, backup).await
    }

    async fn mark_forgotten(
        &self,
        tenant: TenantId,
        b: BackupId,
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let update =
            sqlx::query("UPDATE backups SET forgotten_at = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(id(tenant.as_uuid()))
                .bind(id(b.as_uuid()))
                .bind(ts(at));
        execute(update, &self.pool).await.map(drop)
    }

    async fn unverified_backups(
        &self,
        before: time::OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Backup>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            backup_columns!(),
            " FROM backups WHERE status = $1 AND (verified_at IS NULL OR verified_at < $2)
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(BackupStatus::Completed.as_str())
        .bind(ts(before))
        .bind(limit);
        fetch_all(select, &self.pool, backup).await
    }

    async fn storage_used(&self, tenant: TenantId) -> Result<i64, StoreError> {
        let select = sqlx::query(
            "SELECT CAST(COALESCE(SUM(added_bytes), 0) AS BIGINT) AS n FROM backups
             WHERE tenant_id = $1 AND status = $2",
        )
        .bind(id(tenant.as_uuid()))
        .bind(BackupStatus::Completed.as_str());
        fetch_one(select, &self.pool, |r| get::<i64>(r, "n")).await
    }

    async fn repository_password(
        &self,
        tenant: TenantId,
        site: SiteId,
        sealed: &str,
    ) -> Result<String, StoreError> {
        let insert = sqlx::query(
            "INSERT INTO backup_repositories (site_id, tenant_id, password_sealed, created_at)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM sites WHERE id = $1 AND tenant_id = $2)
             ON CONFLICT (site_id) DO NOTHING",
        )
        .bind(id(site.as_uuid()))
        .bind(id(tenant.as_uuid()))
        .bind(sealed.to_owned())
        .bind(ts(time::OffsetDateTime::now_utc()));
        execute(insert, &self.pool).await?;
        let select = sqlx::query(
            "SELECT password_sealed FROM backup_repositories WHERE site_id = $1 AND tenant_id = $2",
        )
        .bind(id(site.as_uuid()))
        .bind(id(tenant.as_uuid()));
        fetch_opt(select, &self.pool, |r| get::<String>(r, "password_sealed"))
            .await?
            .ok_or(StoreError::NotFound)
    }
}
