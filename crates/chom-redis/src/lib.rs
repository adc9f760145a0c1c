#![doc = include_str!("../README.md")]

mod degrading;

pub use degrading::Degrading;

use async_trait::async_trait;
use chom_kernel::cache::{Cache, CacheError, RateDecision, RateLimiter, decide};
use deadpool_redis::redis;
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use std::time::Duration;

fn err(e: impl Into<anyhow::Error>) -> CacheError {
    CacheError(e.into())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A Redis connection pool with a key prefix, shared by the cache and the rate limiter.
#[derive(Clone)]
pub struct RedisConn {
    pool: Pool,
    prefix: String,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// A pool on `url` (connections are made lazily); 1 s to connect or wait for a connection.
    ///
    /// # Errors
    /// The URL is malformed.
    pub fn new(url: &str, prefix: impl Into<String>, max_size: usize) -> Result<Self, CacheError> {
        let mut config = Config::from_url(url);
        let mut pool = PoolConfig::new(max_size.max(1));
        pool.timeouts = Timeouts {
            wait: Some(Duration::from_secs(1)),
            create: Some(Duration::from_secs(1)),
            recycle: Some(Duration::from_secs(1)),
        };
        config.pool = Some(pool);
        let pool = config.create_pool(Some(Runtime::Tokio1)).map_err(err)?;
        Ok(Self {
            pool,
            prefix: prefix.into(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, CacheError> {
        self.pool.get().await.map_err(err)
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// `Cache` on Redis.
#[derive(Debug, Clone)]
pub struct RedisCache(pub RedisConn);

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut c = self.0.conn().await?;
        redis::cmd("GET")
            .arg(self.0.key(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut c = self.0.conn().await?;
        redis::cmd("SET")
            .arg(self.0.key(key))
            .arg(value)
            .arg("PX")
            .arg(ms(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut c = self.0.conn().await?;
        redis::cmd("DEL")
            .arg(self.0.key(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut c = self.0.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(drop)
            .map_err(err)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// `RateLimiter` on Redis: one fixed window per key.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter(pub RedisConn);

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, CacheError> {
        let key = self.0.key(&format!("rl:{key}"));
        let mut c = self.0.conn().await?;
        let (count, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ms(window))
            .arg("NX")
            .ignore()
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let reset = Duration::from_millis(u64::try_from(ttl).unwrap_or(0));
        Ok(decide(count, limit, reset))
    }

    async fn peek(&self, key: &str) -> Result<(u64, Duration), CacheError> {
        let key = self.0.key(&format!("rl:{key}"));
        let mut c = self.0.conn().await?;
        let (count, ttl): (Option<u64>, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok((
            count.unwrap_or(0),
            Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
        ))
    }

    async fn reset(&self, key: &str) -> Result<(), CacheError> {
        let key = self.0.key(&format!("rl:{key}"));
        let mut c = self.0.conn().await?;
        redis::cmd("DEL")
            .arg(&key)
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }
}
