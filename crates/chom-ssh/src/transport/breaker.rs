//! Circuit breakers: one per server, opened by consecutive transport failures (answers the
//! agent gives, errors included, never trip it).

use super::AgentTransport;
use crate::endpoint::{Endpoint, label};
use crate::error::SshError;
use failsafe::futures::CircuitBreaker as _;
use std::time::Duration;

pub(super) type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    (),
>;

pub(super) fn breaker() -> Breaker {
    let policy = failsafe::failure_policy::consecutive_failures(
        3,
        failsafe::backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

impl AgentTransport {
    pub(super) async fn guarded<T, F>(&self, ep: &Endpoint, f: F) -> Result<T, SshError>
    where
        F: std::future::Future<Output = Result<T, SshError>>,
    {
        let breaker = {
            let mut map = self
                .breakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(label(ep)).or_insert_with(breaker).clone()
        };
        match breaker.call_with(|e: &SshError| e.is_transport(), f).await {
            Ok(v) => Ok(v),
            Err(failsafe::Error::Inner(e)) => {
                if e.is_transport() {
                    self.forget(ep).await;
                }
                Err(e)
            }
            Err(failsafe::Error::Rejected) => Err(SshError::CircuitOpen(label(ep))),
        }
    }
}
