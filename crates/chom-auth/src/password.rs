//! Passwords: the policy for new ones, and argon2id hashes.

use crate::values::FieldError;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

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

    /// Hashes it with argon2id and a fresh salt.
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

impl PasswordHash {
    /// Hashes any string (used for the dummy hash that keeps unknown-user logins as slow as
    /// known ones).
    ///
    /// # Errors
    /// The hasher failed.
    pub fn of(plaintext: &str) -> Result<Self, PasswordError> {
        Argon2::default()
            .hash_password(plaintext.as_bytes())
            .map(|h| Self(h.to_string()))
            .map_err(|e| PasswordError(e.to_string()))
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

    /// Whether `candidate` is the password.
    #[must_use]
    pub fn verify(&self, candidate: &str) -> bool {
        Argon2::default()
            .verify_password(candidate.as_bytes(), self.0.as_str())
            .is_ok()
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
}
