//! Members: an organization's member lists (changes are the team context's).

use super::Administration;
use crate::identity::IdentityError;
use crate::model::Membership;
use chom_auth::User;
use chom_kernel::{OrganizationId, UserId};

impl Administration {
    /// A page of an organization's members with their users, oldest account first: at most
    /// `limit`, after the user `after` when given.
    ///
    /// # Errors
    /// `Store`.
    pub async fn members_page(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, IdentityError> {
        Ok(self.ports.orgs.page_members(org, after, limit).await?)
    }
}
