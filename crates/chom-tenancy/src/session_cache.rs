//! A short-lived, in-process cache of session records, so an authenticated request usually
//! costs no database round trip.
//!
//! Every identity mutation in this process (revocation, password change, suspension, role or
//! plan change…) bumps a generation counter that invalidates every cached entry at once, so the
//! replica that performs a change sees it immediately. Other replicas see it within the TTL
//! (1 s by default; `security.session_cache_ms`, 0 turns caching off).

use crate::model::SessionRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The cache.
#[derive(Debug)]
pub struct SessionCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<Uuid, (SessionRecord, Instant, u64)>>,
}

impl SessionCache {
    /// A cache keeping entries for `ttl` (zero: disabled).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (SessionRecord, Instant, u64)>> {
        // Only inserts, reads and clears happen under the lock: a poisoned map is consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh cached record.
    #[must_use]
    pub fn get(&self, token: Uuid) -> Option<SessionRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let map = self.lock();
        let (record, at, entry_gen) = map.get(&token)?;
        (*entry_gen == generation && at.elapsed() < self.ttl).then(|| record.clone())
    }

    /// Caches a record read under `generation` (taken before the read, so a mutation that
    /// raced with the read is never hidden).
    pub fn put(&self, token: Uuid, record: SessionRecord, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert(token, (record, Instant::now(), generation));
    }

    /// The current generation (read it before loading a record to cache).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Invalidates every entry.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().clear();
    }
}
