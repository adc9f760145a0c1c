//! Members: an organization's member lists and role changes (never leaving it without an
//! owner).

use super::{Administration, not_found};
use crate::identity::{IdentityError, Invalidate};
use crate::model::Membership;
use chom_auth::User;
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::{OrganizationId, Role, UserId};

impl Administration {
    /// A page of an organization's members with their users, oldest account first: at most
    /// `limit`, after the user `after` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn members_page(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, IdentityError> {
        Ok(self.ports.orgs.page_members(org, after, limit).await?)
    }

    /// Every member of an organization.
    ///
    /// # Errors
    /// `Store`.
    pub async fn members(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<(Membership, Option<User>)>, IdentityError> {
        let mut out = Vec::new();
        for m in self.ports.orgs.list_members(org).await? {
            let user = self.ports.users.get_user(m.user_id).await?;
            out.push((m, user));
        }
        Ok(out)
    }

    /// Changes a member's role under the team policy (checked by the caller with
    /// `chom_team::check_role_change`); refuses to leave the organization without an owner.
    ///
    /// # Errors
    /// `NotFound` (not a member of `org`), `Conflict` (last owner), `Store`.
    pub async fn set_role(
        &self,
        actor: &Actor,
        org: OrganizationId,
        user: UserId,
        role: Role,
    ) -> Result<(), IdentityError> {
        let _invalidate = Invalidate(&self.sessions);
        let before = self
            .ports
            .orgs
            .list_members(org)
            .await?
            .into_iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role);
        let mut uow = self.ports.store.begin().await?;
        let owners_left = self
            .ports
            .orgs
            .set_role(uow.as_mut(), org, user, role)
            .await
            .map_err(not_found)?;
        if owners_left < 1 {
            uow.rollback().await?;
            return Err(IdentityError::Conflict(
                "the last owner cannot be demoted; make someone else owner first".into(),
            ));
        }
        let event = AuditEvent::new(actor, "member.role_change", "user", user)
            .in_organization(Some(org))
            .with_summary(serde_json::json!({
                "from": before.map(Role::as_str),
                "to": role.as_str(),
            }));
        self.audit(uow.as_mut(), event).await?;
        uow.commit().await?;
        Ok(())
    }
}
