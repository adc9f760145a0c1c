//! The `ScheduleRepository` contract (backup): a schedule reads back as saved for its tenant
//! only, a second save replaces the first, a rolled-back save leaves nothing, and only the
//! tenant's live sites exist for it.

use crate::Backend;
use crate::fixtures::{insert_server, server, site, t0, tenant};
use chom_backup::model::{BackupSchedule, Frequency, Weekday};
use chom_kernel::{SiteId, TenantId};
use chom_site_hosting::model::Site;

/// Two tenants, and a live site of the first.
async fn setup(b: &Backend) -> (TenantId, TenantId, Site) {
    let vps = server("backup.example.net");
    insert_server(b, &vps).await;
    let (mine, theirs) = (tenant(b).await, tenant(b).await);
    let s = site(mine, vps.id, "kept.example.com");
    let mut uow = b.store.begin().await.unwrap();
    b.sites.insert_site(uow.as_mut(), &s).await.unwrap();
    uow.commit().await.unwrap();
    (mine, theirs, s)
}

fn weekly(site: SiteId) -> BackupSchedule {
    BackupSchedule {
        site_id: site,
        frequency: Frequency::Weekly,
        hour: 23,
        weekday: Some(Weekday::Sunday),
        time_zone: "America/Argentina/Buenos_Aires".into(),
        enabled: true,
        updated_at: Some(t0()),
    }
}

async fn put(b: &Backend, tenant: TenantId, schedule: &BackupSchedule) {
    let mut uow = b.store.begin().await.unwrap();
    b.backups
        .put_schedule(uow.as_mut(), tenant, schedule)
        .await
        .unwrap();
    uow.commit().await.unwrap();
}

/// A saved schedule reads back whole for its tenant, and is invisible to another tenant.
pub async fn schedules_read_back_for_their_tenant_only(b: &Backend) {
    let (mine, theirs, s) = setup(b).await;
    assert_eq!(b.backups.get_schedule(mine, s.id).await.unwrap(), None);
    let saved = weekly(s.id);
    put(b, mine, &saved).await;
    assert_eq!(
        b.backups.get_schedule(mine, s.id).await.unwrap(),
        Some(saved)
    );
    assert_eq!(b.backups.get_schedule(theirs, s.id).await.unwrap(), None);
}

/// Saving again replaces every field (one row per site); a save rolled back leaves the
/// previous schedule.
pub async fn a_second_save_replaces_and_a_rollback_keeps_the_first(b: &Backend) {
    let (mine, _, s) = setup(b).await;
    put(b, mine, &weekly(s.id)).await;
    let daily = BackupSchedule {
        frequency: Frequency::Daily,
        hour: 0,
        weekday: None,
        time_zone: "UTC".into(),
        enabled: false,
        updated_at: Some(t0() + time::Duration::hours(1)),
        site_id: s.id,
    };
    put(b, mine, &daily).await;
    assert_eq!(
        b.backups.get_schedule(mine, s.id).await.unwrap(),
        Some(daily.clone())
    );
    let mut uow = b.store.begin().await.unwrap();
    b.backups
        .put_schedule(uow.as_mut(), mine, &weekly(s.id))
        .await
        .unwrap();
    uow.rollback().await.unwrap();
    assert_eq!(
        b.backups.get_schedule(mine, s.id).await.unwrap(),
        Some(daily)
    );
}

/// A site exists for its own tenant while live: not for another tenant, not once deleted, and
/// an unknown id never.
pub async fn only_the_tenants_live_sites_exist(b: &Backend) {
    let (mine, theirs, mut s) = setup(b).await;
    let mut uow = b.store.begin().await.unwrap();
    assert!(
        b.backups
            .site_exists(uow.as_mut(), mine, s.id)
            .await
            .unwrap()
    );
    assert!(
        !b.backups
            .site_exists(uow.as_mut(), theirs, s.id)
            .await
            .unwrap()
    );
    assert!(
        !b.backups
            .site_exists(uow.as_mut(), mine, SiteId::new())
            .await
            .unwrap()
    );
    s.deleted_at = Some(t0());
    b.sites.update_site(uow.as_mut(), &s).await.unwrap();
    assert!(
        !b.backups
            .site_exists(uow.as_mut(), mine, s.id)
            .await
            .unwrap()
    );
    uow.rollback().await.unwrap();
}
