//! The identity ports (users, tokens, one-time tokens, recovery codes, organizations,
//! memberships, session lookup): behaviour both adapters must share.

use crate::Backend;
use chom_auth::ports::Purpose;
use chom_auth::{
    Abilities, ApprovalStatus, EmailAddress, IssuedToken, NewUser, PasswordHash, PersonName,
    Username,
};
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UniqueKey, UserId};
use chom_tenancy::model::{Membership, Organization, OrganizationStatus, Tenant, TenantStatus};
use time::{Duration, OffsetDateTime};

fn new_user(name: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        first_name: PersonName::parse("Test").unwrap(),
        last_name: PersonName::parse("User").unwrap(),
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        ),
        is_super_admin: false,
        approval: ApprovalStatus::Pending,
        email_verified_at: None,
    }
}

fn org_and_tenant() -> (Organization, Tenant) {
    let now = OffsetDateTime::now_utc();
    let org = Organization {
        id: OrganizationId::new(),
        name: "Acme".into(),
        status: OrganizationStatus::Active,
        approval: ApprovalStatus::Pending,
        approval_reason: None,
        created_at: now,
    };
    let tenant = Tenant {
        id: TenantId::new(),
        organization_id: org.id,
        name: "Default".into(),
        is_default: true,
        status: TenantStatus::Active,
        plan_code: None,
        plan_selected_at: None,
        created_at: now,
    };
    (org, tenant)
}

async fn insert(b: &Backend, user: &NewUser) {
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .users
        .insert_user(uow.as_mut(), user)
        .await
        .unwrap();
    uow.commit().await.unwrap();
}

/// A duplicate e-mail or username is a `Conflict` keyed `UserEmail` or `UserUsername` (the
/// adapter's mapping of its driver's naming), so callers can tell them apart.
pub async fn duplicate_users_are_conflicts_naming_the_field(b: &Backend) {
    let u = new_user("dup");
    insert(b, &u).await;
    let mut same_email = new_user("other");
    same_email.email = u.email.clone();
    let mut uow = b.store.begin().await.unwrap();
    match b
        .identity
        .users
        .insert_user(uow.as_mut(), &same_email)
        .await
    {
        Err(StoreError::Conflict(c)) => assert_eq!(c.key, Some(UniqueKey::UserEmail), "{c}"),
        other => panic!("expected a conflict on email, got {other:?}"),
    }
    drop(uow);
    let mut same_name = new_user("dup");
    same_name.email = EmailAddress::parse("else@example.com").unwrap();
    let mut uow = b.store.begin().await.unwrap();
    match b.identity.users.insert_user(uow.as_mut(), &same_name).await {
        Err(StoreError::Conflict(c)) => assert_eq!(c.key, Some(UniqueKey::UserUsername), "{c}"),
        other => panic!("expected a conflict on username, got {other:?}"),
    }
}

