//! Passwords: the policy for new ones, and argon2id hashes.

use crate::values::FieldError;
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// A password that satisfies the policy. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Why hashing or verifying failed (not a wrong password: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

impl PasswordError {
    /// An error saying `what` went wrong.
    #[must_use]
    pub fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

impl Password {
    /// Checks a new password: 12–128 characters, not one repeated character, not the user's
    /// e-mail or username.
    ///
    /// # Errors
    /// `TOO_SHORT`, `TOO_LONG` or `TOO_WEAK`.
    pub fn new(raw: &str, forbidden: &[&str]) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n < 12 {
            return Err(FieldError::new("TOO_SHORT", "at least 12 characters"));
        }
        if n > 128 {
            return Err(FieldError::new("TOO_LONG", "at most 128 characters"));
        }
        let mut chars = raw.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first)
            || forbidden
                .iter()
                .any(|f| !f.is_empty() && raw.eq_ignore_ascii_case(f))
        {
            return Err(FieldError::new(
                "TOO_WEAK",
                "choose a less guessable password",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plaintext, for hashing.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hashes it with argon2id and a fresh salt (fresh working memory too: see [`HashMemory`]
    /// for the reusable kind).
    ///
    /// # Errors
    /// The hasher failed (it does not for valid inputs).
    pub fn hash(&self) -> Result<PasswordHash, PasswordError> {
        PasswordHash::of(&self.0)
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// Argon2's working memory (19 MiB with the default parameters), reusable from one hash to the
/// next, and handed back to the operating system when dropped.
///
/// Why both: allocated per hash, 19 MiB blocks end up in the allocator's per-thread arenas
/// (glibc raises its mmap threshold to the size of the first block freed), so a login burst
/// leaves hundreds of megabytes resident for good. Reused per hashing slot, the memory is
/// bounded by the slots; and reserved above 32 MiB (glibc's largest dynamic mmap threshold), it
/// is always its own mapping, returned whole on drop, while only the 19 MiB Argon2 writes are
/// ever touched (resident). The hashing pool drops its memories when it goes idle.
pub struct HashMemory(Vec<Block>);

/// Blocks reserved per memory: more than 32 MiB, so the allocator maps it on its own and
/// unmaps it on drop (see [`HashMemory`]); untouched pages cost no resident memory.
const RESERVED_BLOCKS: usize = 33 * 1024;

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} KiB)", self.0.len())
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl HashMemory {
    /// Memory for the default parameters (allocated lazily, on first use).
    #[must_use]
    pub fn new() -> Self {
        Self(Vec::new())
    }

    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            if self.0.capacity() < count {
                self.0 = Vec::with_capacity(count.max(RESERVED_BLOCKS));
            }
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }

    /// Whether it holds memory now.
    #[must_use]
    pub fn is_allocated(&self) -> bool {
        self.0.capacity() > 0
    }

    /// Hands the memory back (the next hash allocates it again).
    pub fn release(&mut self) {
        self.0 = Vec::new();
    }
}

fn failed(e: impl std::fmt::Display) -> PasswordError {
    PasswordError(e.to_string())
}

impl PasswordHash {
    /// Hashes any string, the argon2 crate's own way (memory allocated per call: fine for
    /// one-off hashes, not for a server under a login burst; see [`HashMemory`]).
    ///
    /// # Errors
    /// The hasher failed.
    pub fn of(plaintext: &str) -> Result<Self, PasswordError> {
        use argon2::PasswordHasher as _;
        Argon2::default()
            .hash_password(plaintext.as_bytes())
            .map(|h| Self(h.to_string()))
            .map_err(failed)
    }

    /// Hashes any string with argon2id's default parameters, working in `memory`.
    ///
    /// # Errors
    /// The hasher failed.
    pub fn of_in(plaintext: &str, memory: &mut HashMemory) -> Result<Self, PasswordError> {
        let salt = chom_kernel::crypto::random_bytes(16).map_err(failed)?;
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon
            .hash_password_into_with_memory(
                plaintext.as_bytes(),
                &salt,
                &mut out,
                memory.blocks(params.block_count()),
            )
            .map_err(failed)?;
        let phc = argon2::PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: (&params).try_into().map_err(failed)?,
            salt: Some(salt.as_slice().try_into().map_err(failed)?),
            hash: Some(out.as_slice().try_into().map_err(failed)?),
        };
        Ok(Self(phc.to_string()))
    }

    /// Wraps a stored PHC string.
    #[must_use]
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string to store.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the password, the argon2 crate's own way (see [`PasswordHash::of`]).
    #[must_use]
    pub fn verify(&self, candidate: &str) -> bool {
        use argon2::PasswordVerifier as _;
        Argon2::default()
            .verify_password(candidate.as_bytes(), self.0.as_str())
            .is_ok()
    }

    /// Whether `candidate` is the password, working in `memory`. The parameters are the
    /// stored hash's own (older hashes keep verifying after a parameter change); the output is
    /// compared in constant time.
    #[must_use]
    pub fn verify_in(&self, candidate: &str, memory: &mut HashMemory) -> bool {
        let Ok(phc) = argon2::PasswordHash::new(&self.0) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(phc.algorithm.as_str()),
            Params::try_from(&phc),
        ) else {
            return false;
        };
        let version = phc
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                candidate.as_bytes(),
                salt.as_ref(),
                &mut out,
                memory.blocks(blocks),
            )
            .is_ok()
            && chom_kernel::crypto::constant_time_eq(&out, expected.as_bytes())
    }
}

