//! The `IdempotencyStore` contract on PostgreSQL: each test gets a database cloned from the
//! migrated template.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_contract_tests::idempotency::Setup;
use chom_contract_tests::idempotency_contract_tests;
use chom_postgres::PgIdempotency;
use chom_postgres::testing::TestDatabase;
use std::sync::Arc;

async fn store() -> Setup {
    let db = TestDatabase::new().await.expect("test database");
    (
        Arc::new(PgIdempotency::new(db.store.pool().clone())),
        Box::new(db),
    )
}

idempotency_contract_tests!(store);
