//! The `SiteRepository` contract (site hosting): every read and write of a tenant's sites and
//! operations is scoped to the tenant (another tenant's id finds nothing and changes nothing),
//! domains are unique per tenant and per server, deleted sites leave every read, and an ended
//! operation is never written again.

use crate::Backend;
use crate::fixtures::{insert_server, server, site, t0, tenant};
use chom_agent_protocol::SiteType;
use chom_kernel::jobs::NewJob;
use chom_kernel::{OperationId, StoreError, TenantId, UniqueKey, VpsId};
use chom_site_hosting::model::{Operation, OperationStatus, Site, SiteStatus};
use chom_site_hosting::ports::SiteFilter;
use time::Duration;

/// Two tenants and one server.
async fn setup(b: &Backend) -> (TenantId, TenantId, VpsId) {
    let vps = server("web.example.net");
    insert_server(b, &vps).await;
    (tenant(b).await, tenant(b).await, vps.id)
}

async fn insert(b: &Backend, s: &Site) {
    let mut uow = b.store.begin().await.unwrap();
    b.sites.insert_site(uow.as_mut(), s).await.unwrap();
    uow.commit().await.unwrap();
}

/// A pending operation of `s` at `t0()`.
fn operation(s: &Site, kind: &str) -> Operation {
    let mut op = Operation::new(s.tenant_id, Some(s.id), kind, &["site.create", "ssl.issue"]);
    op.created_at = t0();
    op.updated_at = t0();
    op
}

