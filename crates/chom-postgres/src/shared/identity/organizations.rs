//! Organizations, their tenants and memberships (tenancy's `OrganizationRepository`).

use super::{
    PgIdentity, membership, org_columns, organization, record_decision, role, tenant,
    tenant_columns, user, user_columns,
};
use crate::codec::{self, get, id, ts};
use crate::shared::exec::{execute, execute_one, fetch_all, fetch_one, fetch_opt, one, tx};
use async_trait::async_trait;
use chom_auth::{ApprovalStatus, User};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use chom_tenancy::PlanCode;
use chom_tenancy::model::{Membership, Organization, OrganizationStatus, Tenant, TenantStatus};
use chom_tenancy::ports::OrganizationRepository;
use time::OffsetDateTime;
use uuid::Uuid;

/// Runs `sql`, an `UPDATE … SET <column> = $2, updated_at = $3 WHERE id = $1`, on exactly one row.
async fn set_column(
    uow: &mut dyn UnitOfWork,
    sql: &'static str,
    row: Uuid,
    value: &str,
) -> Result<(), StoreError> {
    let update = sqlx::query(sql)
        .bind(id(row))
        .bind(value)
        .bind(ts(OffsetDateTime::now_utc()));
    execute_one(update, tx(uow)?.conn()).await
}

