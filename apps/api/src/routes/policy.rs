//! Which action of the team policy ([`chom_team::policy::POLICY`]) each organization-scoped
//! operation of `/api/v1` performs: the one table the OpenAPI document quotes on every such
//! operation, and the role-matrix test expects answers from (`tests/api/roles.rs`). Operations
//! of super admins (`/api/v1/admin/…`) and public ones are not members' actions and are not
//! listed; a test fails when an operation is missing or a row names none.

use chom_team::Action::{
    self, CreateBackups, DeleteSites, ManageBackups, ManageBilling, ManageMembers, ManageOwnTokens,
    ManageSites, ReadAudit, TransferOwnership, UpdateOrganization, ViewOrganization,
};

/// `(method, path template, action)`.
pub const OPERATIONS: &[(&str, &str, Action)] = &[
    ("GET", "/api/v1/auth/me", ManageOwnTokens),
    ("POST", "/api/v1/auth/logout", ManageOwnTokens),
    ("POST", "/api/v1/auth/refresh", ManageOwnTokens),
    ("POST", "/api/v1/auth/password", ManageOwnTokens),
    ("GET", "/api/v1/auth/tokens", ManageOwnTokens),
    ("POST", "/api/v1/auth/tokens", ManageOwnTokens),
    ("DELETE", "/api/v1/auth/tokens/{id}", ManageOwnTokens),
    ("POST", "/api/v1/auth/2fa/setup", ManageOwnTokens),
    ("POST", "/api/v1/auth/2fa/confirm", ManageOwnTokens),
    ("POST", "/api/v1/auth/2fa/disable", ManageOwnTokens),
    ("GET", "/api/v1/organization", ViewOrganization),
    ("PATCH", "/api/v1/organization", UpdateOrganization),
    ("POST", "/api/v1/organization/leave", ManageOwnTokens),
    (
        "GET",
        "/api/v1/organization/transfer-ownership",
        ViewOrganization,
    ),
    (
        "POST",
        "/api/v1/organization/transfer-ownership",
        TransferOwnership,
    ),
    // The addressee of a transfer confirms it, and it or an owner cancels it: any member
    // reaches these, who is not one of those finds nothing (404).
    (
        "POST",
        "/api/v1/organization/transfer-ownership/confirm",
        ViewOrganization,
    ),
    (
        "DELETE",
        "/api/v1/organization/transfer-ownership",
        ViewOrganization,
    ),
    ("PUT", "/api/v1/tenant/plan", ManageBilling),
    ("GET", "/api/v1/members", ViewOrganization),
    ("PATCH", "/api/v1/members/{user_id}", ManageMembers),
    ("DELETE", "/api/v1/members/{user_id}", ManageMembers),
    ("GET", "/api/v1/invitations", ViewOrganization),
    ("POST", "/api/v1/invitations", ManageMembers),
    ("POST", "/api/v1/invitations/{id}/resend", ManageMembers),
    ("DELETE", "/api/v1/invitations/{id}", ManageMembers),
    ("GET", "/api/v1/audit", ReadAudit),
    ("GET", "/api/v1/audit/verify", ReadAudit),
    ("GET", "/api/v1/sites", ViewOrganization),
    ("POST", "/api/v1/sites", ManageSites),
    ("GET", "/api/v1/sites/{id}", ViewOrganization),
    ("PATCH", "/api/v1/sites/{id}", ManageSites),
    ("DELETE", "/api/v1/sites/{id}", DeleteSites),
    ("POST", "/api/v1/sites/{id}/enable", ManageSites),
    ("POST", "/api/v1/sites/{id}/disable", ManageSites),
    ("POST", "/api/v1/sites/{id}/retry", ManageSites),
    ("POST", "/api/v1/sites/{id}/ssl", ManageSites),
    ("POST", "/api/v1/sites/{id}/ssl/renew", ManageSites),
    ("GET", "/api/v1/sites/{id}/ssl", ViewOrganization),
    ("POST", "/api/v1/sites/{id}/cache/clear", ManageSites),
    ("POST", "/api/v1/sites/{id}/database/export", ManageSites),
    ("POST", "/api/v1/sites/{id}/database/optimize", ManageSites),
    (
        "GET",
        "/api/v1/sites/{id}/database/credentials",
        ManageSites,
    ),
    ("GET", "/api/v1/sites/{id}/info", ViewOrganization),
    ("GET", "/api/v1/sites/{id}/operations", ViewOrganization),
    ("GET", "/api/v1/operations/{id}", ViewOrganization),
    ("GET", "/api/v1/operations/{id}/events", ViewOrganization),
    (
        "GET",
        "/api/v1/sites/{id}/backup-schedule",
        ViewOrganization,
    ),
    ("PUT", "/api/v1/sites/{id}/backup-schedule", ManageSites),
    ("POST", "/api/v1/sites/{id}/backups", CreateBackups),
    ("GET", "/api/v1/backups", ViewOrganization),
    ("GET", "/api/v1/backups/{id}", ViewOrganization),
    ("GET", "/api/v1/backups/{id}/verification", ViewOrganization),
    ("DELETE", "/api/v1/backups/{id}", ManageBackups),
    ("GET", "/api/v1/sites/{id}/backup-repository", ManageBackups),
    ("POST", "/api/v1/backups/{id}/restore", ManageBackups),
    ("GET", "/api/v1/backups/{id}/download", ManageBackups),
];

/// The action an operation performs, if it is an organization member's.
#[must_use]
pub fn action_of(method: &str, path: &str) -> Option<Action> {
    OPERATIONS
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(.., a)| *a)
}

/// The sentence the document appends to an operation's description.
#[must_use]
pub fn describe(action: Action) -> String {
    use chom_kernel::Role;
    let roles: Vec<&str> = [Role::Owner, Role::Admin, Role::Member, Role::Viewer]
        .into_iter()
        .filter(|r| chom_team::allows(*r, action))
        .map(Role::as_str)
        .collect();
    format!(
        "**Authorization** (team policy, docs/SECURITY.md): `{}`, allowed to {}; other roles get 403 `FORBIDDEN`.",
        action.name(),
        roles.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::OPERATIONS;

    /// Every operation a member may call names its action, once; every row names an
    /// operation that exists.
    #[test]
    fn every_members_operation_names_its_action() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let public = op["security"].as_array().is_some_and(|s| {
                    s.is_empty()
                        || s.iter()
                            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                });
                if path.starts_with("/api/v1/") && !path.starts_with("/api/v1/admin/") && !public {
                    documented.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        let mut missing = Vec::new();
        for (method, path) in &documented {
            let rows = OPERATIONS
                .iter()
                .filter(|(m, p, _)| m == method && p == path)
                .count();
            if rows != 1 {
                missing.push(format!("{method} {path}: {rows} rows"));
            }
        }
        for (m, p, _) in OPERATIONS {
            if !documented.iter().any(|(dm, dp)| dm == m && dp == p) {
                missing.push(format!("{m} {p}: no such member operation"));
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
        let sample = &doc["paths"]["/api/v1/sites/{id}"]["delete"]["description"];
        assert!(
            sample
                .as_str()
                .is_some_and(|d| d.contains("`sites.delete`, allowed to owner, admin;")),
            "{sample}"
        );
    }

    /// docs/SECURITY.md shows the policy exactly as the code has it.
    #[test]
    fn the_security_document_shows_the_policy_table() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/SECURITY.md"
        ))
        .unwrap_or_default();
        let table = chom_team::policy::markdown();
        assert!(
            doc.contains(&table),
            "docs/SECURITY.md lacks the policy table; paste:\n{table}"
        );
    }
}
