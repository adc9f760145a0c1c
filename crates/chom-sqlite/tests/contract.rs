//! The port contracts on SQLite: each test gets a fresh database file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_contract_tests::{Backend, contract_tests};
use chom_sqlite::SqliteStore;
use std::sync::Arc;

async fn backend() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chom.db");
    let store = SqliteStore::open(&path, 4).await.expect("open");
    store.migrate().await.expect("migrate");
    // A second, independent pool on the same file: another "process".
    let other = SqliteStore::open(&path, 4).await.expect("open again");
    Backend {
        store: Arc::new(store.clone()),
        queues: [Arc::new(store.queue()), Arc::new(other.queue())],
        plans: Arc::new(store.plans()),
        identity: {
            let repos = Arc::new(chom_sqlite::SqliteIdentity::new(store.pool().clone()));
            chom_tenancy::identity::IdentityPorts {
                store: Arc::new(store.clone()),
                users: repos.clone(),
                tokens: repos.clone(),
                one_time: repos.clone(),
                recovery: repos.clone(),
                orgs: repos.clone(),
                sessions: repos,
                hashing: std::sync::Arc::new(chom_auth::password::InlineHashing),
                audit: Arc::new(chom_sqlite::SqliteAudit::new(store.pool().clone())),
            }
        },
        sites: Arc::new(chom_sqlite::SqliteSites::new(store.pool().clone())),
        fleet: Arc::new(chom_sqlite::SqliteFleet::new(store.pool().clone())),
        backups: Arc::new(chom_sqlite::SqliteBackups::new(store.pool().clone())),
        audit: Arc::new(chom_sqlite::SqliteAudit::new(store.pool().clone())),
        team: Arc::new(chom_sqlite::SqliteTeam::new(store.pool().clone())),
        audit_log: Arc::new(chom_sqlite::SqliteAudit::new(store.pool().clone())),
        sql: {
            let pool = store.pool().clone();
            Arc::new(move |sql: String| {
                let pool = pool.clone();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .execute(&pool)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                })
            })
        },
        guard: Box::new(dir),
    }
}

contract_tests!(backend);
