//! The error vocabulary storage adapters map driver errors into.

/// What can go wrong talking to a store (database, queue). Adapters map driver errors here:
/// unique violations become `Conflict`, connection failures and timeouts `Unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is not visible to the caller's tenant).
    #[error("not found")]
    NotFound,
    /// A uniqueness or other integrity constraint was violated; says which.
    #[error("conflict on {0}")]
    Conflict(Conflict),
    /// The store could not be reached or timed out: safe to retry later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

crate::str_enum! {
    /// A uniqueness rule of the schema that callers tell apart. Each adapter maps its driver's
    /// naming of the rule (PostgreSQL's constraint name, SQLite's column list) to a variant in
    /// one table; services match on the variant, never on driver text.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum UniqueKey: "unique key" {
        /// A user's e-mail address (`users.email`).
        UserEmail = "user_email",
        /// A user's name (`users.username`).
        UserUsername = "user_username",
        /// A server's host name (`vps_servers.hostname`).
        VpsHostname = "vps_hostname",
        /// A live site's domain within its tenant (`sites (tenant_id, domain)`).
        SiteTenantDomain = "site_tenant_domain",
        /// A live site's domain on its server (`sites (vps_id, domain)`).
        SiteVpsDomain = "site_vps_domain",
        /// An open invitation of an address to an organization (`invitations (organization_id,
        /// email)` while neither accepted nor revoked).
        InvitationOpenEmail = "invitation_open_email",
    }
}

/// A violated integrity constraint: the uniqueness rule, when it is one callers tell apart
/// (`None` for any other unique, primary-key or foreign-key violation), and the driver's own
/// naming of it (a constraint name or message), kept for messages and logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{constraint}")]
pub struct Conflict {
    /// The uniqueness rule violated, if it is one of the [`UniqueKey`]s.
    pub key: Option<UniqueKey>,
    /// How the driver named the constraint; not for matching.
    pub constraint: String,
}

impl Conflict {
    /// A conflict on `key` (or on an unnamed rule), as the driver called it.
    #[must_use]
    pub fn new(key: Option<UniqueKey>, constraint: impl Into<String>) -> Self {
        Self {
            key,
            constraint: constraint.into(),
        }
    }

    /// A conflict on `key`, named by the key's own spelling (for in-memory fakes).
    #[must_use]
    pub fn on(key: UniqueKey) -> Self {
        Self::new(Some(key), key.as_str())
    }
}

impl From<Conflict> for StoreError {
    fn from(c: Conflict) -> Self {
        StoreError::Conflict(c)
    }
}

#[cfg(test)]
mod tests {
    use super::{Conflict, StoreError, UniqueKey};

    #[test]
    fn a_conflict_reads_as_the_drivers_name_for_it() {
        let e = StoreError::from(Conflict::new(Some(UniqueKey::UserEmail), "users_email_key"));
        assert_eq!(e.to_string(), "conflict on users_email_key");
        assert_eq!(
            Conflict::on(UniqueKey::VpsHostname).to_string(),
            "vps_hostname"
        );
    }
}
