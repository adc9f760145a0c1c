//! The role policy: one function per question, pure, so every route asks the same thing.

use chom_kernel::{Role, UserId};

/// Things a member may try to do. Every route of every context names the one it needs; the
/// table below ([`POLICY`]) says which roles may, and is what `docs/SECURITY.md` and each
/// operation's OpenAPI description show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the organization, its tenants, members, invitations, sites, operations, backups
    /// and backup schedules.
    ViewOrganization,
    /// Manage one's own account: API tokens, password, two-factor authentication, leaving.
    ManageOwnTokens,
    /// Create and operate sites (enable, disable, PHP, certificates, caches, database tools),
    /// and their backup schedules.
    ManageSites,
    /// Delete sites.
    DeleteSites,
    /// Back sites up.
    CreateBackups,
    /// Restore, download and delete backups.
    ManageBackups,
    /// Rename the organization.
    UpdateOrganization,
    /// Invite, revoke invitations, change roles, remove members.
    ManageMembers,
    /// Read and verify the organization's audit log.
    ReadAudit,
    /// Choose or change the plan (billing).
    ManageBilling,
    /// Hand the organization to another owner.
    TransferOwnership,
}

/// The policy: each action, the least role that may perform it, its stable name, and what it
/// covers. One table for every route of every context.
pub const POLICY: &[(Action, Role, &str, &str)] = &[
    (
        Action::ViewOrganization,
        Role::Viewer,
        "organization.read",
        "read the organization, members, invitations, sites, operations, backups and their schedules",
    ),
    (
        Action::ManageOwnTokens,
        Role::Viewer,
        "account.manage",
        "one's own API tokens, password, two-factor authentication; leaving",
    ),
    (
        Action::ManageSites,
        Role::Member,
        "sites.operate",
        "create and operate sites, their backup schedules",
    ),
    (
        Action::DeleteSites,
        Role::Admin,
        "sites.delete",
        "delete sites",
    ),
    (
        Action::CreateBackups,
        Role::Member,
        "backups.create",
        "back sites up",
    ),
    (
        Action::ManageBackups,
        Role::Admin,
        "backups.manage",
        "restore, download and delete backups",
    ),
    (
        Action::UpdateOrganization,
        Role::Admin,
        "organization.update",
        "rename the organization",
    ),
    (
        Action::ManageMembers,
        Role::Admin,
        "team.manage",
        "invite, revoke invitations, change roles (owners: by owners only), remove members",
    ),
    (
        Action::ReadAudit,
        Role::Admin,
        "audit.read",
        "read and verify the audit log",
    ),
    (
        Action::ManageBilling,
        Role::Owner,
        "billing.manage",
        "choose or change the plan",
    ),
    (
        Action::TransferOwnership,
        Role::Owner,
        "ownership.transfer",
        "propose handing the organization to an admin",
    ),
];

impl Action {
    /// The least role allowed.
    #[must_use]
    pub fn minimum(self) -> Role {
        POLICY
            .iter()
            .find(|(a, ..)| *a == self)
            .map_or(Role::Owner, |(_, role, ..)| *role)
    }

    /// Its stable name (`sites.operate`).
    #[must_use]
    pub fn name(self) -> &'static str {
        POLICY
            .iter()
            .find(|(a, ..)| *a == self)
            .map_or("unknown", |(_, _, name, _)| name)
    }

    /// What it covers, for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        POLICY
            .iter()
            .find(|(a, ..)| *a == self)
            .map_or("do this", |(.., what)| what)
    }
}

/// Whether `role` may perform `action`.
#[must_use]
pub fn allows(role: Role, action: Action) -> bool {
    role >= action.minimum()
}

/// A role below an action: its message is the same wherever a route refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {} role may not {}", .role.as_str(), .action.describe())]
pub struct Denied {
    /// The caller's role.
    pub role: Role,
    /// What it tried.
    pub action: Action,
}

/// Refuses unless `role` may perform `action`.
///
/// # Errors
/// `Denied` naming both.
pub fn require(role: Role, action: Action) -> Result<(), Denied> {
    if allows(role, action) {
        Ok(())
    } else {
        Err(Denied { role, action })
    }
}

/// The policy as a Markdown table (action, name, owner/admin/member/viewer), as
/// `docs/SECURITY.md` shows it (a test keeps the two equal).
#[must_use]
pub fn markdown() -> String {
    let mut out = String::from(
        "| action | covers | owner | admin | member | viewer |\n|---|---|---|---|---|---|\n",
    );
    for (action, _, name, what) in POLICY {
        let cell = |r: Role| if allows(r, *action) { "yes" } else { "—" };
        out.push_str(&format!(
            "| `{name}` | {what} | {} | {} | {} | {} |\n",
            cell(Role::Owner),
            cell(Role::Admin),
            cell(Role::Member),
            cell(Role::Viewer)
        ));
    }
    out
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
    fn every_action_is_in_the_table_once() {
        let all = [
            Action::ViewOrganization,
            Action::ManageOwnTokens,
            Action::ManageSites,
            Action::DeleteSites,
            Action::CreateBackups,
            Action::ManageBackups,
            Action::UpdateOrganization,
            Action::ManageMembers,
            Action::ReadAudit,
            Action::ManageBilling,
            Action::TransferOwnership,
        ];
        // A new variant makes this match fail to compile until it is listed above.
        for a in all {
            match a {
                Action::ViewOrganization
                | Action::ManageOwnTokens
                | Action::ManageSites
                | Action::DeleteSites
                | Action::CreateBackups
                | Action::ManageBackups
                | Action::UpdateOrganization
                | Action::ManageMembers
                | Action::ReadAudit
                | Action::ManageBilling
                | Action::TransferOwnership => {}
            }
        }
        assert_eq!(POLICY.len(), all.len());
        for a in all {
            assert_eq!(POLICY.iter().filter(|(x, ..)| *x == a).count(), 1, "{a:?}");
        }
        let names: std::collections::BTreeSet<_> = POLICY.iter().map(|(_, _, n, _)| n).collect();
        assert_eq!(names.len(), POLICY.len(), "names are unique");
    }

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
