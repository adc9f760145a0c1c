//! The schedule use cases over the in-memory fake.

use super::{BackupError, BackupPorts, Backups};
use crate::model::{Frequency, ScheduleInput};
use crate::testing::Fake;
use chom_kernel::audit::MemoryTrail;
use chom_kernel::{Role, SiteId, TenantContext, TenantId, UserId};
use std::sync::Arc;

fn service() -> (Backups, Fake) {
    service_with_trail().0
}

fn service_with_trail() -> ((Backups, Fake), Arc<MemoryTrail>) {
    let fake = Fake::default();
    let trail = Arc::new(MemoryTrail::default());
    let backups = Backups::new(BackupPorts {
        store: Arc::new(fake.clone()),
        schedules: Arc::new(fake.clone()),
        audit: trail.clone(),
    });
    ((backups, fake), trail)
}

fn member(tenant: TenantId, role: Role) -> TenantContext {
    TenantContext::authenticated(
        chom_kernel::OrganizationId::new(),
        tenant,
        UserId::new(),
        role,
    )
}

fn weekly() -> ScheduleInput {
    ScheduleInput {
        frequency: Some("weekly".into()),
        hour: Some(2),
        weekday: Some("saturday".into()),
        time_zone: Some("Europe/Paris".into()),
        enabled: Some(true),
    }
}

#[tokio::test]
async fn a_site_answers_the_default_until_a_schedule_is_saved_then_that_one() {
    let (backups, fake) = service();
    let tenant = TenantId::new();
    let site = fake.add_site(tenant);
    let ctx = member(tenant, Role::Member);
    let before = backups.schedule(&ctx, site).await.unwrap();
    assert_eq!((before.enabled, before.updated_at), (false, None));
    let saved = backups.set_schedule(&ctx, site, weekly()).await.unwrap();
    assert_eq!(saved.frequency, Frequency::Weekly);
    // Stored times keep milliseconds (SQLite's precision), so the answer is what reads return.
    let saved_at = saved.updated_at.unwrap();
    assert_eq!(saved_at.nanosecond() % 1_000_000, 0);
    assert_eq!(backups.schedule(&ctx, site).await.unwrap(), saved);
    // Saved again: replaced, not added.
    let daily = ScheduleInput {
        frequency: Some("daily".into()),
        weekday: None,
        ..weekly()
    };
    backups.set_schedule(&ctx, site, daily).await.unwrap();
    let state = fake.state();
    assert_eq!(state.schedules.len(), 1);
    assert_eq!(state.schedules[&site].1.frequency, Frequency::Daily);
}

