//! sqlx errors → `StoreError`.

use chom_kernel::{Conflict, StoreError, UniqueKey};

/// How SQLite starts the message of a unique or primary-key violation; the columns follow.
const UNIQUE_FAILED: &str = "UNIQUE constraint failed: ";

/// The unique constraints callers tell apart, by the columns SQLite lists for them
/// (`migrations/sqlite`; SQLite names no constraint): the one place its naming meets the
/// kernel's [`UniqueKey`].
const UNIQUE_KEYS: &[(&str, UniqueKey)] = &[
    ("users.email", UniqueKey::UserEmail),
    ("users.username", UniqueKey::UserUsername),
    ("vps_servers.hostname", UniqueKey::VpsHostname),
    ("sites.tenant_id, sites.domain", UniqueKey::SiteTenantDomain),
    ("sites.vps_id, sites.domain", UniqueKey::SiteVpsDomain),
    (
        "invitations.organization_id, invitations.email",
        UniqueKey::InvitationOpenEmail,
    ),
];

/// The key of the unique constraint a violation `message` reports, if callers tell it apart.
fn unique_key(message: &str) -> Option<UniqueKey> {
    let columns = message.strip_prefix(UNIQUE_FAILED)?;
    UNIQUE_KEYS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map(|(_, key)| *key)
}

/// Maps a driver error to the kernel's vocabulary.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // SQLite names no constraint; its message does ("UNIQUE constraint failed: users.email").
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            let constraint = db.constraint().unwrap_or_else(|| db.message());
            let key = db
                .is_unique_violation()
                .then(|| unique_key(db.message()))
                .flatten();
            StoreError::Conflict(Conflict::new(key, constraint))
        }
        // L16: still locked after `busy_timeout` (SQLITE_BUSY 5, SQLITE_LOCKED 6, and their
        // extended codes): a retry later may pass, so 503 rather than 500.
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
        {
            StoreError::Unavailable(anyhow::anyhow!("database busy: {}", db.message()))
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.into()),
        e => StoreError::Unexpected(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use chom_kernel::UniqueKey;

    #[test]
    fn every_unique_key_has_exactly_one_column_list() {
        for key in UniqueKey::ALL {
            let cols: Vec<_> = super::UNIQUE_KEYS
                .iter()
                .filter(|(_, k)| k == key)
                .collect();
            assert_eq!(cols.len(), 1, "{key}");
            let message = format!("{}{}", super::UNIQUE_FAILED, cols[0].0);
            assert_eq!(super::unique_key(&message), Some(*key));
        }
        assert_eq!(
            super::unique_key("UNIQUE constraint failed: users.email, users.id"),
            None
        );
        assert_eq!(super::unique_key("FOREIGN KEY constraint failed"), None);
    }
}
