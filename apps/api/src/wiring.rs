//! Builds the adapters the settings select: PostgreSQL or SQLite, Redis or in-memory.

use crate::config::{DatabaseTarget, Settings};
use anyhow::Context as _;
use chom_kernel::cache::{Cache, MemoryCache, MemoryRateLimiter, RateLimiter};
use chom_kernel::jobs::JobQueue;
use chom_kernel::store::Store;
use chom_postgres::PgStore;
use chom_redis::{Degrading, RedisCache, RedisConn, RedisRateLimiter};
use chom_sqlite::SqliteStore;
use chom_tenancy::PlanRepository;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// The ports, wired to their adapters.
#[derive(Clone)]
pub struct Services {
    /// Units of work.
    pub store: Arc<dyn Store>,
    /// Job queue.
    pub queue: Arc<dyn JobQueue>,
    /// Plan catalogue.
    pub plans: Arc<dyn PlanRepository>,
    /// Cache.
    pub cache: Arc<dyn Cache>,
    /// Rate limiter.
    pub rate_limiter: Arc<dyn RateLimiter>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("database", &self.store.backend())
            .field("cache", &self.cache.backend())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Connects to the database (and migrates it) and to Redis if configured.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let (store, queue, plans): (Arc<dyn Store>, Arc<dyn JobQueue>, Arc<dyn PlanRepository>) =
            match settings.database_target()? {
                DatabaseTarget::Postgres(url) => {
                    let store =
                        PgStore::connect(url.expose_secret(), settings.database.max_connections)
                            .await
                            .context("connecting to PostgreSQL (database.url)")?;
                    store.migrate().await.context("migrating PostgreSQL")?;
                    (
                        Arc::new(store.clone()),
                        Arc::new(store.queue()),
                        Arc::new(store.plans()),
                    )
                }
                DatabaseTarget::Sqlite(path) => {
                    let store = SqliteStore::open(&path, settings.database.max_connections)
                        .await
                        .with_context(|| format!("opening SQLite database {}", path.display()))?;
                    store.migrate().await.context("migrating SQLite")?;
                    (
                        Arc::new(store.clone()),
                        Arc::new(store.queue()),
                        Arc::new(store.plans()),
                    )
                }
            };
        let (cache, rate_limiter): (Arc<dyn Cache>, Arc<dyn RateLimiter>) =
            match &settings.redis.url {
                Some(url) => {
                    let conn =
                        RedisConn::new(url.expose_secret(), settings.redis.key_prefix.clone(), 16)
                            .context("redis.url")?;
                    let timeout = Duration::from_millis(250);
                    (
                        Arc::new(Degrading::new(
                            RedisCache(conn.clone()),
                            MemoryCache::default(),
                            timeout,
                        )),
                        Arc::new(Degrading::new(
                            RedisRateLimiter(conn),
                            MemoryRateLimiter::default(),
                            timeout,
                        )),
                    )
                }
                None => (
                    Arc::new(MemoryCache::default()),
                    Arc::new(MemoryRateLimiter::default()),
                ),
            };
        Ok(Self {
            store,
            queue,
            plans,
            cache,
            rate_limiter,
        })
    }
}
