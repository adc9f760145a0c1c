//! Password hashing off the request threads. Argon2id takes ~20 ms of CPU and 19 MiB per
//! call: run on the async workers, a login flood stalls every other request (health checks
//! included), and allocating its memory per call leaves hundreds of megabytes resident. Here
//! each call runs on the blocking pool, at most one per core at a time, each in one of a fixed
//! set of working memories, reused while hashes keep coming and handed back to the operating
//! system once the pool is idle.

use async_trait::async_trait;
use chom_auth::password::{HashMemory, Hashing, PasswordError, PasswordHash};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Semaphore;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct BlockingHashing {
    permits: Arc<Semaphore>,
    memories: Arc<Mutex<Vec<HashMemory>>>,
    /// Hashes asked for and not finished (waiting or running).
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl BlockingHashing {
    /// At most `slots` hashes at a time (one per core is the useful maximum).
    #[must_use]
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            permits: Arc::new(Semaphore::new(slots)),
            memories: Arc::new(Mutex::new((0..slots).map(|_| HashMemory::new()).collect())),
            busy: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// One slot per core.
    #[must_use]
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        use std::sync::atomic::Ordering;
        /// Counts a hash as busy until dropped (also when the caller gives up waiting).
        struct Busy(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Busy {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.busy.fetch_add(1, Ordering::SeqCst);
        let busy = Busy(self.busy.clone());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::new("the hashing pool is closed"))?;
        let memories = self.memories.clone();
        tokio::task::spawn_blocking(move || {
            // A permit guarantees a free memory; the fallback only guards against a bug.
            let mut memory = memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let out = work(&mut memory);
            let mut pool = memories.lock().unwrap_or_else(PoisonError::into_inner);
            pool.push(memory);
            // The last hash of a burst hands every memory back to the operating system.
            if busy.0.load(Ordering::SeqCst) == 1 {
                pool.iter_mut().for_each(HashMemory::release);
            }
            drop(pool);
            drop(busy);
            out
        })
        .await
        .map_err(|e| PasswordError::new(format!("the hashing task failed: {e}")))
    }
}

#[async_trait]
impl Hashing for BlockingHashing {
    async fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        let password = password.to_owned();
        self.run(move |memory| PasswordHash::of_in(&password, memory))
            .await?
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool {
        let (hash, candidate) = (hash.clone(), candidate.to_owned());
        self.run(move |memory| hash.verify_in(&candidate, memory))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn m3_hashes_run_a_few_at_a_time_in_reused_memory() {
        let hashing = BlockingHashing::new(2);
        let hash = hashing.hash("correct horse battery").await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..6 {
            let (h, hash) = (hashing.clone(), hash.clone());
            set.spawn(async move {
                let guess = if i % 2 == 0 {
                    "correct horse battery"
                } else {
                    "wrong"
                };
                (i, h.verify(&hash, guess).await)
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, ok) = r.unwrap();
            assert_eq!(ok, i % 2 == 0);
        }
        // Every memory came back to the pool: no slot was lost or duplicated; and the burst
        // over, none is held any more (handed back to the operating system).
        let memories = hashing.memories.lock().unwrap();
        assert_eq!(memories.len(), 2);
        assert!(memories.iter().all(|m| !m.is_allocated()));
        assert_eq!(hashing.permits.available_permits(), 2);
        assert_eq!(hashing.busy.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
