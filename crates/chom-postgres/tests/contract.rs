//! The port contracts on PostgreSQL: each test gets a database cloned from the migrated template.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_contract_tests::{Backend, contract_tests};
use chom_postgres::PgStore;
use chom_postgres::testing::TestDatabase;
use std::sync::Arc;

async fn backend() -> Backend {
    let db = TestDatabase::new().await.expect("test database");
    let other = PgStore::connect(&db.url, 10).await.expect("second pool");
    Backend {
        store: Arc::new(db.store.clone()),
        queues: [Arc::new(db.store.queue()), Arc::new(other.queue())],
        plans: Arc::new(db.store.plans()),
        identity: {
            let repos = Arc::new(chom_postgres::PgIdentity::new(db.store.pool().clone()));
            chom_tenancy::identity::IdentityPorts {
                store: Arc::new(db.store.clone()),
                users: repos.clone(),
                tokens: repos.clone(),
                one_time: repos.clone(),
                recovery: repos.clone(),
                orgs: repos.clone(),
                sessions: repos,
                hashing: std::sync::Arc::new(chom_auth::password::InlineHashing),
                audit: Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone())),
            }
        },
        sites: Arc::new(chom_postgres::PgSites::new(db.store.pool().clone())),
        fleet: Arc::new(chom_postgres::PgFleet::new(db.store.pool().clone())),
        backups: Arc::new(chom_postgres::PgBackups::new(db.store.pool().clone())),
        audit: Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone())),
        team: Arc::new(chom_postgres::PgTeam::new(db.store.pool().clone())),
        audit_log: Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone())),
        sql: {
            let pool = db.store.pool().clone();
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
        guard: Box::new(db),
    }
}

contract_tests!(backend);
