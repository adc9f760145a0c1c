//! Fake servers and the fake agent on them.

use super::{lock, unsupported};
use async_trait::async_trait;
use chom_agent_protocol::{AgentError, ErrorCode, Request, Response};
use chom_infrastructure::{AgentGateway, GatewayError, Health, SiteRows, Vps, VpsRepository};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, TenantId, VpsId};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use time::OffsetDateTime;

/// The servers.
#[derive(Debug, Default)]
pub(crate) struct FakeServers(pub(crate) Mutex<Vec<Vps>>);

#[async_trait]
impl VpsRepository for FakeServers {
    async fn insert_vps(&self, _uow: &mut dyn UnitOfWork, _vps: &Vps) -> Result<(), StoreError> {
        Err(unsupported("insert_vps"))
    }

    async fn update_vps(&self, _uow: &mut dyn UnitOfWork, _vps: &Vps) -> Result<(), StoreError> {
        Err(unsupported("update_vps"))
    }

    async fn pin_host_key(
        &self,
        _uow: &mut dyn UnitOfWork,
        _id: VpsId,
        _previous: Option<&str>,
        _key: &str,
    ) -> Result<bool, StoreError> {
        Err(unsupported("pin_host_key"))
    }

    async fn get_vps(&self, id: VpsId) -> Result<Option<Vps>, StoreError> {
        Ok(lock(&self.0).iter().find(|v| v.id == id).cloned())
    }

    async fn list_vps(&self) -> Result<Vec<Vps>, StoreError> {
        Ok(lock(&self.0).clone())
    }

    async fn list_vps_page(
        &self,
        _after: Option<VpsId>,
        _limit: i64,
    ) -> Result<Vec<Vps>, StoreError> {
        Err(unsupported("list_vps_page"))
    }

    async fn tenant_exists(&self, _tenant: TenantId) -> Result<bool, StoreError> {
        Err(unsupported("tenant_exists"))
    }

    async fn site_rows(&self, _id: VpsId) -> Result<SiteRows, StoreError> {
        Err(unsupported("site_rows"))
    }

    async fn delete_vps(&self, _uow: &mut dyn UnitOfWork, _id: VpsId) -> Result<bool, StoreError> {
        Err(unsupported("delete_vps"))
    }

    async fn record_health(
        &self,
        id: VpsId,
        health: Health,
        reason: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(v) = lock(&self.0).iter_mut().find(|v| v.id == id) {
            v.health = health;
            v.health_reason = reason.map(ToOwned::to_owned);
            v.health_checked_at = Some(at);
        }
        Ok(())
    }
}

/// What the fake agent does for one command.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Succeeds with this data.
    Ok(serde_json::Value),
    /// The server cannot be reached (transient).
    Unreachable,
    /// The agent refuses (permanent).
    Refused,
}

/// The agent on every server: records the commands it receives, in order, and answers from a
/// script per command name (`{}` when nothing is scripted).
#[derive(Debug, Default)]
pub(crate) struct FakeAgent {
    pub(crate) calls: Mutex<Vec<&'static str>>,
    pub(crate) script: Mutex<HashMap<&'static str, VecDeque<Answer>>>,
}

impl FakeAgent {
    /// The next call of `command` gets `answer`.
    pub(crate) fn then(&self, command: &'static str, answer: Answer) {
        lock(&self.script)
            .entry(command)
            .or_default()
            .push_back(answer);
    }

    /// The command names received so far.
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl AgentGateway for FakeAgent {
    async fn scan_host_key(&self, _vps: &Vps) -> Result<String, GatewayError> {
        Err(GatewayError::Unreachable("the fake has no host key".into()))
    }

    async fn call(&self, _vps: &Vps, request: &Request) -> Result<Response, GatewayError> {
        let name = request.command.name();
        lock(&self.calls).push(name);
        let answer = lock(&self.script)
            .get_mut(name)
            .and_then(VecDeque::pop_front);
        match answer {
            None => Ok(Response::ok(serde_json::json!({}))),
            Some(Answer::Ok(data)) => Ok(Response::ok(data)),
            Some(Answer::Unreachable) => Err(GatewayError::Unreachable("fake".into())),
            Some(Answer::Refused) => Ok(Response::error(AgentError::new(
                ErrorCode::CommandFailed,
                "refused by the fake",
            ))),
        }
    }

    async fn install_agent(&self, _vps: &Vps) -> Result<(), GatewayError> {
        Err(GatewayError::Unreachable(
            "the fake installs nothing".into(),
        ))
    }
}