/// Users round-trip every field; lookups by e-mail; a missing user is `None`.
pub async fn users_round_trip(b: &Backend) {
    let u = new_user("roundtrip");
    insert(b, &u).await;
    let got = b.identity.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(
        (got.username.clone(), got.email.clone(), got.approval),
        (u.username.clone(), u.email.clone(), ApprovalStatus::Pending)
    );
    assert_eq!(got.password_hash, u.password_hash);
    assert!(got.email_verified_at.is_none() && got.totp_secret_sealed.is_none());
    assert_eq!(
        b.identity
            .users
            .find_user_by_email(&u.email)
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert!(
        b.identity
            .users
            .get_user(UserId::new())
            .await
            .unwrap()
            .is_none()
    );
    let mut uow = b.store.begin().await.unwrap();
    let missing = b
        .identity
        .users
        .mark_email_verified(uow.as_mut(), UserId::new(), OffsetDateTime::now_utc())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

/// A one-time token works once, not after expiry, and minting a new one kills the older.
pub async fn one_time_tokens_are_single_use(b: &Backend) {
    let u = new_user("onetime");
    insert(b, &u).await;
    let now = OffsetDateTime::now_utc();
    let (first, second, expired) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let mut uow = b.store.begin().await.unwrap();
    let ot = &b.identity.one_time;
    ot.insert_one_time(
        uow.as_mut(),
        Purpose::ResetPassword,
        &expired,
        u.id,
        now - Duration::minutes(1),
    )
    .await
    .unwrap();
    ot.insert_one_time(
        uow.as_mut(),
        Purpose::VerifyEmail,
        &first,
        u.id,
        now + Duration::hours(1),
    )
    .await
    .unwrap();
    ot.insert_one_time(
        uow.as_mut(),
        Purpose::VerifyEmail,
        &second,
        u.id,
        now + Duration::hours(1),
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(
        ot.consume_one_time(uow.as_mut(), Purpose::VerifyEmail, &first, now)
            .await
            .unwrap(),
        None,
        "superseded token accepted"
    );
    assert_eq!(
        ot.consume_one_time(uow.as_mut(), Purpose::ResetPassword, &second, now)
            .await
            .unwrap(),
        None,
        "wrong purpose accepted"
    );
    assert_eq!(
        ot.consume_one_time(uow.as_mut(), Purpose::ResetPassword, &expired, now)
            .await
            .unwrap(),
        None,
        "expired token accepted"
    );
    assert_eq!(
        ot.consume_one_time(uow.as_mut(), Purpose::VerifyEmail, &second, now)
            .await
            .unwrap(),
        Some(u.id)
    );
    assert_eq!(
        ot.consume_one_time(uow.as_mut(), Purpose::VerifyEmail, &second, now)
            .await
            .unwrap(),
        None,
        "used twice"
    );
    uow.commit().await.unwrap();
}

/// Tokens: listed while live, revoked only by their owner, and found by the session lookup with
/// the user, membership, organization and default tenant.
pub async fn tokens_and_sessions(b: &Backend) {
    let u = new_user("sess");
    insert(b, &u).await;
    let stranger = new_user("stranger");
    insert(b, &stranger).await;
    let (org, tenant) = org_and_tenant();
    let now = OffsetDateTime::now_utc();
    let issued =
        IssuedToken::mint(u.id, "login", Abilities::all(), now, Duration::days(1)).unwrap();
    let old = IssuedToken::mint(
        u.id,
        "old",
        Abilities::all(),
        now - Duration::days(3),
        Duration::days(1),
    )
    .unwrap();
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .orgs
        .insert_organization(uow.as_mut(), &org, &tenant)
        .await
        .unwrap();
    b.identity
        .orgs
        .insert_membership(
            uow.as_mut(),
            &Membership {
                user_id: u.id,
                organization_id: org.id,
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    b.identity
        .tokens
        .insert_token(uow.as_mut(), &issued.token)
        .await
        .unwrap();
    b.identity
        .tokens
        .insert_token(uow.as_mut(), &old.token)
        .await
        .unwrap();
    uow.commit().await.unwrap();

    let live = b
        .identity
        .tokens
        .list_tokens(u.id, now, None, 20)
        .await
        .unwrap();
    assert_eq!(
        live.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![issued.token.id],
        "expired token listed"
    );
    let past = b
        .identity
        .tokens
        .list_tokens(u.id, now, Some(issued.token.id), 20)
        .await
        .unwrap();
    assert!(past.is_empty(), "the cursor's own token listed again");

    let s = b
        .identity
        .sessions
        .session(issued.token.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.token, issued.token);
    assert_eq!(s.user.id, u.id);
    let m = s.membership.unwrap();
    assert_eq!(
        (m.role, m.organization.id, m.default_tenant.map(|t| t.id)),
        (Role::Admin, org.id, Some(tenant.id))
    );
    assert!(
        b.identity
            .sessions
            .session(uuid::Uuid::now_v7())
            .await
            .unwrap()
            .is_none()
    );

    let mut uow = b.store.begin().await.unwrap();
    assert!(
        !b.identity
            .tokens
            .revoke_token(uow.as_mut(), stranger.id, issued.token.id, now)
            .await
            .unwrap(),
        "a stranger revoked it"
    );
    assert!(
        b.identity
            .tokens
            .revoke_token(uow.as_mut(), u.id, issued.token.id, now)
            .await
            .unwrap()
    );
    assert!(
        !b.identity
            .tokens
            .revoke_token(uow.as_mut(), u.id, issued.token.id, now)
            .await
            .unwrap(),
        "revoked twice"
    );
    uow.commit().await.unwrap();
    let s = b
        .identity
        .sessions
        .session(issued.token.id)
        .await
        .unwrap()
        .unwrap();
    assert!(s.token.revoked_at.is_some());
}

/// Role changes report the owners left, so the last owner can be protected.
pub async fn role_changes_report_the_owners_left(b: &Backend) {
    let (org, tenant) = org_and_tenant();
    let (a, c) = (new_user("owner_a"), new_user("owner_c"));
    insert(b, &a).await;
    insert(b, &c).await;
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .orgs
        .insert_organization(uow.as_mut(), &org, &tenant)
        .await
        .unwrap();
    for u in [&a, &c] {
        b.identity
            .orgs
            .insert_membership(
                uow.as_mut(),
                &Membership {
                    user_id: u.id,
                    organization_id: org.id,
                    role: Role::Owner,
                },
            )
            .await
            .unwrap();
    }
    uow.commit().await.unwrap();
    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(
        b.identity
            .orgs
            .set_role(uow.as_mut(), org.id, a.id, Role::Admin)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        b.identity
            .orgs
            .set_role(uow.as_mut(), org.id, c.id, Role::Viewer)
            .await
            .unwrap(),
        0
    );
    uow.rollback().await.unwrap();
    // Paged, by user id, one organization's members only.
    let (first, second) = if a.id < c.id { (&a, &c) } else { (&c, &a) };
    let page = b.identity.orgs.page_members(org.id, None, 1).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|(m, u)| (m.user_id, u.id))
            .collect::<Vec<_>>(),
        vec![(first.id, first.id)]
    );
    let rest = b
        .identity
        .orgs
        .page_members(org.id, Some(first.id), 5)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|(m, _)| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        vec![(second.id, Role::Owner)]
    );
    let (other, _) = org_and_tenant();
    assert!(
        b.identity
            .orgs
            .page_members(other.id, None, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let roles: Vec<Role> = b
        .identity
        .orgs
        .list_members(org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(
        roles,
        vec![Role::Owner, Role::Owner],
        "a rolled-back change stuck"
    );
    let mut uow = b.store.begin().await.unwrap();
    let outsider = b
        .identity
        .orgs
        .set_role(uow.as_mut(), org.id, UserId::new(), Role::Admin)
        .await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound)),
        "{outsider:?}"
    );
}

/// Recovery codes are single use and replaced as a set.
pub async fn recovery_codes_are_single_use(b: &Backend) {
    let u = new_user("recover");
    insert(b, &u).await;
    let now = OffsetDateTime::now_utc();
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .recovery
        .replace_recovery_codes(uow.as_mut(), u.id, &[[9u8; 32], [8u8; 32]])
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert!(
        b.identity
            .recovery
            .consume_recovery_code(u.id, &[9u8; 32], now)
            .await
            .unwrap()
    );
    assert!(
        !b.identity
            .recovery
            .consume_recovery_code(u.id, &[9u8; 32], now)
            .await
            .unwrap()
    );
    assert!(
        !b.identity
            .recovery
            .consume_recovery_code(UserId::new(), &[8u8; 32], now)
            .await
            .unwrap()
    );
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .recovery
        .replace_recovery_codes(uow.as_mut(), u.id, &[])
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert!(
        !b.identity
            .recovery
            .consume_recovery_code(u.id, &[8u8; 32], now)
            .await
            .unwrap(),
        "a removed code worked"
    );
}

/// A TOTP step is accepted once and never an older one.
pub async fn totp_steps_only_move_forward(b: &Backend) {
    let u = new_user("stepper");
    insert(b, &u).await;
    assert!(b.identity.users.record_totp_step(u.id, 100).await.unwrap());
    assert!(!b.identity.users.record_totp_step(u.id, 100).await.unwrap());
    assert!(!b.identity.users.record_totp_step(u.id, 99).await.unwrap());
    assert!(b.identity.users.record_totp_step(u.id, 101).await.unwrap());
}

/// L15: a user in several organizations gets the oldest membership (then the lowest
/// organization id), the same one from the session lookup and from `membership_of`. The
/// memberships are made newest-id-first, so neither the primary key's order nor the insertion
/// order alone gives the right answer by luck on both backends.
pub async fn l15_the_session_and_membership_of_pick_the_oldest_membership(b: &Backend) {
    let u = new_user("joiner");
    insert(b, &u).await;
    let mut orgs: Vec<(Organization, Tenant)> = (0..4).map(|_| org_and_tenant()).collect();
    orgs.sort_by_key(|(o, _)| o.id);
    orgs.reverse();
    let roles = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];
    for ((org, tenant), role) in orgs.iter().zip(roles) {
        let mut uow = b.store.begin().await.unwrap();
        b.identity
            .orgs
            .insert_organization(uow.as_mut(), org, tenant)
            .await
            .unwrap();
        b.identity
            .orgs
            .insert_membership(
                uow.as_mut(),
                &Membership {
                    user_id: u.id,
                    organization_id: org.id,
                    role,
                },
            )
            .await
            .unwrap();
        uow.commit().await.unwrap();
        // Distinct creation times on both backends (SQLite keeps milliseconds).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (oldest, oldest_tenant) = &orgs[0];
    let m = b.identity.orgs.membership_of(u.id).await.unwrap().unwrap();
    assert_eq!((m.organization_id, m.role), (oldest.id, Role::Viewer));

    let issued = IssuedToken::mint(
        u.id,
        "login",
        Abilities::all(),
        OffsetDateTime::now_utc(),
        Duration::days(1),
    )
    .unwrap();
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .tokens
        .insert_token(uow.as_mut(), &issued.token)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    for _ in 0..3 {
        let s = b
            .identity
            .sessions
            .session(issued.token.id)
            .await
            .unwrap()
            .unwrap();
        let m = s.membership.unwrap();
        assert_eq!(
            (m.organization.id, m.role, m.default_tenant.map(|t| t.id)),
            (oldest.id, Role::Viewer, Some(oldest_tenant.id)),
            "the session picked another membership than membership_of"
        );
    }
}
