//! The team's records: invitations and ownership transfers.

use chom_kernel::{InvitationId, OrganizationId, Role, UserId};
use time::{Duration, OffsetDateTime};

/// How long an invitation link works after it is sent.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// How long a proposed ownership transfer waits for the new owner.
pub const TRANSFER_LIFETIME: Duration = Duration::days(7);

/// An invitation to join an organization with a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The inviting organization.
    pub organization_id: OrganizationId,
    /// The address invited (lower case): only an account with it may accept.
    pub email: String,
    /// The role the new member gets.
    pub role: Role,
    /// Who invited.
    pub invited_by: Option<UserId>,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When its link stops working.
    pub expires_at: OffsetDateTime,
    /// When its e-mail was last sent (none yet: queued).
    pub sent_at: Option<OffsetDateTime>,
    /// How many e-mails were sent.
    pub send_count: i32,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// By whom.
    pub accepted_by: Option<UserId>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

chom_kernel::str_enum! {
    /// Where an invitation stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum InvitationStatus: "invitation status" {
        /// Waiting for its invitee.
        Pending = "pending",
        /// Accepted: the invitee is a member.
        Accepted = "accepted",
        /// Revoked by the organization.
        Revoked = "revoked",
        /// Not accepted in time.
        Expired = "expired",
    }
}

impl Invitation {
    /// Where it stands at `now`.
    #[must_use]
    pub fn status(&self, now: OffsetDateTime) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// Neither accepted nor revoked (an expired one is still open: it can be sent again).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none()
    }
}

/// A proposed transfer of ownership, waiting for the new owner's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipTransfer {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The owner who proposed it.
    pub from_user: UserId,
    /// The admin who is to become owner.
    pub to_user: UserId,
    /// When it was proposed.
    pub created_at: OffsetDateTime,
    /// When it lapses.
    pub expires_at: OffsetDateTime,
}
