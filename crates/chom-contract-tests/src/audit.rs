//! The audit log contract (kernel `AuditTrail` + team `AuditLog`): entries are appended inside
//! the caller's unit of work (a rollback leaves none) and numbered and linked per chain (as
//! they are appended, or by `link_pending` after commit: ADR 0010), listings filter and page,
//! and tampering with the stored rows — editing, deleting or swapping one — makes verification
//! fail at exactly that row; a concurrent burst, linked while it runs, leaves one unbroken
//! chain.

use crate::Backend;
use chom_kernel::OrganizationId;
use chom_kernel::audit::{Actor, AuditEvent, GENESIS, Origin, content_hash};
use chom_team::audit::{Audit, AuditFilter, BreakKind, Verification};
use uuid::Uuid;

fn event(org: OrganizationId, n: usize) -> AuditEvent {
    let actor = Actor::user(
        chom_kernel::UserId::new(),
        Some(org),
        Origin::new(
            Some("203.0.113.7".into()),
            Some("curl/8".into()),
            Some(format!("req-{n}")),
        ),
    );
    AuditEvent::new(
        &actor,
        if n.is_multiple_of(2) {
            "site.create"
        } else {
            "site.delete"
        },
        "site",
        format!("site-{n}"),
    )
    .with_summary(serde_json::json!({"n": n, "domain": format!("s{n}.example.com")}))
}

async fn append(b: &Backend, e: &AuditEvent) {
    let mut uow = b.store.begin().await.unwrap();
    b.audit.append(uow.as_mut(), e).await.unwrap();
    uow.commit().await.unwrap();
}

async fn verify(b: &Backend, chain: Uuid) -> Verification {
    Audit::new(b.audit_log.clone()).verify(chain).await.unwrap()
}

/// `n` entries in `org`'s chain.
async fn filled(b: &Backend, n: usize) -> Uuid {
    let org = OrganizationId::new();
    for i in 1..=n {
        append(b, &event(org, i)).await;
    }
    b.audit_log.link_pending().await.unwrap();
    org.as_uuid()
}

/// Two organizations' entries interleaved: each chain is numbered 1, 2, 3… from the genesis
/// hash and verifies; the rows read back exactly as appended; a rolled-back append leaves no
/// entry and no gap.
pub async fn chains_are_numbered_and_linked_per_organization(b: &Backend) {
    let (a, c) = (OrganizationId::new(), OrganizationId::new());
    let mut appended = Vec::new();
    for i in 0..6 {
        let org = if i % 2 == 0 { a } else { c };
        let mut uow = b.store.begin().await.unwrap();
        appended.push(b.audit.append(uow.as_mut(), &event(org, i)).await.unwrap());
        uow.commit().await.unwrap();
    }
    let mut uow = b.store.begin().await.unwrap();
    b.audit.append(uow.as_mut(), &event(a, 99)).await.unwrap();
    uow.rollback().await.unwrap();
    append(b, &event(a, 100)).await;
    b.audit_log.link_pending().await.unwrap();

    let walked = b.audit_log.walk(a.as_uuid(), 0, 100).await.unwrap();
    assert_eq!(
        walked.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(walked[0].prev_hash, GENESIS);
    assert_eq!(
        (walked[0].id, content_hash(&walked[0])),
        (appended[0].id, content_hash(&appended[0])),
        "a row reads back as appended"
    );
    assert_eq!(walked[1].prev_hash, walked[0].hash);
    assert_eq!(walked[3].target_id.as_deref(), Some("site-100"));
    for chain in [a.as_uuid(), c.as_uuid()] {
        let v = verify(b, chain).await;
        assert_eq!(v.broken, None, "{v:?}");
    }
    assert_eq!(verify(b, a.as_uuid()).await.checked, 4);
    assert_eq!(verify(b, c.as_uuid()).await.checked, 3);
    let chains = b.audit_log.chains().await.unwrap();
    assert!(chains.contains(&a.as_uuid()) && chains.contains(&c.as_uuid()));
}

/// Listings stay inside the chain asked for, filter by actor, action, target and time, and
/// page newest first.
pub async fn listings_filter_and_page_newest_first(b: &Backend) {
    let org = OrganizationId::new();
    let other = filled(b, 3).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut uow = b.store.begin().await.unwrap();
        ids.push(b.audit.append(uow.as_mut(), &event(org, i)).await.unwrap());
        uow.commit().await.unwrap();
    }
    b.audit_log.link_pending().await.unwrap();
    let mine = AuditFilter {
        chain: Some(org.as_uuid()),
        ..AuditFilter::default()
    };
    let page = b.audit_log.page(&mine, None, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [5, 4, 3],
        "newest first"
    );
    let rest = b.audit_log.page(&mine, Some(page[2].id), 10).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
    assert!(page.iter().chain(&rest).all(|e| e.chain == org.as_uuid()));

    let created = AuditFilter {
        action: Some("site.create".into()),
        ..mine.clone()
    };
    assert_eq!(b.audit_log.page(&created, None, 10).await.unwrap().len(), 3);
    let by_actor = AuditFilter {
        actor_id: ids[1].actor_id,
        ..mine.clone()
    };
    let found = b.audit_log.page(&by_actor, None, 10).await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|e| (e.id, content_hash(e)))
            .collect::<Vec<_>>(),
        vec![(ids[1].id, content_hash(&ids[1]))]
    );
    let target = AuditFilter {
        target_type: Some("site".into()),
        target_id: Some("site-2".into()),
        ..mine.clone()
    };
    assert_eq!(b.audit_log.page(&target, None, 10).await.unwrap().len(), 1);
    let later = AuditFilter {
        from: Some(ids[4].occurred_at + time::Duration::milliseconds(1)),
        ..mine.clone()
    };
    assert!(b.audit_log.page(&later, None, 10).await.unwrap().is_empty());
    let window = AuditFilter {
        from: Some(ids[0].occurred_at),
        to: Some(ids[4].occurred_at + time::Duration::milliseconds(1)),
        ..mine
    };
    assert_eq!(b.audit_log.page(&window, None, 10).await.unwrap().len(), 5);
    let everything = b
        .audit_log
        .page(&AuditFilter::default(), None, 1000)
        .await
        .unwrap();
    assert!(everything.iter().any(|e| e.chain == other));
}

