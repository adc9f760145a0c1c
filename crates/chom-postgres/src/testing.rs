//! Test databases: one fresh database per test, cloned from a migrated template.
//!
//! The template is named after a hash of the migrations (`chom_tpl_<hash>`), built once under an
//! advisory lock (nextest runs every test in its own process), and marked `IS_TEMPLATE` with
//! connections disallowed so `CREATE DATABASE … TEMPLATE` never finds it busy.

use crate::store::{MIGRATOR, PgStore};
use anyhow::Context as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::str::FromStr;

/// Where tests find PostgreSQL (`TEST_DATABASE_URL`), defaulting to the local server.
#[must_use]
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn template_name() -> String {
    // FNV-1a over every migration's version and checksum: a changed migration means a new
    // template, never a stale one.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in MIGRATOR.iter() {
        for b in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("chom_tpl_{:08x}", h & 0xffff_ffff)
}

/// A throwaway database, dropped with the value.
#[derive(Debug)]
pub struct TestDatabase {
    /// The store on the fresh database.
    pub store: PgStore,
    /// Its connection URL.
    pub url: String,
    name: String,
    admin: PgConnectOptions,
}

impl TestDatabase {
    /// Creates a fresh migrated database.
    ///
    /// # Errors
    /// PostgreSQL is unreachable or refuses to create databases.
    pub async fn new() -> anyhow::Result<Self> {
        let base = test_database_url();
        let admin = PgConnectOptions::from_str(&base).context("TEST_DATABASE_URL")?;
        let mut conn = PgConnection::connect_with(&admin).await.with_context(|| {
            format!(
                "cannot connect to PostgreSQL at {base} (is it running? `cargo xtask services`)"
            )
        })?;
        let template = template_name();
        ensure_template(&mut conn, &admin, &template).await?;
        let name = format!("chom_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY = FILE_COPY"
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating {name}"))?;
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let url = format!(
            "{}/{name}",
            base.rsplit_once('/').map_or(base.as_str(), |(b, _)| b)
        );
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await?;
        Ok(Self {
            store: PgStore::from_pool(pool),
            url,
            name,
            admin,
        })
    }

    /// Runs raw SQL (test set-up the application cannot express, like expiring a token).
    ///
    /// # Errors
    /// The statement fails.
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(self.store.pool())
            .await
            .with_context(|| sql.to_owned())?;
        Ok(())
    }

    /// The first column of the first row of a `SELECT COUNT(*)…`.
    ///
    /// # Errors
    /// The query fails.
    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.store.pool())
            .await
            .with_context(|| sql.to_owned())
    }

    /// Every row of every table, as text (to show a secret is nowhere in clear).
    ///
    /// # Errors
    /// A query fails.
    pub async fn dump(&self) -> anyhow::Result<String> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(self.store.pool())
        .await?;
        let mut out = String::new();
        for t in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT t::text FROM \"{t}\" t")))
                    .fetch_all(self.store.pool())
                    .await?;
            out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
        }
        Ok(out)
    }

    /// Drops the database now (the `Drop` fallback does it on a helper thread otherwise).
    pub async fn cleanup(self) {
        // Drop runs the removal.
        drop(self);
    }
}

async fn ensure_template(
    conn: &mut PgConnection,
    admin: &PgConnectOptions,
    template: &str,
) -> anyhow::Result<()> {
    const LOCK: i64 = 0x6368_6f6d; // "chom"
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await?;
    let result = async {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(template)
                .fetch_one(&mut *conn)
                .await?;
        if exists {
            return Ok(());
        }
        // New schema: drop stale templates and leftovers of killed test runs.
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'chom\\_tpl\\_%' OR datname LIKE 'chom\\_test\\_%'",
        )
        .fetch_all(&mut *conn)
        .await?;
        for db in stale {
            sqlx::query(AssertSqlSafe(format!("ALTER DATABASE \"{db}\" WITH IS_TEMPLATE false")))
                .execute(&mut *conn)
                .await
                .ok();
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")))
                .execute(&mut *conn)
                .await
                .ok();
        }
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{template}\"")))
            .execute(&mut *conn)
            .await?;
        let mut tpl = PgConnection::connect_with(&admin.clone().database(template)).await?;
        MIGRATOR.run(&mut tpl).await?;
        tpl.close().await?;
        sqlx::query(AssertSqlSafe(format!(
            "ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        )))
        .execute(&mut *conn)
        .await?;
        anyhow::Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await?;
    result
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop is synchronous and may run inside a (current-thread) runtime that this thread
        // drives: do the async work on a thread of its own with a small runtime, and let
        // `WITH (FORCE)` end the pool's connections server-side rather than closing the pool from
        // a runtime that does not own its sockets.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// Drops and recreates the `public` schema (development resets).
///
/// # Errors
/// The statements fail.
pub async fn reset_schema(store: &PgStore) -> anyhow::Result<()> {
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(store.pool())
        .await?;
    sqlx::query("CREATE SCHEMA public")
        .execute(store.pool())
        .await?;
    Ok(())
}