#[async_trait]
impl OrganizationRepository for PgIdentity {
    async fn insert_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: &Organization,
        t: &Tenant,
    ) -> Result<(), StoreError> {
        let conn = tx(uow)?.conn();
        let insert_org = sqlx::query(
            "INSERT INTO organizations (id, name, status, approval_status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id(org.id.as_uuid()))
        .bind(&org.name)
        .bind(org.status.as_str())
        .bind(org.approval.as_str())
        .bind(ts(org.created_at));
        execute(insert_org, &mut *conn).await?;
        let insert_tenant = sqlx::query(
            "INSERT INTO tenants (id, organization_id, name, is_default, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id(t.id.as_uuid()))
        .bind(id(t.organization_id.as_uuid()))
        .bind(&t.name)
        .bind(t.is_default)
        .bind(t.status.as_str())
        .bind(ts(t.created_at));
        execute(insert_tenant, &mut *conn).await.map(drop)
    }

    async fn get_organization(
        &self,
        org: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            org_columns!(),
            " FROM organizations WHERE id = $1"
        ))
        .bind(id(org.as_uuid()));
        fetch_opt(select, &self.pool, |r| organization(r, "")).await
    }

    async fn list_organizations(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<Organization>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            org_columns!(),
            " FROM organizations
             WHERE ($1 IS NULL OR approval_status = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(approval.map(ApprovalStatus::as_str))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, |r| organization(r, "")).await
    }

    async fn decide_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        status: ApprovalStatus,
        reason: Option<&str>,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        record_decision(
            uow,
            "UPDATE organizations SET approval_status = $2, approval_reason = $3, decided_by = $4, decided_at = $5, updated_at = $5
             WHERE id = $1",
            org.as_uuid(),
            status,
            reason,
            by,
            at,
        )
        .await
    }

    async fn set_organization_status(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        status: OrganizationStatus,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE organizations SET status = $2, updated_at = $3 WHERE id = $1",
            org.as_uuid(),
            status.as_str(),
        )
        .await
    }

    async fn rename_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        name: &str,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE organizations SET name = $2, updated_at = $3 WHERE id = $1",
            org.as_uuid(),
            name,
        )
        .await
    }

    async fn get_tenant(&self, t: TenantId) -> Result<Option<Tenant>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id = $1"
        ))
        .bind(id(t.as_uuid()));
        fetch_opt(select, &self.pool, |r| tenant(r, "")).await
    }

    async fn list_tenants(
        &self,
        org: Option<OrganizationId>,
        before: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<Tenant>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants
             WHERE ($1 IS NULL OR organization_id = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(org.map(|o| id(o.as_uuid())))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, |r| tenant(r, "")).await
    }

    async fn select_plan(
        &self,
        uow: &mut dyn UnitOfWork,
        t: TenantId,
        plan: &PlanCode,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE tenants SET plan_code = $2, plan_selected_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id(t.as_uuid()))
        .bind(plan.as_str())
        .bind(ts(at));
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn set_tenant_status(
        &self,
        uow: &mut dyn UnitOfWork,
        t: TenantId,
        status: TenantStatus,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1",
            t.as_uuid(),
            status.as_str(),
        )
        .await
    }

    async fn insert_membership(
        &self,
        uow: &mut dyn UnitOfWork,
        m: &Membership,
    ) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id(m.user_id.as_uuid()))
        .bind(id(m.organization_id.as_uuid()))
        .bind(m.role.as_str())
        .bind(ts(OffsetDateTime::now_utc()));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn membership_of(&self, user_id: UserId) -> Result<Option<Membership>, StoreError> {
        let select = sqlx::query(
            "SELECT user_id, organization_id, role FROM memberships WHERE user_id = $1
             ORDER BY created_at, organization_id LIMIT 1",
        )
        .bind(id(user_id.as_uuid()));
        fetch_opt(select, &self.pool, membership).await
    }

    async fn membership_in(
        &self,
        user_id: UserId,
        org: OrganizationId,
    ) -> Result<Option<Membership>, StoreError> {
        let select = sqlx::query(
            "SELECT user_id, organization_id, role FROM memberships
             WHERE user_id = $1 AND organization_id = $2",
        )
        .bind(id(user_id.as_uuid()))
        .bind(id(org.as_uuid()));
        fetch_opt(select, &self.pool, membership).await
    }

    async fn delete_membership(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        user_id: UserId,
    ) -> Result<i64, StoreError> {
        let conn = tx(uow)?.conn();
        codec::lock_organization(&mut *conn, id(org.as_uuid())).await?;
        let delete =
            sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(id(org.as_uuid()))
                .bind(id(user_id.as_uuid()));
        one(execute(delete, &mut *conn).await?)?;
        let owners = sqlx::query(
            "SELECT count(*) AS n FROM memberships WHERE organization_id = $1 AND role = $2",
        )
        .bind(id(org.as_uuid()))
        .bind(Role::Owner.as_str());
        fetch_one(owners, &mut *conn, |r| get(r, "n")).await
    }

    async fn list_members(&self, org: OrganizationId) -> Result<Vec<Membership>, StoreError> {
        let select = sqlx::query(
            "SELECT user_id, organization_id, role FROM memberships WHERE organization_id = $1
             ORDER BY created_at, user_id",
        )
        .bind(id(org.as_uuid()));
        fetch_all(select, &self.pool, membership).await
    }

    async fn page_members(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ",
                    (SELECT m.role FROM memberships m
                      WHERE m.user_id = users.id AND m.organization_id = $1) AS member_role
               FROM users
              WHERE id IN (SELECT user_id FROM memberships WHERE organization_id = $1)
                AND ($2 IS NULL OR id > $2)
              ORDER BY id LIMIT $3"
        ))
        .bind(id(org.as_uuid()))
        .bind(after.map(|a| id(a.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, |row| {
            let u = user(row)?;
            let m = Membership {
                user_id: u.id,
                organization_id: org,
                role: role(row, "member_role")?,
            };
            Ok((m, u))
        })
        .await
    }

    async fn set_role(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        user_id: UserId,
        role: Role,
    ) -> Result<i64, StoreError> {
        let conn = tx(uow)?.conn();
        codec::lock_organization(&mut *conn, id(org.as_uuid())).await?;
        let update = sqlx::query(
            "UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(id(org.as_uuid()))
        .bind(id(user_id.as_uuid()))
        .bind(role.as_str());
        one(execute(update, &mut *conn).await?)?;
        let owners = sqlx::query(
            "SELECT count(*) AS n FROM memberships WHERE organization_id = $1 AND role = $2",
        )
        .bind(id(org.as_uuid()))
        .bind(Role::Owner.as_str());
        fetch_one(owners, &mut *conn, |r| get(r, "n")).await
    }

    async fn member_ids(&self, org: OrganizationId) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .list_members(org)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }
}
