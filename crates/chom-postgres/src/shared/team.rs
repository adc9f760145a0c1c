//! Invitations and ownership transfers (the team context's `TeamRepository`). Every query of an
//! organization's records carries `organization_id`; only the mail job reads an invitation by
//! id alone, and acceptance finds one by its token's hash.

use crate::codec::{DbRow, get, get_id, get_opt_id, get_opt_ts, get_ts, id, lock_organization, ts};
use crate::shared::exec::{execute, fetch_all, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{InvitationId, OrganizationId, Role, StoreError, UserId};
use chom_team::model::{Invitation, OwnershipTransfer};
use chom_team::ports::TeamRepository;
use sqlx::PgPool;
use time::OffsetDateTime;

/// The team repository.
#[derive(Debug, Clone)]
pub struct PgTeam {
    pool: PgPool,
}

impl PgTeam {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const INVITATION_COLUMNS: &str = "id, organization_id, email, role, invited_by, created_at,
    expires_at, sent_at, send_count, accepted_at, accepted_by, revoked_at";

fn invitation(row: &DbRow) -> Result<Invitation, StoreError> {
    let role: String = get(row, "role")?;
    Ok(Invitation {
        id: InvitationId::from_uuid(get_id(row, "id")?),
        organization_id: OrganizationId::from_uuid(get_id(row, "organization_id")?),
        email: get(row, "email")?,
        role: Role::parse(&role).ok_or_else(|| crate::shared::exec::corrupt(role))?,
        invited_by: get_opt_id(row, "invited_by")?.map(UserId::from_uuid),
        created_at: get_ts(row, "created_at")?,
        expires_at: get_ts(row, "expires_at")?,
        sent_at: get_opt_ts(row, "sent_at")?,
        send_count: get(row, "send_count")?,
        accepted_at: get_opt_ts(row, "accepted_at")?,
        accepted_by: get_opt_id(row, "accepted_by")?.map(UserId::from_uuid),
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn transfer(row: &DbRow) -> Result<OwnershipTransfer, StoreError> {
    Ok(OwnershipTransfer {
        organization_id: OrganizationId::from_uuid(get_id(row, "organization_id")?),
        from_user: UserId::from_uuid(get_id(row, "from_user")?),
        to_user: UserId::from_uuid(get_id(row, "to_user")?),
        created_at: get_ts(row, "created_at")?,
        expires_at: get_ts(row, "expires_at")?,
    })
}

#[async_trait]
impl TeamRepository for PgTeam {
    async fn seats_taken(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let conn = tx(uow)?.conn();
        lock_organization(&mut *conn, id(org.as_uuid())).await?;
        let count = sqlx::query(
            "SELECT (SELECT count(*) FROM memberships WHERE organization_id = $1)
                  + (SELECT count(*) FROM invitations
                      WHERE organization_id = $1 AND accepted_at IS NULL
                        AND revoked_at IS NULL AND expires_at > $2) AS n",
        )
        .bind(id(org.as_uuid()))
        .bind(ts(now));
        fetch_one(count, &mut *conn, |r| get(r, "n")).await
    }

    async fn insert_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        i: &Invitation,
    ) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO invitations (id, organization_id, email, role, invited_by, created_at,
                 expires_at, send_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(id(i.id.as_uuid()))
        .bind(id(i.organization_id.as_uuid()))
        .bind(i.email.clone())
        .bind(i.role.as_str())
        .bind(i.invited_by.map(|u| id(u.as_uuid())))
        .bind(ts(i.created_at))
        .bind(ts(i.expires_at));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn get_invitation(
        &self,
        org: OrganizationId,
        inv: InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE organization_id = $1 AND id = $2"
        )))
        .bind(id(org.as_uuid()))
        .bind(id(inv.as_uuid()));
        fetch_opt(select, &self.pool, invitation).await
    }

    async fn invitation(&self, inv: InvitationId) -> Result<Option<Invitation>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
        )))
        .bind(id(inv.as_uuid()));
        fetch_opt(select, &self.pool, invitation).await
    }

    async fn page_invitations(
        &self,
        org: OrganizationId,
        before: Option<InvitationId>,
        limit: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations
             WHERE organization_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(id(org.as_uuid()))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, invitation).await
    }

    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Invitation>, StoreError> {
        let select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1"
        )))
        .bind(token_hash.to_vec());
        fetch_opt(select, &self.pool, invitation).await
    }

    async fn set_invitation_token(
        &self,
        uow: &mut dyn UnitOfWork,
        inv: InvitationId,
        token_hash: &[u8; 32],
        sent_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE invitations SET token_hash = $2, sent_at = $3, expires_at = $4,
                 send_count = send_count + 1
             WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id(inv.as_uuid()))
        .bind(token_hash.to_vec())
        .bind(ts(sent_at))
        .bind(ts(expires_at));
        Ok(execute(update, tx(uow)?.conn()).await? == 1)
    }

    async fn revoke_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        inv: InvitationId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The token goes with it: a revoked link finds its invitation (to say so) but no
        // newer use of the hash can collide.
        let update = sqlx::query(
            "UPDATE invitations SET revoked_at = $3
             WHERE organization_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id(org.as_uuid()))
        .bind(id(inv.as_uuid()))
        .bind(ts(at));
        Ok(execute(update, tx(uow)?.conn()).await? == 1)
    }

    async fn accept_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        inv: InvitationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE invitations SET accepted_at = $3, accepted_by = $2
             WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(id(inv.as_uuid()))
        .bind(id(user.as_uuid()))
        .bind(ts(at));
        Ok(execute(update, tx(uow)?.conn()).await? == 1)
    }

    async fn put_transfer(
        &self,
        uow: &mut dyn UnitOfWork,
        t: &OwnershipTransfer,
    ) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO ownership_transfers (organization_id, from_user, to_user, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (organization_id) DO UPDATE SET from_user = excluded.from_user,
                 to_user = excluded.to_user, created_at = excluded.created_at,
                 expires_at = excluded.expires_at",
        )
        .bind(id(t.organization_id.as_uuid()))
        .bind(id(t.from_user.as_uuid()))
        .bind(id(t.to_user.as_uuid()))
        .bind(ts(t.created_at))
        .bind(ts(t.expires_at));
        execute(upsert, tx(uow)?.conn()).await.map(drop)
    }

    async fn get_transfer(
        &self,
        org: OrganizationId,
    ) -> Result<Option<OwnershipTransfer>, StoreError> {
        let select = sqlx::query(
            "SELECT organization_id, from_user, to_user, created_at, expires_at
             FROM ownership_transfers WHERE organization_id = $1",
        )
        .bind(id(org.as_uuid()));
        fetch_opt(select, &self.pool, transfer).await
    }

    async fn delete_transfer(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
    ) -> Result<bool, StoreError> {
        let delete = sqlx::query("DELETE FROM ownership_transfers WHERE organization_id = $1")
            .bind(id(org.as_uuid()));
        Ok(execute(delete, tx(uow)?.conn()).await? == 1)
    }
}
