//! Directory: a super admin's paged lists of every user, organization and tenant.

use super::Administration;
use crate::identity::IdentityError;
use crate::model::{Organization, Tenant};
use chom_auth::User;
use chom_kernel::{OrganizationId, TenantId, UserId};

impl Administration {
    /// A page of every user, newest first: at most `limit`, created before `before` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn users(
        &self,
        before: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<User>, IdentityError> {
        Ok(self.ports.users.list_users(None, before, limit).await?)
    }

    /// A page of every organization, newest first: at most `limit`, created before `before`
    /// when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn organizations(
        &self,
        before: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<Organization>, IdentityError> {
        Ok(self
            .ports
            .orgs
            .list_organizations(None, before, limit)
            .await?)
    }

    /// A page of every tenant, newest first: at most `limit`, created before `before` when
    /// given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn tenants(
        &self,
        before: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<Tenant>, IdentityError> {
        Ok(self.ports.orgs.list_tenants(None, before, limit).await?)
    }
}
