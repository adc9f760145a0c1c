//! The role policy: one function per question, pure, so every route asks the same thing.

use chom_kernel::{Role, UserId};

/// Things a member may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the organization, its tenants and members.
    ViewOrganization,
    /// Rename the organization.
    UpdateOrganization,
    /// Choose or change the plan (billing).
    ManageBilling,
    /// Change other members' roles, invite, remove.
    ManageMembers,
    /// Create, change and delete sites and backups.
    ManageSites,
    /// Create and revoke one's own API tokens.
    ManageOwnTokens,
    /// Read and verify the organization's audit log.
    ReadAudit,
}

/// Whether `role` may perform `action`.
#[must_use]
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::ViewOrganization | Action::ManageOwnTokens => true,
        Action::ManageSites => role >= Role::Member,
        Action::UpdateOrganization | Action::ManageMembers | Action::ReadAudit => {
            role >= Role::Admin
        }
        Action::ManageBilling => role == Role::Owner,
    }
}

/// Why a role change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleChangeError {
    /// The actor's role does not allow this change.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change would leave the organization without an owner.
    #[error("the last owner cannot be demoted; make someone else owner first")]
    LastOwner,
}

/// Checks a role change before it is applied (the last-owner rule is checked after, with the
/// owners count the locked update returns: see [`after_change`]).
///
/// # Errors
/// `Forbidden` with the reason.
pub fn check_role_change(
    actor: (UserId, Role),
    target: (UserId, Role),
    new_role: Role,
) -> Result<(), RoleChangeError> {
    let (actor_id, actor_role) = actor;
    let (target_id, target_role) = target;
    if !allows(actor_role, Action::ManageMembers) {
        return Err(RoleChangeError::Forbidden(
            "only owners and admins change roles",
        ));
    }
    if new_role == Role::Owner && actor_role != Role::Owner {
        return Err(RoleChangeError::Forbidden(
            "only an owner can make someone an owner",
        ));
    }
    if target_role == Role::Owner && actor_role != Role::Owner {
        return Err(RoleChangeError::Forbidden(
            "only an owner can change an owner's role",
        ));
    }
    if actor_id == target_id && new_role > actor_role {
        return Err(RoleChangeError::Forbidden(
            "nobody can raise their own role",
        ));
    }
    Ok(())
}

/// Applies the last-owner rule to the owners left after a change.
///
/// # Errors
/// `LastOwner` when none is left.
pub fn after_change(owners_left: i64) -> Result<(), RoleChangeError> {
    if owners_left < 1 {
        Err(RoleChangeError::LastOwner)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Member, Owner, Viewer};

    #[test]
    fn the_role_matrix() {
        assert!(allows(Owner, Action::ManageBilling));
        assert!(!allows(Admin, Action::ManageBilling));
        assert!(allows(Admin, Action::ManageMembers) && !allows(Member, Action::ManageMembers));
        assert!(allows(Member, Action::ManageSites) && !allows(Viewer, Action::ManageSites));
        assert!(
            allows(Viewer, Action::ViewOrganization) && allows(Viewer, Action::ManageOwnTokens)
        );
    }

    #[test]
    fn admins_cannot_make_owners_not_even_themselves() {
        let (admin, other) = (UserId::new(), UserId::new());
        assert!(check_role_change((admin, Admin), (admin, Admin), Owner).is_err());
        assert!(check_role_change((admin, Admin), (other, Member), Owner).is_err());
        assert!(check_role_change((admin, Admin), (other, Owner), Member).is_err());
        assert!(check_role_change((admin, Admin), (other, Member), Admin).is_ok());
        assert!(check_role_change((admin, Member), (other, Viewer), Member).is_err());
        assert!(check_role_change((admin, Owner), (other, Admin), Owner).is_ok());
        assert!(check_role_change((admin, Owner), (admin, Owner), Admin).is_ok());
        assert_eq!(after_change(0), Err(RoleChangeError::LastOwner));
        assert!(after_change(1).is_ok());
    }
}
