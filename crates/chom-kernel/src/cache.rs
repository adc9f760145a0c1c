//! Cache and rate-limit ports, with the in-memory implementations used by the embedded default
//! (and as the fallback when Redis is down).

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A cache or rate-limiter backend failed.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(#[source] pub anyhow::Error);

/// A key/value cache with expiry. Losing its content must never lose data.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Reads a value.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Writes a value that expires after `ttl`.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    /// Removes a value.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// A round trip, for readiness checks.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn ping(&self) -> Result<(), CacheError>;
    /// `"redis"` or `"memory"`.
    fn backend(&self) -> &'static str;
}

/// The outcome of one hit on a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether this hit is within the limit.
    pub allowed: bool,
    /// The limit of the window.
    pub limit: u32,
    /// Hits left in the window after this one.
    pub remaining: u32,
    /// Time until the window resets.
    pub reset_after: Duration,
}

/// Fixed-window rate limiting: at most `limit` hits per `window` per key.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` and says whether it is allowed.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, CacheError>;

    /// The hits counted on `key` in its current window (0 when there is none), and the time
    /// until that window resets. Counts nothing.
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn peek(&self, key: &str) -> Result<(u64, Duration), CacheError>;

    /// Forgets `key`'s window (a success clears a failure count).
    ///
    /// # Errors
    /// The backend is unreachable.
    async fn reset(&self, key: &str) -> Result<(), CacheError>;
}

/// Builds a decision from a window's hit count.
#[must_use]
pub fn decide(count: u64, limit: u32, reset_after: Duration) -> RateDecision {
    let limit64 = u64::from(limit);
    RateDecision {
        allowed: count <= limit64,
        limit,
        remaining: u32::try_from(limit64.saturating_sub(count)).unwrap_or(0),
        reset_after,
    }
}

/// In-process cache: a mutex-guarded map with expiry checked on read.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is safe to keep using.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut map = self.lock();
        match map.get(key) {
            Some((v, exp)) if *exp > Instant::now() => Ok(Some(v.clone())),
            Some(_) => {
                map.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut map = self.lock();
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, exp)| *exp > now);
        }
        map.insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// In-process fixed-window rate limiter.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, (u64, Instant)>>,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, CacheError> {
        let mut map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, reset)| *reset > now);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(decide(entry.0, limit, entry.1 - now))
    }

    async fn peek(&self, key: &str) -> Result<(u64, Duration), CacheError> {
        let map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        Ok(match map.get(key) {
            Some((count, reset)) if *reset > now => (*count, *reset - now),
            _ => (0, Duration::ZERO),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), CacheError> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_lite_block_on(f)
    }

    // A tiny executor so the kernel needs no async runtime, even in tests.
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn memory_rate_limiter_allows_the_limit_then_refuses() {
        let rl = MemoryRateLimiter::default();
        let window = Duration::from_secs(60);
        for i in 1..=5 {
            let d = block_on(rl.hit("ip:1", 5, window)).unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, 5 - i);
        }
        let d = block_on(rl.hit("ip:1", 5, window)).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(block_on(rl.hit("ip:2", 5, window)).unwrap().allowed);
        assert_eq!(
            block_on(rl.peek("ip:1")).unwrap().0,
            6,
            "peek counts nothing"
        );
        assert_eq!(block_on(rl.peek("ip:1")).unwrap().0, 6);
        block_on(rl.reset("ip:1")).unwrap();
        assert_eq!(block_on(rl.peek("ip:1")).unwrap(), (0, Duration::ZERO));
        assert!(block_on(rl.hit("ip:1", 5, window)).unwrap().allowed);
    }

    #[test]
    fn memory_cache_expires_entries() {
        let c = MemoryCache::default();
        block_on(c.set("k", b"v", Duration::from_millis(30))).unwrap();
        assert_eq!(block_on(c.get("k")).unwrap().as_deref(), Some(&b"v"[..]));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(block_on(c.get("k")).unwrap(), None);
    }
}