/// Hashing and verifying passwords, as a port: the application services call it, and the
/// apps decide where the work runs (the API: on the blocking pool, a few at a time, so a login
/// flood cannot starve the request threads).
#[async_trait::async_trait]
pub trait Hashing: Send + Sync {
    /// Hashes a password.
    ///
    /// # Errors
    /// The hasher failed.
    async fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError>;

    /// Whether `candidate` is the password of `hash`.
    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool;
}

/// [`Hashing`] on the caller's thread, the argon2 crate's own way: for tests and one-shot
/// commands (and the login benchmark's baseline).
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineHashing;

#[async_trait::async_trait]
impl Hashing for InlineHashing {
    async fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        PasswordHash::of(password)
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool {
        hash.verify(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_long_and_guessable_passwords() {
        assert_eq!(Password::new("short", &[]).unwrap_err().code, "TOO_SHORT");
        assert_eq!(
            Password::new(&"x".repeat(129), &[]).unwrap_err().code,
            "TOO_LONG"
        );
        assert_eq!(
            Password::new("aaaaaaaaaaaaaaa", &[]).unwrap_err().code,
            "TOO_WEAK"
        );
        assert_eq!(
            Password::new("jane@example.com", &["jane@example.com"])
                .unwrap_err()
                .code,
            "TOO_WEAK"
        );
        assert!(Password::new("correct horse battery", &["jane"]).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let p = Password::new("correct horse battery", &[]).unwrap();
        let (a, b) = (p.hash().unwrap(), p.hash().unwrap());
        assert!(
            a.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            a.as_str()
        );
        assert_ne!(a, b, "salts repeat");
        assert!(a.verify("correct horse battery"));
        assert!(!a.verify("correct horse battery!"));
        assert!(!format!("{a:?}{p:?}").contains("horse"));
    }

    #[test]
    fn m3_reused_memory_gives_the_same_answers_as_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let mut memory = HashMemory::new();
        let ours = PasswordHash::of_in("correct horse battery", &mut memory).unwrap();
        // The reference implementation verifies our hash, and we verify its hashes.
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        let theirs = PasswordHash::from_stored(theirs);
        for _ in 0..3 {
            assert!(theirs.verify_in("correct horse battery", &mut memory));
            assert!(!theirs.verify_in("correct horse battery.", &mut memory));
            assert!(ours.verify_in("correct horse battery", &mut memory));
        }
        // Other stored parameters still verify (a hash made before a parameter change).
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"old password here")
        .unwrap()
        .to_string();
        assert!(PasswordHash::from_stored(light).verify_in("old password here", &mut memory));
        assert!(!PasswordHash::from_stored("garbage".into()).verify_in("x", &mut memory));
    }
}
