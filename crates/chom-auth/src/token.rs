//! API tokens: `<id>.<secret>`, only a hash of the secret stored; abilities; expiry.

use crate::values::FieldError;
use chom_kernel::UserId;
use chom_kernel::crypto::{CryptoError, constant_time_eq, random_token, sha256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ability {
    /// Read tenant data.
    #[serde(rename = "read")]
    Read,
    /// Read secrets (database credentials…).
    #[serde(rename = "read:sensitive")]
    ReadSensitive,
    /// Change tenant data.
    #[serde(rename = "write")]
    Write,
    /// Administer the organization (members, tokens, billing) within the caller's role.
    #[serde(rename = "admin")]
    Admin,
}

impl Ability {
    /// Every ability.
    pub const ALL: [Ability; 4] = [Self::Read, Self::ReadSensitive, Self::Write, Self::Admin];

    /// Storage and API spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadSensitive => "read:sensitive",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Parses the spelling.
    ///
    /// # Errors
    /// `INVALID_VALUE` naming the allowed values.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                FieldError::new("INVALID_VALUE", "one of read, read:sensitive, write, admin")
            })
    }
}

/// A set of abilities. `admin` implies all others; `write` and `read:sensitive` imply `read`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Abilities(BTreeSet<Ability>);

impl Abilities {
    /// All abilities (a login session).
    #[must_use]
    pub fn all() -> Self {
        Self(Ability::ALL.into_iter().collect())
    }

    /// Whether `needed` is granted.
    #[must_use]
    pub fn allows(&self, needed: Ability) -> bool {
        self.0.contains(&Ability::Admin)
            || self.0.contains(&needed)
            || (needed == Ability::Read
                && (self.0.contains(&Ability::Write) || self.0.contains(&Ability::ReadSensitive)))
    }

    /// Whether every ability of `other` is granted here (a token may only mint weaker ones).
    #[must_use]
    pub fn covers(&self, other: &Abilities) -> bool {
        other.0.iter().all(|a| self.allows(*a))
    }

    /// Space-separated storage form.
    #[must_use]
    pub fn to_storage(&self) -> String {
        self.0
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses the storage form.
    ///
    /// # Errors
    /// An unknown ability (a corrupt row).
    pub fn from_storage(s: &str) -> Result<Self, FieldError> {
        s.split_whitespace()
            .map(Ability::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The abilities, sorted.
    pub fn iter(&self) -> impl Iterator<Item = Ability> + '_ {
        self.0.iter().copied()
    }

    /// Whether none is granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Ability> for Abilities {
    fn from_iter<I: IntoIterator<Item = Ability>>(list: I) -> Self {
        Self(list.into_iter().collect())
    }
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id, the part before the dot.
    pub id: Uuid,
    /// Owner.
    pub user_id: UserId,
    /// Label chosen by the user (`login` for session tokens).
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// What it may do.
    pub abilities: Abilities,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// Last authenticated request (updated at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl ApiToken {
    /// Whether `secret` is this token's secret (constant time).
    #[must_use]
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(&sha256(secret.as_bytes()), &self.secret_hash)
    }
}

/// A freshly minted token: the record to store and the plaintext to show once.
#[derive(Debug)]
pub struct IssuedToken {
    /// The record.
    pub token: ApiToken,
    /// `<id>.<secret>`, shown to the user once, never stored.
    pub plaintext: String,
}

impl IssuedToken {
    /// Mints a token.
    ///
    /// # Errors
    /// The random source failed.
    pub fn mint(
        user_id: UserId,
        name: &str,
        abilities: Abilities,
        now: OffsetDateTime,
        lifetime: time::Duration,
    ) -> Result<Self, CryptoError> {
        let id = Uuid::now_v7();
        let secret = random_token(32)?;
        // Millisecond precision: what every backend stores exactly (SQLite keeps milliseconds).
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now);
        Ok(Self {
            plaintext: format!("{}.{secret}", id.simple()),
            token: ApiToken {
                id,
                user_id,
                name: name.to_owned(),
                secret_hash: sha256(secret.as_bytes()),
                abilities,
                expires_at: now + lifetime,
                last_used_at: None,
                revoked_at: None,
                created_at: now,
            },
        })
    }
}

/// A bearer credential as presented: `<id>.<secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// Token id.
    pub id: Uuid,
    /// Secret part.
    pub secret: String,
}

impl BearerToken {
    /// Parses `<32 hex id>.<secret>`; `None` for anything else.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let (id, secret) = raw.trim().split_once('.')?;
        if secret.is_empty() || secret.len() > 128 {
            return None;
        }
        Some(Self {
            id: Uuid::try_parse(id).ok()?,
            secret: secret.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abilities_imply_what_they_should() {
        let admin = [Ability::Admin].into_iter().collect::<Abilities>();
        assert!(Ability::ALL.iter().all(|a| admin.allows(*a)));
        let write = [Ability::Write].into_iter().collect::<Abilities>();
        assert!(write.allows(Ability::Read) && write.allows(Ability::Write));
        assert!(!write.allows(Ability::ReadSensitive) && !write.allows(Ability::Admin));
        let read = [Ability::Read].into_iter().collect::<Abilities>();
        assert!(!read.allows(Ability::Write));
        assert!(write.covers(&read) && !read.covers(&write));
        let stored = Abilities::all().to_storage();
        assert_eq!(stored, "read read:sensitive write admin");
        assert_eq!(Abilities::from_storage(&stored).unwrap(), Abilities::all());
        assert!(Abilities::from_storage("read root").is_err());
    }

    #[test]
    fn minted_tokens_verify_and_store_no_secret() {
        let now = OffsetDateTime::now_utc();
        let issued = IssuedToken::mint(
            UserId::new(),
            "ci",
            Abilities::all(),
            now,
            time::Duration::days(30),
        )
        .unwrap();
        let bearer = BearerToken::parse(&issued.plaintext).unwrap();
        assert_eq!(bearer.id, issued.token.id);
        assert!(issued.token.matches(&bearer.secret));
        assert!(!issued.token.matches("guess"));
        assert!(!format!("{:?}", issued.token).contains(&bearer.secret));
        for bad in [
            "",
            "abc",
            "not-a-uuid.secret",
            &format!("{}.", issued.token.id.simple()),
        ] {
            assert!(BearerToken::parse(bad).is_none(), "{bad}");
        }
    }
}
