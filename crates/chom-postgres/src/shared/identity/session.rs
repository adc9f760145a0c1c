//! The session lookup (tenancy's `SessionLookup`): one query behind every authenticated request.

use super::{PgIdentity, organization, role, tenant, token, user};
use crate::codec::{DbRow, get, get_opt_id, id};
use crate::shared::exec::fetch_opt;
use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_tenancy::model::{SessionMembership, SessionRecord};
use chom_tenancy::ports::SessionLookup;
use uuid::Uuid;

/// The one query behind every authenticated request: the token, its user, membership,
/// organization and default tenant (also the pgbench baseline of `cargo xtask bench api`).
/// A user with several memberships gets the oldest (then the lowest organization id), the one
/// `membership_of` answers.
pub const SESSION_QUERY: &str = "SELECT t.id AS t_id, t.user_id AS t_user_id, t.name AS t_name,
        t.secret_hash AS t_secret_hash, t.abilities AS t_abilities, t.expires_at AS t_expires_at,
        t.last_used_at AS t_last_used_at, t.revoked_at AS t_revoked_at, t.created_at AS t_created_at,
        u.id, u.username, u.email, u.first_name, u.last_name, u.password_hash, u.is_super_admin,
        u.approval_status, u.approval_reason, u.email_verified_at, u.password_changed_at,
        u.totp_secret_sealed, u.totp_enabled_at, u.totp_last_step, u.created_at,
        m.role AS m_role,
        o.id AS o_id, o.name AS o_name, o.status AS o_status, o.approval_status AS o_approval_status,
        o.approval_reason AS o_approval_reason, o.created_at AS o_created_at,
        dt.id AS dt_id, dt.organization_id AS dt_organization_id, dt.name AS dt_name,
        dt.is_default AS dt_is_default, dt.status AS dt_status, dt.plan_code AS dt_plan_code,
        dt.plan_selected_at AS dt_plan_selected_at, dt.created_at AS dt_created_at
   FROM api_tokens t
   JOIN users u ON u.id = t.user_id
   LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = (
        SELECT f.organization_id FROM memberships f WHERE f.user_id = u.id
         ORDER BY f.created_at, f.organization_id LIMIT 1)
   LEFT JOIN organizations o ON o.id = m.organization_id
   LEFT JOIN tenants dt ON dt.organization_id = o.id AND dt.is_default
  WHERE t.id = $1";

fn session(row: &DbRow) -> Result<SessionRecord, StoreError> {
    let membership = match get::<Option<String>>(row, "m_role")? {
        None => None,
        Some(_) => Some(SessionMembership {
            role: role(row, "m_role")?,
            organization: organization(row, "o_")?,
            default_tenant: match get_opt_id(row, "dt_id")? {
                Some(_) => Some(tenant(row, "dt_")?),
                None => None,
            },
        }),
    };
    Ok(SessionRecord {
        token: token(row, "t_")?,
        user: user(row)?,
        membership,
    })
}

#[async_trait]
impl SessionLookup for PgIdentity {
    async fn session(&self, token_id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        let select = sqlx::query(SESSION_QUERY).bind(id(token_id));
        fetch_opt(select, &self.pool, session).await
    }
}
