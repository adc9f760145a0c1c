//! Storage ports of the team context (memberships themselves are tenancy's
//! `OrganizationRepository`).

use crate::model::{Invitation, OwnershipTransfer};
use async_trait::async_trait;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{InvitationId, OrganizationId, StoreError, UserId};
use time::OffsetDateTime;

/// Invitations and ownership transfers.
#[async_trait]
pub trait TeamRepository: Send + Sync {
    /// Seats the organization uses inside `uow`: its members plus its open, unexpired
    /// invitations. Locks the organization's row for the rest of the unit, so two invitations
    /// cannot both take the last seat.
    ///
    /// # Errors
    /// `NotFound` for an unknown organization.
    async fn seats_taken(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError>;

    /// Stores a new invitation.
    ///
    /// # Errors
    /// `Conflict` (`InvitationOpenEmail`) when the address has an open one already.
    async fn insert_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        invitation: &Invitation,
    ) -> Result<(), StoreError>;

    /// One of the organization's invitations.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_invitation(
        &self,
        org: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError>;

    /// An invitation by id alone (the mail job, which acts for no caller).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn invitation(&self, id: InvitationId) -> Result<Option<Invitation>, StoreError>;

    /// A page of the organization's invitations, newest first: at most `limit`, older than
    /// `before` when given.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn page_invitations(
        &self,
        org: OrganizationId,
        before: Option<InvitationId>,
        limit: i64,
    ) -> Result<Vec<Invitation>, StoreError>;

    /// The invitation whose current token hashes to `token_hash`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Invitation>, StoreError>;

    /// Records a newly minted token of an open invitation (replacing the previous one) and
    /// when its link lapses; false when the invitation is no longer open.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn set_invitation_token(
        &self,
        uow: &mut dyn UnitOfWork,
        id: InvitationId,
        token_hash: &[u8; 32],
        sent_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Revokes an open invitation of the organization; false when it is not open (or not the
    /// organization's).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn revoke_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        id: InvitationId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Marks an invitation accepted by `user`, if it is still open and unexpired at `at`
    /// (compare-and-set: two acceptances of one link cannot both succeed).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn accept_invitation(
        &self,
        uow: &mut dyn UnitOfWork,
        id: InvitationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores the organization's proposed transfer, replacing any previous one.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn put_transfer(
        &self,
        uow: &mut dyn UnitOfWork,
        transfer: &OwnershipTransfer,
    ) -> Result<(), StoreError>;

    /// The organization's proposed transfer.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_transfer(
        &self,
        org: OrganizationId,
    ) -> Result<Option<OwnershipTransfer>, StoreError>;

    /// Drops the organization's proposed transfer; false when there was none.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn delete_transfer(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
    ) -> Result<bool, StoreError>;
}
