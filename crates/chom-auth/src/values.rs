//! Value objects of identity: each parses once and is valid forever after.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a field was refused: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// Stable code (`INVALID_FORMAT`, `TOO_LONG`, …).
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
}

impl FieldError {
    /// A refusal.
    #[must_use]
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// An e-mail address, trimmed and lower-cased (addresses compare case-insensitively here).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address: one `@`, a local part of 1–64 characters, a domain with a dot made of
    /// letters, digits, `-` and `.`, 254 characters in all, no spaces or control characters.
    ///
    /// # Errors
    /// `REQUIRED`, `TOO_LONG` or `INVALID_FORMAT`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(FieldError::new("REQUIRED", "an e-mail address is required"));
        }
        if s.len() > 254 {
            return Err(FieldError::new("TOO_LONG", "at most 254 characters"));
        }
        let invalid = || FieldError::new("INVALID_FORMAT", "not a valid e-mail address");
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s))
        } else {
            Err(invalid())
        }
    }

    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username: 3–32 characters of `a-z`, `0-9`, `_`, `-`, `.`, starting with a letter or digit;
/// lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Parses a username.
    ///
    /// # Errors
    /// `REQUIRED`, `TOO_SHORT`, `TOO_LONG` or `INVALID_FORMAT`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(FieldError::new("REQUIRED", "a username is required"));
        }
        if s.chars().count() < 3 {
            return Err(FieldError::new("TOO_SHORT", "at least 3 characters"));
        }
        if s.chars().count() > 32 {
            return Err(FieldError::new("TOO_LONG", "at most 32 characters"));
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if first_ok
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
        {
            Ok(Self(s))
        } else {
            Err(FieldError::new(
                "INVALID_FORMAT",
                "letters, digits, '_', '-' and '.', starting with a letter or digit",
            ))
        }
    }

    /// The username.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A first or last name, or an organization name: 1–100 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name.
    ///
    /// # Errors
    /// `REQUIRED`, `TOO_LONG` or `INVALID_FORMAT`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new("REQUIRED", "this field is required"));
        }
        if s.chars().count() > 100 {
            return Err(FieldError::new("TOO_LONG", "at most 100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "INVALID_FORMAT",
                "control characters are not allowed",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            EmailAddress::parse("  Jane.Doe+x@Example.COM ")
                .unwrap()
                .as_str(),
            "jane.doe+x@example.com"
        );
        for bad in [
            "",
            "plain",
            "a@b",
            "@x.io",
            "a@-x.io",
            "a b@x.io",
            "a@x..io",
            ".a@x.io",
            "a@x\n.io",
            &format!("{}@x.io", "a".repeat(65)),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Jane_Doe").unwrap().as_str(), "jane_doe");
        assert_eq!(Username::parse("ab").unwrap_err().code, "TOO_SHORT");
        assert_eq!(
            Username::parse(&"a".repeat(33)).unwrap_err().code,
            "TOO_LONG"
        );
        for bad in ["_jane", "jane doe", "jané", "jane;rm"] {
            assert_eq!(
                Username::parse(bad).unwrap_err().code,
                "INVALID_FORMAT",
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(PersonName::parse(" Zoë ").unwrap().as_str(), "Zoë");
        assert_eq!(PersonName::parse("  ").unwrap_err().code, "REQUIRED");
        assert_eq!(
            PersonName::parse(&"x".repeat(101)).unwrap_err().code,
            "TOO_LONG"
        );
        assert_eq!(
            PersonName::parse("a\u{7}b").unwrap_err().code,
            "INVALID_FORMAT"
        );
    }
}
