//! sqlx errors → `StoreError`.

use chom_kernel::{Conflict, StoreError, UniqueKey};

/// The unique constraints callers tell apart, by their names in `migrations/postgres`: the one
/// place PostgreSQL's naming meets the kernel's [`UniqueKey`].
const UNIQUE_KEYS: &[(&str, UniqueKey)] = &[
    ("users_email_key", UniqueKey::UserEmail),
    ("users_username_key", UniqueKey::UserUsername),
    ("vps_servers_hostname_key", UniqueKey::VpsHostname),
    ("sites_tenant_domain_key", UniqueKey::SiteTenantDomain),
    ("sites_vps_domain_key", UniqueKey::SiteVpsDomain),
    ("invitations_open_email_key", UniqueKey::InvitationOpenEmail),
];

/// The key of the unique constraint named `constraint`, if callers tell it apart.
fn unique_key(constraint: &str) -> Option<UniqueKey> {
    UNIQUE_KEYS
        .iter()
        .find(|(name, _)| *name == constraint)
        .map(|(_, key)| *key)
}

/// Maps a driver error to the kernel's vocabulary.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            let constraint = db.constraint().unwrap_or("unknown");
            let key = db
                .is_unique_violation()
                .then(|| unique_key(constraint))
                .flatten();
            StoreError::Conflict(Conflict::new(key, constraint))
        }
        // A deadlock or serialization failure: the transaction was rolled back; a retry may pass.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
            StoreError::Unavailable(anyhow::anyhow!("transaction aborted: {}", db.message()))
        }
        // L16: the server is going away or not taking connections (admin shutdown, crash
        // shutdown, cannot connect now, starting up, too many connections, connection
        // exceptions), or a statement ran past `statement_timeout` (57014): a retry later may
        // pass, so 503 rather than 500.
        sqlx::Error::Database(db) if db.code().as_deref().is_some_and(transient_code) => {
            StoreError::Unavailable(anyhow::anyhow!("database unavailable: {}", db.message()))
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.into()),
        e => StoreError::Unexpected(e.into()),
    }
}

/// SQLSTATEs of a server that cannot serve now (class 08, 57P01–57P05, 53300, 57014).
fn transient_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "53300" | "57014"
        )
}

#[cfg(test)]
mod tests {
    use chom_kernel::UniqueKey;

    #[test]
    fn every_unique_key_has_exactly_one_constraint_name() {
        for key in UniqueKey::ALL {
            let names: Vec<_> = super::UNIQUE_KEYS
                .iter()
                .filter(|(_, k)| k == key)
                .collect();
            assert_eq!(names.len(), 1, "{key}");
            assert_eq!(super::unique_key(names[0].0), Some(*key));
        }
        assert_eq!(super::unique_key("memberships_pkey"), None);
    }

    #[test]
    fn l16_shutdown_and_connection_codes_are_transient() {
        for code in ["57P01", "57P03", "08006", "08001", "53300", "57014"] {
            assert!(super::transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "22001"] {
            assert!(!super::transient_code(code), "{code}");
        }
    }
}
