//! The `IdempotencyStore` contract on SQLite: each test gets a fresh database file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_contract_tests::idempotency::Setup;
use chom_contract_tests::idempotency_contract_tests;
use chom_sqlite::{SqliteIdempotency, SqliteStore};
use std::sync::Arc;

async fn store() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("chom.db"), 4)
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    (
        Arc::new(SqliteIdempotency::new(store.pool().clone())),
        Box::new(dir),
    )
}

idempotency_contract_tests!(store);
