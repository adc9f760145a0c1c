//! The `VpsRepository` contract (infrastructure): servers round-trip, host names are unique,
//! host keys are pinned by compare-and-swap, and only a retired server that no site row names
//! can be deleted.

use crate::Backend;
use crate::fixtures::{insert_server, server, site, t0, tenant};
use chom_infrastructure::model::{Allocation, Health, VpsStatus};
use chom_kernel::{StoreError, TenantId, UniqueKey, VpsId};

/// A server reads back as written; updates replace the editable fields; a second server with
/// the same host name is a conflict; updating a missing server is `NotFound`.
pub async fn servers_round_trip_and_host_names_are_unique(b: &Backend) {
    let mut v = server("web-1.example.net");
    insert_server(b, &v).await;
    assert_eq!(b.fleet.get_vps(v.id).await.unwrap(), Some(v.clone()));
    assert_eq!(b.fleet.get_vps(VpsId::new()).await.unwrap(), None);

    let mut uow = b.store.begin().await.unwrap();
    match b
        .fleet
        .insert_vps(uow.as_mut(), &server("web-1.example.net"))
        .await
    {
        Err(StoreError::Conflict(c)) => assert_eq!(c.key, Some(UniqueKey::VpsHostname), "{c}"),
        other => panic!("expected a conflict on the host name, got {other:?}"),
    }
    drop(uow);

    let tenant = tenant(b).await;
    v.hostname = "web-2.example.net".into();
    v.ssh_port = 2222;
    v.region = None;
    v.allocation = Allocation::Dedicated;
    v.dedicated_tenant_id = Some(tenant);
    v.status = VpsStatus::Maintenance;
    v.agent_version = Some("1.2.3".into());
    let mut uow = b.store.begin().await.unwrap();
    b.fleet.update_vps(uow.as_mut(), &v).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(b.fleet.get_vps(v.id).await.unwrap(), Some(v.clone()));

    let mut uow = b.store.begin().await.unwrap();
    assert!(matches!(
        b.fleet
            .update_vps(uow.as_mut(), &server("ghost.example.net"))
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Listing is by host name; pages follow creation (id) order after a cursor.
pub async fn servers_list_by_name_and_page_by_id(b: &Backend) {
    let names = ["c.example.net", "a.example.net", "b.example.net"];
    let mut created = Vec::new();
    for name in names {
        let v = server(name);
        insert_server(b, &v).await;
        created.push(v.id);
    }
    let listed: Vec<_> = b
        .fleet
        .list_vps()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.hostname)
        .collect();
    assert_eq!(listed, ["a.example.net", "b.example.net", "c.example.net"]);

    let first = b.fleet.list_vps_page(None, 2).await.unwrap();
    assert_eq!(first.iter().map(|v| v.id).collect::<Vec<_>>(), created[..2]);
    let rest = b.fleet.list_vps_page(Some(created[1]), 2).await.unwrap();
    assert_eq!(rest.iter().map(|v| v.id).collect::<Vec<_>>(), created[2..]);
}

/// The first key is pinned only while none is; a re-pin only from the key still pinned.
pub async fn host_keys_are_pinned_by_compare_and_swap(b: &Backend) {
    let v = server("keys.example.net");
    insert_server(b, &v).await;
    let mut uow = b.store.begin().await.unwrap();
    assert!(
        b.fleet
            .pin_host_key(uow.as_mut(), v.id, None, "ssh-ed25519 AAAA1")
            .await
            .unwrap()
    );
    assert!(
        !b.fleet
            .pin_host_key(uow.as_mut(), v.id, None, "ssh-ed25519 AAAA2")
            .await
            .unwrap()
    );
    assert!(
        !b.fleet
            .pin_host_key(
                uow.as_mut(),
                v.id,
                Some("ssh-ed25519 AAAA9"),
                "ssh-ed25519 AAAA2"
            )
            .await
            .unwrap()
    );
    assert!(
        b.fleet
            .pin_host_key(
                uow.as_mut(),
                v.id,
                Some("ssh-ed25519 AAAA1"),
                "ssh-ed25519 AAAA2"
            )
            .await
            .unwrap()
    );
    assert!(
        !b.fleet
            .pin_host_key(uow.as_mut(), VpsId::new(), None, "ssh-ed25519 AAAA3")
            .await
            .unwrap()
    );
    uow.commit().await.unwrap();
    let pinned = b.fleet.get_vps(v.id).await.unwrap().unwrap().host_key;
    assert_eq!(pinned.as_deref(), Some("ssh-ed25519 AAAA2"));
}

/// Health verdicts are recorded with their reason and time; an unknown server is `NotFound`.
pub async fn health_is_recorded(b: &Backend) {
    let v = server("health.example.net");
    insert_server(b, &v).await;
    b.fleet
        .record_health(v.id, Health::Degraded, Some("nginx stopped"), t0())
        .await
        .unwrap();
    let got = b.fleet.get_vps(v.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.health,
            got.health_reason.as_deref(),
            got.health_checked_at
        ),
        (Health::Degraded, Some("nginx stopped"), Some(t0()))
    );
    assert!(matches!(
        b.fleet
            .record_health(VpsId::new(), Health::Healthy, None, t0())
            .await,
        Err(StoreError::NotFound)
    ));
}

/// `tenant_exists` sees tenants; `site_rows` counts every site row and the live ones; only a
/// decommissioned server that no site row names (deleted ones included) is deleted.
pub async fn only_a_retired_server_without_site_rows_is_deleted(b: &Backend) {
    let tenant = tenant(b).await;
    assert!(b.fleet.tenant_exists(tenant).await.unwrap());
    assert!(!b.fleet.tenant_exists(TenantId::new()).await.unwrap());

    let mut empty = server("empty.example.net");
    let mut used = server("used.example.net");
    insert_server(b, &empty).await;
    insert_server(b, &used).await;
    let mut s = site(tenant, used.id, "shop.example.com");
    let mut uow = b.store.begin().await.unwrap();
    b.sites.insert_site(uow.as_mut(), &s).await.unwrap();
    uow.commit().await.unwrap();
    let rows = b.fleet.site_rows(used.id).await.unwrap();
    assert_eq!((rows.ever, rows.live), (1, 1));

    s.deleted_at = Some(t0());
    let mut uow = b.store.begin().await.unwrap();
    b.sites.update_site(uow.as_mut(), &s).await.unwrap();
    uow.commit().await.unwrap();
    let rows = b.fleet.site_rows(used.id).await.unwrap();
    assert_eq!((rows.ever, rows.live), (1, 0));
    let rows = b.fleet.site_rows(empty.id).await.unwrap();
    assert_eq!((rows.ever, rows.live), (0, 0));

    let mut uow = b.store.begin().await.unwrap();
    assert!(
        !b.fleet.delete_vps(uow.as_mut(), empty.id).await.unwrap(),
        "still active"
    );
    empty.status = VpsStatus::Decommissioned;
    used.status = VpsStatus::Decommissioned;
    b.fleet.update_vps(uow.as_mut(), &empty).await.unwrap();
    b.fleet.update_vps(uow.as_mut(), &used).await.unwrap();
    assert!(
        !b.fleet.delete_vps(uow.as_mut(), used.id).await.unwrap(),
        "a deleted site names it"
    );
    assert!(b.fleet.delete_vps(uow.as_mut(), empty.id).await.unwrap());
    uow.commit().await.unwrap();
    assert_eq!(b.fleet.get_vps(empty.id).await.unwrap(), None);
    assert!(b.fleet.get_vps(used.id).await.unwrap().is_some());
}
