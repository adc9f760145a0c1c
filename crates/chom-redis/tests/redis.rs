//! Against the real Redis (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), each test under
//! its own key prefix; and against a port where nothing listens, for the degraded path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_kernel::cache::{Cache, MemoryCache, MemoryRateLimiter, RateLimiter};
use chom_redis::{Degrading, RedisCache, RedisConn, RedisRateLimiter};
use std::time::Duration;

fn conn() -> RedisConn {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    RedisConn::new(&url, format!("test:{}:", uuid::Uuid::new_v4().simple()), 4).unwrap()
}

fn dead_conn() -> RedisConn {
    // Port 1 on loopback: connection refused at once.
    RedisConn::new("redis://127.0.0.1:1", "test:", 2).unwrap()
}

#[tokio::test]
async fn the_cache_stores_expires_and_deletes_values() {
    let cache = RedisCache(conn());
    cache
        .ping()
        .await
        .expect("Redis is running (cargo xtask services)");
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache
        .set("k", b"v1", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache.delete("k").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache
        .set("short", b"x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn prefixes_keep_tests_apart() {
    let (a, b) = (RedisCache(conn()), RedisCache(conn()));
    a.set("shared", b"a", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(b.get("shared").await.unwrap(), None);
}

#[tokio::test]
async fn the_rate_limiter_counts_a_fixed_window_atomically() {
    let rl = RedisRateLimiter(conn());
    let window = Duration::from_millis(500);
    let hits = futures_hits(&rl, 8, window).await;
    let allowed = hits.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 5, "{hits:?}");
    assert!(hits.iter().all(|d| d.limit == 5 && d.reset_after <= window));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(rl.hit("login:1.2.3.4", 5, window).await.unwrap().allowed);
}

#[tokio::test]
async fn peek_counts_nothing_and_reset_forgets_the_window() {
    let rl = RedisRateLimiter(conn());
    let window = Duration::from_secs(60);
    assert_eq!(rl.peek("fail:a").await.unwrap(), (0, Duration::ZERO));
    for _ in 0..3 {
        rl.hit("fail:a", 10, window).await.unwrap();
    }
    let (count, left) = rl.peek("fail:a").await.unwrap();
    assert_eq!(count, 3);
    assert!(left > Duration::ZERO && left <= window, "{left:?}");
    assert_eq!(rl.peek("fail:a").await.unwrap().0, 3, "peek is not a hit");
    rl.reset("fail:a").await.unwrap();
    assert_eq!(rl.peek("fail:a").await.unwrap().0, 0);
}

async fn futures_hits(
    rl: &RedisRateLimiter,
    n: usize,
    window: Duration,
) -> Vec<chom_kernel::cache::RateDecision> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let rl = rl.clone();
        set.spawn(async move { rl.hit("login:1.2.3.4", 5, window).await.unwrap() });
    }
    set.join_all().await
}

#[tokio::test]
async fn an_outage_degrades_to_memory_instead_of_failing() {
    let cache = Degrading::new(
        RedisCache(dead_conn()),
        MemoryCache::default(),
        Duration::from_millis(300),
    );
    assert!(cache.ping().await.is_err(), "readiness must see the outage");
    cache.set("k", b"v", Duration::from_secs(5)).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    let rl = Degrading::new(
        RedisRateLimiter(dead_conn()),
        MemoryRateLimiter::default(),
        Duration::from_millis(300),
    );
    for _ in 0..3 {
        assert!(
            rl.hit("ip", 3, Duration::from_secs(60))
                .await
                .unwrap()
                .allowed
        );
    }
    assert!(
        !rl.hit("ip", 3, Duration::from_secs(60))
            .await
            .unwrap()
            .allowed
    );
}
