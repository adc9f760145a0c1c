//! The `TeamRepository` contract (team): invitations are read back only within their
//! organization, found by their current token's hash, one open per address (a `Conflict` keyed
//! `InvitationOpenEmail`); acceptance is a single compare-and-set that a revoked or expired
//! invitation fails; seats count members and open unexpired invitations; one transfer per
//! organization.

use crate::Backend;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{Conflict, InvitationId, OrganizationId, Role, StoreError, UniqueKey, UserId};
use chom_team::model::{INVITATION_LIFETIME, Invitation, OwnershipTransfer};
use chom_tenancy::model::Membership;
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    chom_kernel::audit::now_ms()
}

async fn organization(b: &Backend) -> OrganizationId {
    let tenant = crate::fixtures::tenant(b).await;
    b.identity
        .orgs
        .get_tenant(tenant)
        .await
        .unwrap()
        .unwrap()
        .organization_id
}

fn invitation(org: OrganizationId, email: &str) -> Invitation {
    let at = now();
    Invitation {
        id: InvitationId::new(),
        organization_id: org,
        email: email.to_owned(),
        role: Role::Member,
        invited_by: None,
        created_at: at,
        expires_at: at + INVITATION_LIFETIME,
        sent_at: None,
        send_count: 0,
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    }
}

async fn unit(b: &Backend) -> Box<dyn UnitOfWork> {
    b.store.begin().await.unwrap()
}

async fn insert(b: &Backend, i: &Invitation) -> Result<(), StoreError> {
    let mut uow = unit(b).await;
    b.team.insert_invitation(uow.as_mut(), i).await?;
    uow.commit().await
}

/// A member of `org` (a user row and its membership).
async fn member(b: &Backend, org: OrganizationId, name: &str) -> UserId {
    let user = chom_auth::NewUser {
        id: UserId::new(),
        username: chom_auth::Username::parse(name).unwrap(),
        email: chom_auth::EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        first_name: chom_auth::PersonName::parse("T").unwrap(),
        last_name: chom_auth::PersonName::parse("U").unwrap(),
        password_hash: chom_auth::PasswordHash::from_stored("x".into()),
        is_super_admin: false,
        approval: chom_auth::ApprovalStatus::Approved,
        email_verified_at: None,
    };
    let mut uow = unit(b).await;
    b.identity
        .users
        .insert_user(uow.as_mut(), &user)
        .await
        .unwrap();
    let m = Membership {
        user_id: user.id,
        organization_id: org,
        role: Role::Member,
    };
    b.identity
        .orgs
        .insert_membership(uow.as_mut(), &m)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    user.id
}

/// Read back whole within the organization, unknown to another; paged newest first; found by
/// the hash of the token last set, never by an older one; one open invitation per address.
pub async fn invitations_belong_to_their_organization_and_their_current_token(b: &Backend) {
    let (org, other) = (organization(b).await, organization(b).await);
    let first = invitation(org, "ana@example.com");
    insert(b, &first).await.unwrap();
    assert_eq!(
        b.team.get_invitation(org, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(b.team.get_invitation(other, first.id).await.unwrap(), None);
    assert_eq!(
        b.team.invitation(first.id).await.unwrap(),
        Some(first.clone())
    );

    let duplicate = insert(b, &invitation(org, "ana@example.com")).await;
    assert!(
        matches!(
            duplicate,
            Err(StoreError::Conflict(Conflict {
                key: Some(UniqueKey::InvitationOpenEmail),
                ..
            }))
        ),
        "{duplicate:?}"
    );
    // Another organization may invite the same address.
    insert(b, &invitation(other, "ana@example.com"))
        .await
        .unwrap();
    let second = invitation(org, "bob@example.com");
    insert(b, &second).await.unwrap();
    let page = b.team.page_invitations(org, None, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|i| i.id).collect::<Vec<_>>(),
        [second.id, first.id]
    );
    let rest = b
        .team
        .page_invitations(org, Some(second.id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);

    let (old, new) = ([1u8; 32], [2u8; 32]);
    for hash in [old, new] {
        let mut uow = unit(b).await;
        let at = now();
        assert!(
            b.team
                .set_invitation_token(uow.as_mut(), first.id, &hash, at, at + INVITATION_LIFETIME)
                .await
                .unwrap()
        );
        uow.commit().await.unwrap();
    }
    let found = b.team.invitation_by_token(&new).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.send_count, found.sent_at.is_some()),
        (first.id, 2, true)
    );
    assert_eq!(b.team.invitation_by_token(&old).await.unwrap(), None);

    // Revoked, the address may be invited again; the revoked one cannot be re-armed.
    let mut uow = unit(b).await;
    assert!(
        b.team
            .revoke_invitation(uow.as_mut(), org, first.id, now())
            .await
            .unwrap()
    );
    assert!(
        !b.team
            .revoke_invitation(uow.as_mut(), other, second.id, now())
            .await
            .unwrap(),
        "another organization's"
    );
    uow.commit().await.unwrap();
    insert(b, &invitation(org, "ana@example.com"))
        .await
        .unwrap();
    let mut uow = unit(b).await;
    let at = now();
    assert!(
        !b.team
            .set_invitation_token(uow.as_mut(), first.id, &[3; 32], at, at)
            .await
            .unwrap()
    );
}

