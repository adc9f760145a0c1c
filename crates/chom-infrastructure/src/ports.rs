//! Ports of the infrastructure context.

use crate::model::{Health, Vps};
use async_trait::async_trait;
use chom_agent_protocol::{Progress, Request, Response};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, TenantId, VpsId};
use time::OffsetDateTime;

/// How many site rows name a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteRows {
    /// Every row, deleted sites included (their history points at the server).
    pub ever: i64,
    /// Sites not deleted.
    pub live: i64,
}

/// Storage of the fleet.
#[async_trait]
pub trait VpsRepository: Send + Sync {
    /// Stores a new server.
    ///
    /// # Errors
    /// `Conflict` keyed `UniqueKey::VpsHostname` when the host name is taken.
    async fn insert_vps(&self, uow: &mut dyn UnitOfWork, vps: &Vps) -> Result<(), StoreError>;

    /// Replaces a server's editable fields, key, status and agent version.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` on a taken host name.
    async fn update_vps(&self, uow: &mut dyn UnitOfWork, vps: &Vps) -> Result<(), StoreError>;

    /// Pins `key` on server `id` if its pinned key is still `previous` (compare and swap, so
    /// two administrators re-pinning at once cannot both win on a stale check). `false` when
    /// the key changed meanwhile (or the server is gone).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn pin_host_key(
        &self,
        uow: &mut dyn UnitOfWork,
        id: VpsId,
        previous: Option<&str>,
        key: &str,
    ) -> Result<bool, StoreError>;

    /// One server.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_vps(&self, id: VpsId) -> Result<Option<Vps>, StoreError>;

    /// Every server, by host name.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_vps(&self) -> Result<Vec<Vps>, StoreError>;

    /// A page of servers in creation order (ids are time-ordered): at most `limit`, after
    /// server `after`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_vps_page(&self, after: Option<VpsId>, limit: i64)
    -> Result<Vec<Vps>, StoreError>;

    /// Whether tenant `tenant` exists (a dedicated server must name one).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn tenant_exists(&self, tenant: TenantId) -> Result<bool, StoreError>;

    /// The site rows that name server `id`: all of them (deleted ones included), and the live
    /// ones.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn site_rows(&self, id: VpsId) -> Result<SiteRows, StoreError>;

    /// Deletes server `id` if it is decommissioned and no site row (deleted or not) names it.
    /// `false` when it is not (or does not exist).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn delete_vps(&self, uow: &mut dyn UnitOfWork, id: VpsId) -> Result<bool, StoreError>;

    /// Records a health verdict.
    ///
    /// # Errors
    /// `NotFound`.
    async fn record_health(
        &self,
        id: VpsId,
        health: Health,
        reason: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Why a gateway call failed (the server's own refusals come back as `Response`s).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The server's host key differs from the pinned one: permanent until an administrator
    /// re-pins it (never retried).
    #[error(
        "the host key of {0} differs from the pinned key: nothing was sent; re-pin it (trust-host-key) only if the change is expected"
    )]
    HostKeyMismatch(String),
    /// The server has no pinned key yet.
    #[error("the host key is not trusted yet")]
    HostKeyNotTrusted,
    /// Not reachable (or the breaker is open).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The agent answered nonsense (missing, wrong version, crashed).
    #[error("bad agent answer: {0}")]
    BadAnswer(String),
}

/// What is told each progress line of a long agent command, as it comes (cheap: it runs on
/// the caller's task).
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Runs `chom-agent` on a server.
#[async_trait]
pub trait AgentGateway: Send + Sync {
    /// Reads the server's host key for an administrator to trust.
    ///
    /// # Errors
    /// `Unreachable`.
    async fn scan_host_key(&self, vps: &Vps) -> Result<String, GatewayError>;

    /// Runs one request (the key must be pinned).
    ///
    /// # Errors
    /// Transport failures.
    async fn call(&self, vps: &Vps, request: &Request) -> Result<Response, GatewayError>;

    /// [`AgentGateway::call`], telling `on_progress` each progress line the agent writes
    /// before its answer (a gateway that cannot read them tells nothing).
    ///
    /// # Errors
    /// Transport failures.
    async fn call_with_progress(
        &self,
        vps: &Vps,
        request: &Request,
        on_progress: OnProgress<'_>,
    ) -> Result<Response, GatewayError> {
        let _ = on_progress;
        self.call(vps, request).await
    }

    /// Installs the agent binary on the server.
    ///
    /// # Errors
    /// Transport failures.
    async fn install_agent(&self, vps: &Vps) -> Result<(), GatewayError>;
}
