//! Fake organizations, tenants and plans.

use super::{lock, unsupported};
use async_trait::async_trait;
use chom_auth::{ApprovalStatus, User};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use chom_tenancy::model::{Membership, Organization, OrganizationStatus, Tenant, TenantStatus};
use chom_tenancy::ports::OrganizationRepository;
use chom_tenancy::{Plan, PlanCode, PlanRepository};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Organizations and tenants: read by the service, changed directly by tests.
#[derive(Debug, Default)]
pub(crate) struct FakeTenancy {
    pub(crate) organizations: Mutex<HashMap<OrganizationId, Organization>>,
    pub(crate) tenants: Mutex<HashMap<TenantId, Tenant>>,
}

#[async_trait]
impl OrganizationRepository for FakeTenancy {
    async fn insert_organization(
        &self,
        _uow: &mut dyn UnitOfWork,
        _org: &Organization,
        _default_tenant: &Tenant,
    ) -> Result<(), StoreError> {
        Err(unsupported("insert_organization"))
    }

    async fn get_organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        Ok(lock(&self.organizations).get(&id).cloned())
    }

    async fn list_organizations(
        &self,
        _approval: Option<ApprovalStatus>,
        _before: Option<OrganizationId>,
        _limit: i64,
    ) -> Result<Vec<Organization>, StoreError> {
        Err(unsupported("list_organizations"))
    }

    async fn decide_organization(
        &self,
        _uow: &mut dyn UnitOfWork,
        _id: OrganizationId,
        _status: ApprovalStatus,
        _reason: Option<&str>,
        _by: UserId,
        _at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(unsupported("decide_organization"))
    }

    async fn set_organization_status(
        &self,
        _uow: &mut dyn UnitOfWork,
        _id: OrganizationId,
        _status: OrganizationStatus,
    ) -> Result<(), StoreError> {
        Err(unsupported("set_organization_status"))
    }

    async fn rename_organization(
        &self,
        _uow: &mut dyn UnitOfWork,
        _id: OrganizationId,
        _name: &str,
    ) -> Result<(), StoreError> {
        Err(unsupported("rename_organization"))
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        Ok(lock(&self.tenants).get(&id).cloned())
    }

    async fn list_tenants(
        &self,
        _org: Option<OrganizationId>,
        _before: Option<TenantId>,
        _limit: i64,
    ) -> Result<Vec<Tenant>, StoreError> {
        Err(unsupported("list_tenants"))
    }

    async fn select_plan(
        &self,
        _uow: &mut dyn UnitOfWork,
        _tenant: TenantId,
        _plan: &PlanCode,
        _at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(unsupported("select_plan"))
    }

    async fn set_tenant_status(
        &self,
        _uow: &mut dyn UnitOfWork,
        _id: TenantId,
        _status: TenantStatus,
    ) -> Result<(), StoreError> {
        Err(unsupported("set_tenant_status"))
    }

    async fn insert_membership(
        &self,
        _uow: &mut dyn UnitOfWork,
        _m: &Membership,
    ) -> Result<(), StoreError> {
        Err(unsupported("insert_membership"))
    }

    async fn membership_of(&self, _user: UserId) -> Result<Option<Membership>, StoreError> {
        Err(unsupported("membership_of"))
    }

    async fn membership_in(
        &self,
        _user: UserId,
        _org: OrganizationId,
    ) -> Result<Option<Membership>, StoreError> {
        Err(unsupported("membership_in"))
    }

    async fn delete_membership(
        &self,
        _uow: &mut dyn UnitOfWork,
        _org: OrganizationId,
        _user: UserId,
    ) -> Result<i64, StoreError> {
        Err(unsupported("delete_membership"))
    }

    async fn list_members(&self, _org: OrganizationId) -> Result<Vec<Membership>, StoreError> {
        Err(unsupported("list_members"))
    }

    async fn page_members(
        &self,
        _org: OrganizationId,
        _after: Option<UserId>,
        _limit: i64,
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        Err(unsupported("page_members"))
    }

    async fn set_role(
        &self,
        _uow: &mut dyn UnitOfWork,
        _org: OrganizationId,
        _user: UserId,
        _role: Role,
    ) -> Result<i64, StoreError> {
        Err(unsupported("set_role"))
    }

    async fn member_ids(&self, _org: OrganizationId) -> Result<Vec<UserId>, StoreError> {
        Err(unsupported("member_ids"))
    }
}

/// No plans: creation is not exercised through the fakes yet.
#[derive(Debug, Default)]
pub(crate) struct FakePlans;

#[async_trait]
impl PlanRepository for FakePlans {
    async fn list(&self) -> Result<Vec<Plan>, StoreError> {
        Ok(Vec::new())
    }

    async fn find(&self, _code: &PlanCode) -> Result<Option<Plan>, StoreError> {
        Ok(None)
    }

    async fn save(&self, _uow: &mut dyn UnitOfWork, _plan: &Plan) -> Result<(), StoreError> {
        Err(unsupported("PlanRepository::save"))
    }
}