/// Accepting succeeds once; a revoked or expired invitation is not accepted; a rolled-back
/// acceptance leaves it open.
pub async fn acceptance_is_one_compare_and_set(b: &Backend) {
    let org = organization(b).await;
    let user = member(b, org, "acceptor").await;
    let open = invitation(org, "x@example.com");
    insert(b, &open).await.unwrap();
    let mut uow = unit(b).await;
    assert!(
        b.team
            .accept_invitation(uow.as_mut(), open.id, user, now())
            .await
            .unwrap()
    );
    uow.rollback().await.unwrap();
    let mut uow = unit(b).await;
    assert!(
        b.team
            .accept_invitation(uow.as_mut(), open.id, user, now())
            .await
            .unwrap()
    );
    uow.commit().await.unwrap();
    let mut uow = unit(b).await;
    assert!(
        !b.team
            .accept_invitation(uow.as_mut(), open.id, user, now())
            .await
            .unwrap(),
        "twice"
    );
    drop(uow);
    let accepted = b.team.invitation(open.id).await.unwrap().unwrap();
    assert_eq!(accepted.accepted_by, Some(user));

    let revoked = invitation(org, "y@example.com");
    insert(b, &revoked).await.unwrap();
    let mut uow = unit(b).await;
    b.team
        .revoke_invitation(uow.as_mut(), org, revoked.id, now())
        .await
        .unwrap();
    assert!(
        !b.team
            .accept_invitation(uow.as_mut(), revoked.id, user, now())
            .await
            .unwrap()
    );
    drop(uow);

    let mut expired = invitation(org, "z@example.com");
    expired.expires_at = now() - Duration::seconds(1);
    insert(b, &expired).await.unwrap();
    let mut uow = unit(b).await;
    assert!(
        !b.team
            .accept_invitation(uow.as_mut(), expired.id, user, now())
            .await
            .unwrap()
    );
}

/// Seats: members plus open invitations that have not expired.
pub async fn seats_are_members_and_open_unexpired_invitations(b: &Backend) {
    let org = organization(b).await;
    member(b, org, "seat1").await;
    member(b, org, "seat2").await;
    insert(b, &invitation(org, "open@example.com"))
        .await
        .unwrap();
    let mut lapsed = invitation(org, "lapsed@example.com");
    lapsed.expires_at = now() - Duration::minutes(1);
    insert(b, &lapsed).await.unwrap();
    let revoked = invitation(org, "revoked@example.com");
    insert(b, &revoked).await.unwrap();
    let mut uow = unit(b).await;
    b.team
        .revoke_invitation(uow.as_mut(), org, revoked.id, now())
        .await
        .unwrap();
    assert_eq!(
        b.team.seats_taken(uow.as_mut(), org, now()).await.unwrap(),
        3
    );
    uow.commit().await.unwrap();
    let other = organization(b).await;
    let mut uow = unit(b).await;
    assert_eq!(
        b.team
            .seats_taken(uow.as_mut(), other, now())
            .await
            .unwrap(),
        0
    );
}

/// One pending transfer per organization: a second proposal replaces the first; deleting
/// says whether there was one.
pub async fn one_transfer_per_organization(b: &Backend) {
    let org = organization(b).await;
    let (a, c, d) = (
        member(b, org, "tra").await,
        member(b, org, "trc").await,
        member(b, org, "trd").await,
    );
    let at = now();
    let t = |to| OwnershipTransfer {
        organization_id: org,
        from_user: a,
        to_user: to,
        created_at: at,
        expires_at: at + Duration::days(7),
    };
    for to in [c, d] {
        let mut uow = unit(b).await;
        b.team.put_transfer(uow.as_mut(), &t(to)).await.unwrap();
        uow.commit().await.unwrap();
    }
    assert_eq!(b.team.get_transfer(org).await.unwrap(), Some(t(d)));
    let mut uow = unit(b).await;
    assert!(b.team.delete_transfer(uow.as_mut(), org).await.unwrap());
    assert!(!b.team.delete_transfer(uow.as_mut(), org).await.unwrap());
    uow.commit().await.unwrap();
    assert_eq!(b.team.get_transfer(org).await.unwrap(), None);
}