/// A site reads back as written, for its tenant only: another tenant's id finds nothing,
/// lists nothing and updates nothing.
pub async fn sites_are_visible_to_their_tenant_only(b: &Backend) {
    let (mine, theirs, vps) = setup(b).await;
    let mut s = site(mine, vps, "shop.example.com");
    insert(b, &s).await;

    assert_eq!(b.sites.get_site(mine, s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(b.sites.get_site(theirs, s.id).await.unwrap(), None);
    let all = SiteFilter {
        limit: 10,
        ..SiteFilter::default()
    };
    assert_eq!(
        b.sites.list_sites(mine, &all).await.unwrap(),
        vec![s.clone()]
    );
    assert!(b.sites.list_sites(theirs, &all).await.unwrap().is_empty());

    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(
        b.sites.lock_site(uow.as_mut(), theirs, s.id).await.unwrap(),
        None
    );
    assert_eq!(b.sites.count_sites(uow.as_mut(), theirs).await.unwrap(), 0);
    assert_eq!(b.sites.count_sites(uow.as_mut(), mine).await.unwrap(), 1);
    let mut foreign = s.clone();
    foreign.tenant_id = theirs;
    foreign.status = SiteStatus::Disabled;
    assert!(matches!(
        b.sites.update_site(uow.as_mut(), &foreign).await,
        Err(StoreError::NotFound)
    ));
    s.status = SiteStatus::Disabled;
    s.status_reason = Some("suspended".into());
    s.ssl_enabled = true;
    s.ssl_expires_at = Some(t0() + Duration::days(90));
    s.updated_at = t0() + Duration::seconds(1);
    b.sites.update_site(uow.as_mut(), &s).await.unwrap();
    assert_eq!(
        b.sites.lock_site(uow.as_mut(), mine, s.id).await.unwrap(),
        Some(s.clone())
    );
    uow.commit().await.unwrap();

    b.sites
        .record_storage(theirs, s.id, 999, t0() + Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(b.sites.get_site(mine, s.id).await.unwrap(), Some(s.clone()));
    b.sites
        .record_storage(mine, s.id, 42, t0() + Duration::seconds(2))
        .await
        .unwrap();
    let stored = b.sites.get_site(mine, s.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.storage_used_mb, stored.updated_at),
        (42, t0() + Duration::seconds(2))
    );
}

/// A live domain (or its `www.` alias) is taken for everyone; a second live site with one
/// domain in a tenant or on a server is a conflict keyed `SiteTenantDomain` or `SiteVpsDomain`;
/// a deleted site frees its domain and leaves every read.
pub async fn domains_are_unique_and_deleted_sites_leave_every_read(b: &Backend) {
    let (mine, theirs, vps) = setup(b).await;
    let mut s = site(mine, vps, "shop.example.com");
    insert(b, &s).await;

    let mut uow = b.store.begin().await.unwrap();
    for taken in ["shop.example.com", "www.shop.example.com"] {
        assert!(
            b.sites.domain_taken(uow.as_mut(), taken).await.unwrap(),
            "{taken}"
        );
    }
    assert!(
        !b.sites
            .domain_taken(uow.as_mut(), "example.com")
            .await
            .unwrap()
    );
    let loads = b
        .sites
        .vps_loads(uow.as_mut(), "shop.example.com")
        .await
        .unwrap();
    assert_eq!(loads.len(), 1);
    assert_eq!(
        (loads[0].vps_id, loads[0].sites, loads[0].hosts_domain),
        (vps, 1, true)
    );
    assert_eq!(b.sites.lock_vps_load(uow.as_mut(), vps).await.unwrap(), 1);
    let same_tenant = site(mine, vps, "shop.example.com");
    assert!(matches!(
        b.sites.insert_site(uow.as_mut(), &same_tenant).await,
        Err(StoreError::Conflict(_))
    ));
    drop(uow);
    let other_server = server("web-2.example.net");
    insert_server(b, &other_server).await;
    let mut uow = b.store.begin().await.unwrap();
    match b
        .sites
        .insert_site(
            uow.as_mut(),
            &site(mine, other_server.id, "shop.example.com"),
        )
        .await
    {
        Err(StoreError::Conflict(c)) => assert_eq!(c.key, Some(UniqueKey::SiteTenantDomain)),
        other => panic!("expected a conflict in the tenant, got {other:?}"),
    }
    drop(uow);
    let mut uow = b.store.begin().await.unwrap();
    match b
        .sites
        .insert_site(uow.as_mut(), &site(theirs, vps, "shop.example.com"))
        .await
    {
        Err(StoreError::Conflict(c)) => assert_eq!(c.key, Some(UniqueKey::SiteVpsDomain)),
        other => panic!("expected a conflict on the server, got {other:?}"),
    }
    drop(uow);

    s.deleted_at = Some(t0() + Duration::minutes(1));
    let mut uow = b.store.begin().await.unwrap();
    b.sites.update_site(uow.as_mut(), &s).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(b.sites.get_site(mine, s.id).await.unwrap(), None);
    assert!(b.sites.live_sites(None, 10).await.unwrap().is_empty());
    let mut uow = b.store.begin().await.unwrap();
    assert!(
        !b.sites
            .domain_taken(uow.as_mut(), "shop.example.com")
            .await
            .unwrap()
    );
    assert_eq!(b.sites.count_sites(uow.as_mut(), mine).await.unwrap(), 0);
    assert!(matches!(
        b.sites.update_site(uow.as_mut(), &s).await,
        Err(StoreError::NotFound)
    ));
    b.sites
        .insert_site(uow.as_mut(), &site(theirs, vps, "shop.example.com"))
        .await
        .unwrap();
    uow.commit().await.unwrap();
}

/// Lists are newest first, filtered by status, type and a literal search (`_` and `%` match
/// only themselves), and paged by a cursor; the system reads (`live_sites`, `ssl_expiring`)
/// see every tenant.
pub async fn lists_filter_search_literally_and_page(b: &Backend) {
    let (mine, theirs, vps) = setup(b).await;
    let mut a = site(mine, vps, "a-b.example.com");
    a.status = SiteStatus::Failed;
    let mut c = site(mine, vps, "axb.example.com");
    c.site_type = SiteType::Html;
    c.ssl_enabled = true;
    c.ssl_expires_at = Some(t0() + Duration::days(5));
    let mut d = site(theirs, vps, "ab.example.com");
    d.ssl_enabled = true;
    d.ssl_expires_at = Some(t0() + Duration::days(2));
    for s in [&a, &c, &d] {
        insert(b, s).await;
    }
    let ids = |sites: Vec<Site>| sites.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let filter = |f: SiteFilter| SiteFilter { limit: 10, ..f };

    let all = b
        .sites
        .list_sites(mine, &filter(SiteFilter::default()))
        .await
        .unwrap();
    assert_eq!(ids(all), [c.id, a.id]);
    let failed = SiteFilter {
        status: Some(SiteStatus::Failed),
        ..SiteFilter::default()
    };
    assert_eq!(
        ids(b.sites.list_sites(mine, &filter(failed)).await.unwrap()),
        [a.id]
    );
    let html = SiteFilter {
        site_type: Some(SiteType::Html),
        ..SiteFilter::default()
    };
    assert_eq!(
        ids(b.sites.list_sites(mine, &filter(html)).await.unwrap()),
        [c.id]
    );
    for wildcard in ["a_b", "a%b"] {
        let literal = SiteFilter {
            search: Some(wildcard.into()),
            ..SiteFilter::default()
        };
        assert!(
            b.sites
                .list_sites(mine, &filter(literal))
                .await
                .unwrap()
                .is_empty(),
            "{wildcard}"
        );
    }
    let search = SiteFilter {
        search: Some("a-b".into()),
        ..SiteFilter::default()
    };
    assert_eq!(
        ids(b.sites.list_sites(mine, &filter(search)).await.unwrap()),
        [a.id]
    );
    let search = SiteFilter {
        search: Some("ab.".into()),
        ..SiteFilter::default()
    };
    assert!(
        b.sites
            .list_sites(mine, &filter(search))
            .await
            .unwrap()
            .is_empty()
    );
    let page = SiteFilter {
        before: Some(c.id),
        limit: 1,
        ..SiteFilter::default()
    };
    assert_eq!(ids(b.sites.list_sites(mine, &page).await.unwrap()), [a.id]);

    assert_eq!(
        ids(b.sites.live_sites(None, 10).await.unwrap()),
        [a.id, c.id, d.id]
    );
    assert_eq!(
        ids(b.sites.live_sites(Some(a.id), 1).await.unwrap()),
        [c.id]
    );
    let expiring = b
        .sites
        .ssl_expiring(t0() + Duration::days(3))
        .await
        .unwrap();
    assert_eq!(ids(expiring), [d.id]);
    let expiring = b
        .sites
        .ssl_expiring(t0() + Duration::days(30))
        .await
        .unwrap();
    assert_eq!(ids(expiring), [d.id, c.id]);
}

/// An operation reads back for its tenant only; it is the site's active one until it ends,
/// and once ended it is never written again.
pub async fn operations_are_scoped_and_ended_ones_stay_ended(b: &Backend) {
    let (mine, theirs, vps) = setup(b).await;
    let s = site(mine, vps, "shop.example.com");
    insert(b, &s).await;
    let mut op = operation(&s, "provision");
    let mut uow = b.store.begin().await.unwrap();
    b.sites
        .insert_operation(uow.as_mut(), &op, None)
        .await
        .unwrap();
    uow.commit().await.unwrap();

    assert_eq!(
        b.sites.get_operation(mine, op.id).await.unwrap(),
        Some(op.clone())
    );
    assert_eq!(b.sites.get_operation(theirs, op.id).await.unwrap(), None);
    assert_eq!(
        b.sites.list_operations(mine, s.id, None, 10).await.unwrap(),
        vec![op.clone()]
    );
    assert!(
        b.sites
            .list_operations(theirs, s.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.sites
            .list_operations(mine, s.id, Some(op.id), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(
        b.sites.active_operation(uow.as_mut(), s.id).await.unwrap(),
        Some(op.id)
    );
    let mut foreign = op.clone();
    foreign.tenant_id = theirs;
    assert!(matches!(
        b.sites.save_operation(uow.as_mut(), &foreign).await,
        Err(StoreError::NotFound)
    ));
    op.status = OperationStatus::Succeeded;
    op.error = Some("none".into());
    op.updated_at = t0() + Duration::seconds(5);
    b.sites.save_operation(uow.as_mut(), &op).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        b.sites.get_operation(mine, op.id).await.unwrap(),
        Some(op.clone())
    );

    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(
        b.sites.active_operation(uow.as_mut(), s.id).await.unwrap(),
        None
    );
    let mut again = op.clone();
    again.status = OperationStatus::Failed;
    assert!(matches!(
        b.sites.save_operation(uow.as_mut(), &again).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.sites
            .save_operation(uow.as_mut(), &operation(&s, "delete"))
            .await,
        Err(StoreError::NotFound)
    ));
}

/// An unfinished operation is abandoned when no queued or running job carries it; one whose
/// job waits is not, nor is an ended one.
pub async fn abandoned_operations_are_those_no_live_job_carries(b: &Backend) {
    let (mine, _, vps) = setup(b).await;
    let s = site(mine, vps, "shop.example.com");
    insert(b, &s).await;
    let orphan = operation(&s, "provision");
    let carried = operation(&s, "enable");
    let mut ended = operation(&s, "disable");
    ended.status = OperationStatus::Failed;

    let mut uow = b.store.begin().await.unwrap();
    let job = uow
        .enqueue(NewJob::new("contract::noop", serde_json::json!({})))
        .await
        .unwrap();
    assert!(job.is_some());
    b.sites
        .insert_operation(uow.as_mut(), &orphan, None)
        .await
        .unwrap();
    b.sites
        .insert_operation(uow.as_mut(), &carried, job)
        .await
        .unwrap();
    b.sites
        .insert_operation(uow.as_mut(), &ended, None)
        .await
        .unwrap();
    uow.commit().await.unwrap();

    let abandoned: Vec<OperationId> = b
        .sites
        .abandoned_operations(10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(abandoned, [orphan.id]);
}
