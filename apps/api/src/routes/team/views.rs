//! What the team area reads and answers.

use crate::routes::paging::PageMeta;
use crate::routes::views::UserView;
use chom_team::model::{Invitation, OwnershipTransfer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The user.
    pub user: Option<UserView>,
    /// `owner`, `admin`, `member`, `viewer`.
    pub role: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// Members, oldest account first.
    pub data: Vec<MemberView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct ChangeRoleRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    #[serde(default)]
    #[schema(required = true)]
    pub role: String,
}

/// An invitation to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com", "role": "member"}))]
pub struct InvitationRequest {
    /// The address to invite: only an account with it can accept.
    #[serde(default)]
    #[schema(required = true, format = "email", max_length = 254)]
    pub email: String,
    /// The role the new member gets: `owner` (owners only), `admin`, `member` or `viewer`.
    #[serde(default)]
    #[schema(required = true, example = "member")]
    pub role: String,
}

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    /// Id.
    pub id: String,
    /// The address invited.
    pub email: String,
    /// The role it grants.
    pub role: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    #[schema(example = "pending")]
    pub status: String,
    /// Who invited.
    pub invited_by: Option<String>,
    /// Made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its link stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When its e-mail was last sent (null: queued).
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// E-mails sent.
    pub send_count: i32,
    /// When it was accepted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            status: i.status(OffsetDateTime::now_utc()).as_str().to_owned(),
            invited_by: i.invited_by.map(|u| u.to_string()),
            created_at: i.created_at,
            expires_at: i.expires_at,
            sent_at: i.sent_at,
            send_count: i.send_count,
            accepted_at: i.accepted_at,
            revoked_at: i.revoked_at,
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationResponse {
    /// The invitation.
    pub data: InvitationView,
}

/// A page of invitations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    /// Invitations.
    pub data: Vec<InvitationView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Accepting an invitation: the token from the e-mail; with a bearer token, the logged-in
/// user joins; without one, the account to create (all four fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "k3J9…", "username": "ana", "first_name": "Ana", "last_name": "Lima", "password": "a long passphrase"}))]
pub struct AcceptRequest {
    /// The token from the invitation e-mail.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub token: String,
    /// New account only: username (3 to 32 characters).
    #[schema(nullable = false)]
    pub username: Option<String>,
    /// New account only.
    #[schema(nullable = false)]
    pub first_name: Option<String>,
    /// New account only.
    #[schema(nullable = false)]
    pub last_name: Option<String>,
    /// New account only: at least 12 characters.
    #[schema(nullable = false, format = "password")]
    pub password: Option<String>,
}

/// What accepting did.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinedView {
    /// The organization joined.
    pub organization_id: String,
    /// The role held there.
    pub role: String,
    /// The member's user id.
    pub user_id: String,
    /// A new account logs in with its password (`POST /api/v1/auth/login`); an existing one
    /// picks the organization with `X-Tenant-Id` (its tenants: `GET /api/v1/organization`).
    pub new_account: bool,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinedResponse {
    /// The membership.
    pub data: JoinedView,
}

/// Proposing a new owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "0193a7d2-5b1e-7c3f-9a4b-2d6e8f0a1b2c"}))]
pub struct TransferRequest {
    /// An admin of the organization.
    #[serde(default)]
    #[schema(required = true, format = "uuid")]
    pub user_id: String,
}

/// A pending ownership transfer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    /// The owner who proposed it.
    pub from_user: String,
    /// The admin who is to become owner (they confirm).
    pub to_user: String,
    /// Proposed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Lapses.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<&OwnershipTransfer> for TransferView {
    fn from(t: &OwnershipTransfer) -> Self {
        Self {
            from_user: t.from_user.to_string(),
            to_user: t.to_user.to_string(),
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferResponse {
    /// The transfer.
    pub data: TransferView,
}
