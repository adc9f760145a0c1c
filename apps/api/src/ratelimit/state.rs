//! What the rate limits keep between requests, in this process: each plan's limit (read from
//! the catalogue at most once a minute) and the event streams open per token. Leaf types: the
//! HTTP state holds them, the limits in `ratelimit` use them.

use chom_tenancy::PlanRepository;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// The API rate limit of each plan, from the catalogue, refreshed at most once a minute (plans
/// change rarely; a request must not cost a catalogue query).
#[derive(Debug, Clone, Default)]
pub struct PlanLimits(Arc<RwLock<Option<Snapshot>>>);

/// When the catalogue was read, and each plan's limit then.
type Snapshot = (Instant, HashMap<String, u32>);

impl PlanLimits {
    /// The limit of `plan`, if the catalogue has it.
    pub(crate) async fn of(
        &self,
        catalogue: &dyn PlanRepository,
        plan: &chom_tenancy::PlanCode,
    ) -> Option<u32> {
        let fresh = |t: &Instant| t.elapsed() < Duration::from_secs(60);
        if let Some((at, limits)) = self.0.read().await.as_ref()
            && fresh(at)
        {
            return limits.get(plan.as_str()).copied();
        }
        let mut guard = self.0.write().await;
        if guard.as_ref().is_none_or(|(at, _)| !fresh(at)) {
            match catalogue.list().await {
                Ok(plans) => {
                    let limits = plans
                        .iter()
                        .map(|p| {
                            let limit = u32::try_from(p.api_requests_per_minute).unwrap_or(1);
                            (p.code.as_str().to_owned(), limit.max(1))
                        })
                        .collect();
                    *guard = Some((Instant::now(), limits));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "plan catalogue unavailable; default API limit");
                }
            }
        }
        guard
            .as_ref()
            .and_then(|(_, limits)| limits.get(plan.as_str()).copied())
    }
}

/// Long-lived streams open per token in this process.
#[derive(Debug, Clone, Default)]
pub struct StreamSlots(Arc<std::sync::Mutex<HashMap<uuid::Uuid, usize>>>);

/// One open stream; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    token: uuid::Uuid,
}

impl StreamSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, usize>> {
        // Counters only: a panic mid-update cannot leave them inconsistent.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for `token`, unless it already holds `cap`.
    #[must_use]
    pub fn open(&self, token: uuid::Uuid, cap: usize) -> Option<StreamSlot> {
        let mut open = self.lock();
        let n = open.entry(token).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            slots: self.clone(),
            token,
        })
    }

    /// Streams `token` holds now.
    #[must_use]
    pub fn held(&self, token: uuid::Uuid) -> usize {
        self.lock().get(&token).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}
