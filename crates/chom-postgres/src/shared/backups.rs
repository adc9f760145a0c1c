//! Site backup schedules (the backup context's `ScheduleRepository`). Every statement carries
//! `tenant_id = $1`.

use crate::codec::{DbRow, get, get_id, get_ts, id, ts};
use crate::shared::exec::{corrupt, execute, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_backup::model::{BackupSchedule, Frequency, Weekday};
use chom_backup::ports::ScheduleRepository;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{SiteId, StoreError, TenantId};
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