fn row(chain: Uuid, seq: i64) -> String {
    format!("chain = '{chain}' AND seq = {seq}")
}

/// Editing one row's content directly in the database breaks verification at that row.
pub async fn an_edited_row_breaks_the_chain_at_that_row(b: &Backend) {
    let chain = filled(b, 8).await;
    (b.sql)(format!(
        "UPDATE audit_log SET summary = '{{}}' WHERE {}",
        row(chain, 5)
    ))
    .await;
    let broken = verify(b, chain).await.broken.unwrap();
    assert_eq!((broken.seq, broken.kind), (5, BreakKind::Edited));
    // Even re-hashing the edited row does not help: the next row's link gives it away.
    let again = filled(b, 8).await;
    (b.sql)(format!(
        "UPDATE audit_log SET prev_hash = '{}' WHERE {}",
        "f".repeat(64),
        row(again, 3)
    ))
    .await;
    let broken = verify(b, again).await.broken.unwrap();
    assert_eq!((broken.seq, broken.kind), (3, BreakKind::Unlinked));
}

/// Deleting one row breaks verification where it was; deleting the newest is caught by the
/// head.
pub async fn a_deleted_row_breaks_the_chain_at_that_row(b: &Backend) {
    let chain = filled(b, 8).await;
    (b.sql)(format!("DELETE FROM audit_log WHERE {}", row(chain, 4))).await;
    let broken = verify(b, chain).await.broken.unwrap();
    assert_eq!((broken.seq, broken.kind), (4, BreakKind::Missing));

    let newest = filled(b, 8).await;
    (b.sql)(format!("DELETE FROM audit_log WHERE {}", row(newest, 8))).await;
    let v = verify(b, newest).await;
    assert_eq!(v.checked, 7);
    let broken = v.broken.unwrap();
    assert_eq!((broken.seq, broken.kind), (8, BreakKind::Truncated));
}

/// Swapping two rows (their places in the chain) breaks verification at the first of them.
pub async fn swapped_rows_break_the_chain_at_the_first(b: &Backend) {
    let chain = filled(b, 8).await;
    for sql in [
        format!("UPDATE audit_log SET seq = -1 WHERE {}", row(chain, 3)),
        format!("UPDATE audit_log SET seq = 3 WHERE {}", row(chain, 6)),
        format!("UPDATE audit_log SET seq = 6 WHERE {}", row(chain, -1)),
    ] {
        (b.sql)(sql).await;
    }
    let broken = verify(b, chain).await.broken.unwrap();
    assert_eq!(broken.seq, 3);
    // Same with the numbers swapped back into place in the rows' content.
    let other = filled(b, 8).await;
    for sql in [
        format!("UPDATE audit_log SET seq = -1 WHERE {}", row(other, 2)),
        format!("UPDATE audit_log SET seq = 2 WHERE {}", row(other, 7)),
        format!("UPDATE audit_log SET seq = 7 WHERE {}", row(other, -1)),
    ] {
        (b.sql)(sql).await;
    }
    assert_eq!(verify(b, other).await.broken.unwrap().seq, 2);
    // An untouched chain beside them still verifies.
    let intact = filled(b, 3).await;
    assert_eq!(verify(b, intact).await.broken, None);
}

/// A thousand appends of one organization from 32 concurrent tasks, each in its own unit of
/// work, while 4 linkers run: one chain numbered 1..=1000 without a fork, and it verifies.
pub async fn a_concurrent_burst_leaves_one_unbroken_chain(b: &Backend) {
    let org = OrganizationId::new();
    let audit = b.audit.clone();
    let store = b.store.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let linkers: Vec<_> = (0..4)
        .map(|_| {
            let (log, done) = (b.audit_log.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    log.link_pending().await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (audit, store) = (audit.clone(), store.clone());
            tokio::spawn(async move {
                for i in 0..1000 {
                    if i % 32 != t {
                        continue;
                    }
                    let mut uow = store.begin().await.unwrap();
                    audit.append(uow.as_mut(), &event(org, i)).await.unwrap();
                    uow.commit().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in linkers {
        l.await.unwrap();
    }
    let v = verify(b, org.as_uuid()).await;
    assert_eq!(v.broken, None, "{v:?}");
    assert_eq!(v.checked, 1000);
    assert_eq!(v.head.map(|(seq, _)| seq), Some(1000));
}
