//! Typed identifiers. Every entity id is a UUIDv7 newtype so ids of different entities cannot be
//! mixed up, and so that ids sort by creation time (good for B-tree locality and cursors).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (read from storage or a request path).
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    )+};
}

typed_id!(
    /// A tenant: the billing and isolation unit inside an organization.
    TenantId,
    /// An organization: owns tenants and has members.
    OrganizationId,
    /// A user account.
    UserId,
    /// A background job.
    JobId,
    /// A managed VPS.
    VpsId,
    /// A hosted site.
    SiteId,
    /// A backup.
    BackupId,
    /// A long-running operation whose progress the API exposes.
    OperationId,
    /// An invitation to join an organization.
    InvitationId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = TenantId::new();
        let parsed: TenantId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn ids_created_later_sort_after_earlier_ones() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
    }
}
