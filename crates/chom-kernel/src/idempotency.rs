//! Idempotency keys: a client names a request (`Idempotency-Key`) so that sending it again after
//! a lost answer replays the first answer instead of acting twice.
//!
//! The record of a key lives in the database, not in the cache: losing it would lose exactly
//! the guarantee it exists for, and the insert-if-absent that lets one of two concurrent requests
//! win must be atomic across API replicas. The record is keyed by (caller, key), so one caller
//! can never read another's answers, and remembers a fingerprint of the request so a key reused
//! for a different request is refused rather than answered with an unrelated response.
//!
//! A record is `in_flight` while its request runs (held by a random `lock`, so a request that
//! was given up on cannot later overwrite its successor's record), then `completed` with the
//! response. Times come from the caller, so policies (retention, when an in-flight request is
//! considered abandoned) are decided in one place and tests need no sleeping.

use crate::error::StoreError;
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a completed answer is kept (and replayed).
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// After this long, an in-flight record is taken to belong to a request that died (a crashed
/// replica): a retry with the same request takes it over. Longer than any synchronous route
/// runs (the slowest wait on a busy server's agent lock for at most 90 s).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(120);

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 printable ASCII characters (space to `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// No characters.
    #[error("the idempotency key is empty")]
    Empty,
    /// More than [`MAX_KEY_LEN`] characters.
    #[error("the idempotency key is longer than 255 characters")]
    TooLong,
    /// A control character or a byte outside ASCII.
    #[error("the idempotency key may only hold printable ASCII characters")]
    NotPrintable,
}

impl IdempotencyKey {
    /// Parses a key from a header's raw bytes.
    ///
    /// # Errors
    /// Empty, too long, or not printable ASCII.
    pub fn parse(raw: &[u8]) -> Result<Self, InvalidKey> {
        if raw.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(InvalidKey::TooLong);
        }
        if !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(InvalidKey::NotPrintable);
        }
        // Printable ASCII is valid UTF-8.
        String::from_utf8(raw.to_vec())
            .map(Self)
            .map_err(|_| InvalidKey::NotPrintable)
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of what makes two requests "the same": method, target (path and query), the tenant
/// asked for, and the body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a request. Fields are length-prefixed, so no two different requests
    /// share an encoding.
    #[must_use]
    pub fn of(method: &str, target: &str, tenant: Option<&[u8]>, body: &[u8]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            method.as_bytes(),
            target.as_bytes(),
            tenant.unwrap_or_default(),
            body,
        ] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// Rebuilds a stored fingerprint.
    ///
    /// # Errors
    /// `Unexpected` unless `bytes` is 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| {
            StoreError::Unexpected(anyhow::anyhow!(
                "a stored fingerprint has {} bytes, not 32",
                bytes.len()
            ))
        })
    }

    /// The digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A response kept for replay. The body is opaque here (the API seals it: it may hold a secret
/// shown once, like a new API token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The headers worth replaying (`Content-Type`, `Location`…), in order.
    pub headers: Vec<(String, String)>,
    /// The body, as the API stores it.
    pub body: Vec<u8>,
}

/// A claim on a key: who, which key, which request, when.
#[derive(Debug, Clone)]
pub struct NewClaim<'a> {
    /// The caller the key belongs to (the API uses the bearer token's id).
    pub caller: &'a str,
    /// The key.
    pub key: &'a IdempotencyKey,
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// Names this claim: only its holder may complete or release the record.
    pub lock: Uuid,
    /// Now.
    pub now: OffsetDateTime,
}

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now (no record, an expired one, or an abandoned in-flight one
    /// of the same request): run it, then complete or release the record.
    Acquired,
    /// Another request with this key is running.
    InFlight {
        /// That request's fingerprint.
        fingerprint: Fingerprint,
    },
    /// A request with this key was answered.
    Completed {
        /// That request's fingerprint.
        fingerprint: Fingerprint,
        /// Its answer.
        response: StoredResponse,
    },
}

/// The records of idempotency keys (table `idempotency_keys`).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically records `claim` as in flight, unless a live record of (caller, key) exists;
    /// a record expired at `claim.now` counts as absent, and an in-flight record of the same
    /// fingerprint locked before `claim.now - ABANDONED_AFTER` is taken over. The new record
    /// expires after [`RETENTION`].
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn claim(&self, claim: &NewClaim<'_>) -> Result<Claim, StoreError>;

    /// Stores the response of the claim held with `lock`; kept until `now + RETENTION`.
    /// Returns `false` when the claim was lost (taken over or purged meanwhile).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn complete(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
        response: &StoredResponse,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes the in-flight record held with `lock`, so the request may be sent again.
    /// Returns `false` when there was none.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn release(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
    ) -> Result<bool, StoreError>;

    /// Deletes every record expired at `now`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// `now + d`, saturating instead of overflowing (for durations of this module).
#[must_use]
pub fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(now)
}

/// `now - d`, saturating.
#[must_use]
pub fn before(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now.checked_sub(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(b"a").unwrap().as_str(), "a");
        let longest = "k".repeat(255);
        assert!(IdempotencyKey::parse(longest.as_bytes()).is_ok());
        assert!(IdempotencyKey::parse(b"order 42: ~retry!").is_ok());
        assert_eq!(IdempotencyKey::parse(b""), Err(InvalidKey::Empty));
        assert_eq!(
            IdempotencyKey::parse("k".repeat(256).as_bytes()),
            Err(InvalidKey::TooLong)
        );
        for bad in [
            &b"tab\there"[..],
            b"nul\0",
            b"del\x7f",
            "é".as_bytes(),
            b"\xff",
        ] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(InvalidKey::NotPrintable),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fingerprints_tell_every_part_apart() {
        let base = Fingerprint::of("POST", "/api/v1/sites", None, b"{}");
        assert_eq!(base, Fingerprint::of("POST", "/api/v1/sites", None, b"{}"));
        for other in [
            Fingerprint::of("PUT", "/api/v1/sites", None, b"{}"),
            Fingerprint::of("POST", "/api/v1/sites?x=1", None, b"{}"),
            Fingerprint::of("POST", "/api/v1/sites", Some(b"t1"), b"{}"),
            Fingerprint::of("POST", "/api/v1/sites", None, b"{ }"),
            // Moving bytes between fields changes the fingerprint (length prefixes).
            Fingerprint::of("POST", "/api/v1/sites{}", None, b""),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            Fingerprint::from_bytes(base.as_bytes()).unwrap(),
            base,
            "round trip"
        );
        assert!(Fingerprint::from_bytes(&[0; 31]).is_err());
    }
}
