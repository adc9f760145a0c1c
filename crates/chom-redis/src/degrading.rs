//! Redis with an in-memory fallback: an outage degrades, it does not fail requests.

use async_trait::async_trait;
use chom_kernel::cache::{Cache, CacheError, RateDecision, RateLimiter};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `primary` (Redis) answered by `fallback` (memory) whenever it fails or is slow.
#[derive(Debug)]
pub struct Degrading<P, F> {
    primary: P,
    fallback: F,
    timeout: Duration,
    last_logged: AtomicU64,
}

impl<P, F> Degrading<P, F> {
    /// Wraps `primary`; calls taking longer than `timeout` count as failures.
    pub fn new(primary: P, fallback: F, timeout: Duration) -> Self {
        Self {
            primary,
            fallback,
            timeout,
            last_logged: AtomicU64::new(0),
        }
    }

    async fn attempt<T, Fut>(&self, op: &'static str, fut: Fut) -> Option<T>
    where
        Fut: Future<Output = Result<T, CacheError>>,
    {
        let error = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => format!("{:#}", e.0),
            Err(_) => format!("timed out after {:?}", self.timeout),
        };
        metrics::counter!("chom_cache_errors_total", "op" => op).increment(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_logged.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(op, %error, "Redis unavailable; using the in-memory fallback");
        }
        None
    }
}

#[async_trait]
impl<P: Cache, F: Cache> Cache for Degrading<P, F> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self.attempt("get", self.primary.get(key)).await {
            Some(v) => Ok(v),
            None => self.fallback.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self.attempt("set", self.primary.set(key, value, ttl)).await {
            Some(()) => Ok(()),
            None => self.fallback.set(key, value, ttl).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        // Delete from both so a value cached during an outage cannot outlive its invalidation.
        let _ = self.fallback.delete(key).await;
        match self.attempt("delete", self.primary.delete(key)).await {
            Some(()) => Ok(()),
            None => Ok(()),
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        // Readiness reports the real backend: the fallback hides outages from requests only.
        self.primary.ping().await
    }

    fn backend(&self) -> &'static str {
        self.primary.backend()
    }
}

#[async_trait]
impl<P: RateLimiter, F: RateLimiter> RateLimiter for Degrading<P, F> {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, CacheError> {
        match self
            .attempt("rate_limit", self.primary.hit(key, limit, window))
            .await
        {
            Some(d) => Ok(d),
            None => self.fallback.hit(key, limit, window).await,
        }
    }

    async fn peek(&self, key: &str) -> Result<(u64, Duration), CacheError> {
        match self.attempt("rate_limit", self.primary.peek(key)).await {
            Some(d) => Ok(d),
            None => self.fallback.peek(key).await,
        }
    }

    async fn reset(&self, key: &str) -> Result<(), CacheError> {
        // Both, like `delete`: a count kept during an outage must not outlive its reset.
        let _ = self.fallback.reset(key).await;
        match self.attempt("rate_limit", self.primary.reset(key)).await {
            Some(()) | None => Ok(()),
        }
    }
}