#[tokio::test]
async fn another_tenants_site_is_not_found_for_reading_and_writing() {
    let (backups, fake) = service();
    let (mine, theirs) = (TenantId::new(), TenantId::new());
    let their_site = fake.add_site(theirs);
    backups
        .set_schedule(&member(theirs, Role::Owner), their_site, weekly())
        .await
        .unwrap();
    let me = member(mine, Role::Owner);
    for site in [their_site, SiteId::new()] {
        assert!(matches!(
            backups.schedule(&me, site).await,
            Err(BackupError::NotFound)
        ));
        assert!(matches!(
            backups.set_schedule(&me, site, weekly()).await,
            Err(BackupError::NotFound)
        ));
    }
    // Their schedule is untouched.
    assert_eq!(fake.state().schedules[&their_site].0, theirs);
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_save_and_nothing_is_written() {
    let (backups, fake) = service();
    let tenant = TenantId::new();
    let site = fake.add_site(tenant);
    let viewer = member(tenant, Role::Viewer);
    assert!(backups.schedule(&viewer, site).await.is_ok());
    assert!(matches!(
        backups.set_schedule(&viewer, site, weekly()).await,
        Err(BackupError::Forbidden("viewer"))
    ));
    assert_eq!(fake.state().commits, 0);
}

#[tokio::test]
async fn an_invalid_body_is_refused_with_its_fields_after_the_site_check() {
    let (backups, fake) = service();
    let tenant = TenantId::new();
    let site = fake.add_site(tenant);
    let ctx = member(tenant, Role::Admin);
    let Err(BackupError::Invalid(errors)) = backups
        .set_schedule(&ctx, site, ScheduleInput::default())
        .await
    else {
        panic!("an empty body was accepted");
    };
    assert_eq!(errors.len(), 3);
    // A foreign site with an invalid body is still just unknown.
    assert!(matches!(
        backups
            .set_schedule(&ctx, SiteId::new(), ScheduleInput::default())
            .await,
        Err(BackupError::NotFound)
    ));
    assert_eq!(fake.state().commits, 0);
}

#[tokio::test]
async fn every_saved_schedule_is_audited_with_before_and_after() {
    let ((backups, fake), trail) = service_with_trail();
    let tenant = TenantId::new();
    let site = fake.add_site(tenant);
    let ctx = member(tenant, Role::Member);
    backups.set_schedule(&ctx, site, weekly()).await.unwrap();
    let refused = ScheduleInput {
        hour: Some(24),
        ..weekly()
    };
    backups.set_schedule(&ctx, site, refused).await.unwrap_err();
    let daily = ScheduleInput {
        frequency: Some("daily".into()),
        weekday: None,
        ..weekly()
    };
    backups.set_schedule(&ctx, site, daily).await.unwrap();
    let events = trail.events();
    assert_eq!(events.len(), 2, "a refused change is not recorded");
    let last = &events[1];
    assert_eq!(
        (
            last.action,
            last.target_id.clone(),
            last.actor_id,
            last.tenant_id
        ),
        (
            "backup_schedule.update",
            Some(site.to_string()),
            Some(ctx.user_id()),
            Some(tenant)
        )
    );
    assert_eq!(last.summary["before"]["frequency"], "weekly");
    assert_eq!(last.summary["after"]["frequency"], "daily");
    assert_eq!(events[0].summary["before"], serde_json::Value::Null);
}

mod checked_download {
    use super::super::backups::checked;
    use crate::ports::ByteStream;
    use futures::StreamExt as _;

    fn stream(chunks: &[&[u8]]) -> ByteStream {
        let items: Vec<Result<Vec<u8>, String>> = chunks.iter().map(|c| Ok(c.to_vec())).collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn collect(s: ByteStream) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        let items: Vec<_> = s.collect().await;
        for item in items {
            match item {
                Ok(b) => out.extend(b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn the_same_archive_passes_whole() {
        let all = b"hello, archive".to_vec();
        let digest = chom_kernel::crypto::sha256(&all);
        let (out, err) = collect(checked(
            stream(&[b"hello, ", b"arch", b"ive"]),
            all.len() as u64,
            digest,
        ))
        .await;
        assert_eq!((out, err), (all, None));
    }

    #[tokio::test]
    async fn a_changed_byte_ends_in_an_error_before_the_last_chunk() {
        let all = b"hello, archive".to_vec();
        let digest = chom_kernel::crypto::sha256(&all);
        let (out, err) = collect(checked(
            stream(&[b"hello, ", b"arch", b"ivE"]),
            all.len() as u64,
            digest,
        ))
        .await;
        assert_eq!(out, b"hello, arch".to_vec(), "the last chunk is held back");
        assert!(err.unwrap().contains("changed"));
    }

    #[tokio::test]
    async fn a_longer_or_shorter_archive_is_refused() {
        let all = b"hello".to_vec();
        let digest = chom_kernel::crypto::sha256(&all);
        let (_, err) = collect(checked(stream(&[b"hel", b"lo!"]), 5, digest)).await;
        assert!(err.unwrap().contains("grew"));
        let (out, err) = collect(checked(stream(&[b"hel", b"l"]), 5, digest)).await;
        assert_eq!(out, b"hel".to_vec());
        assert!(err.is_some());
    }
}
