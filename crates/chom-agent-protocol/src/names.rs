//! Validated values and the system names derived from a domain.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A site's domain: lower-case letters, digits and `-` in dot-separated labels of 1–63
/// characters that neither start nor end with `-`, at least two labels, a last label of letters
/// (2–63), 253 characters at most. Upper case is folded; nothing else is rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// Parses a domain.
    ///
    /// # Errors
    /// Any character or shape outside the grammar above.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let s = raw.to_ascii_lowercase();
        let bad = |why: &str| NameError(format!("invalid domain {raw:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 253 {
            return Err(bad("longer than 253 characters"));
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs at least two labels"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("labels are 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad("only letters, digits, '-' and '.' are allowed"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label cannot start or end with '-'"));
            }
        }
        let tld = labels.last().copied().unwrap_or_default();
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(bad("the last label must be 2 or more letters"));
        }
        Ok(Self(s))
    }

    /// The domain.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The names derived from this domain.
    #[must_use]
    pub fn names(&self) -> SiteNames {
        SiteNames::derive(self)
    }
}

impl TryFrom<String> for Domain {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Domain> for String {
    fn from(d: Domain) -> Self {
        d.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of application a site runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteType {
    /// WordPress (PHP, database).
    Wordpress,
    /// Laravel (PHP, database, `public/` document root).
    Laravel,
    /// Static HTML (no PHP pool needed, but one is kept for uniformity).
    Html,
}

impl SiteType {
    /// Spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wordpress => "wordpress",
            Self::Laravel => "laravel",
            Self::Html => "html",
        }
    }

    /// Every type.
    pub const ALL: [SiteType; 3] = [Self::Wordpress, Self::Laravel, Self::Html];

    /// Parses `wordpress`, `laravel`, `html`.
    ///
    /// # Errors
    /// Any other string.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| NameError(format!("{s:?} is not one of wordpress, html, laravel")))
    }
}

/// A supported PHP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhpVersion {
    /// 8.2.
    #[serde(rename = "8.2")]
    V82,
    /// 8.3.
    #[serde(rename = "8.3")]
    V83,
    /// 8.4.
    #[serde(rename = "8.4")]
    V84,
}

impl PhpVersion {
    /// Every supported version.
    pub const ALL: [PhpVersion; 3] = [Self::V82, Self::V83, Self::V84];

    /// `8.2`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V82 => "8.2",
            Self::V83 => "8.3",
            Self::V84 => "8.4",
        }
    }

    /// Parses `8.2`, `8.3`, `8.4`.
    ///
    /// # Errors
    /// Any other string.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                NameError(format!(
                    "unsupported PHP version {s:?}: one of 8.2, 8.3, 8.4"
                ))
            })
    }
}

/// The system names of a site, each valid for its system and unique per domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteNames {
    /// Linux user and group (≤ 32, `^[a-z][a-z0-9_]*$`).
    pub system_user: String,
    /// MariaDB database (≤ 64, `^[a-z][a-z0-9_]*$`).
    pub database: String,
    /// MariaDB user (≤ 32, `^[a-z][a-z0-9_]*$`).
    pub database_user: String,
    /// PHP-FPM pool and file stem (`^[a-z0-9_]+$`).
    pub pool: String,
}

/// FNV-1a 64: stable across releases, so names derived today are derived the same tomorrow.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn squash(domain: &str, max: usize) -> String {
    let mut out: String = domain
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    out.truncate(max);
    out.trim_end_matches('_').to_owned()
}

impl SiteNames {
    /// Derives the names: a readable prefix of the domain plus 8 hex digits of its hash.
    #[must_use]
    pub fn derive(domain: &Domain) -> Self {
        let hash = format!("{:08x}", fnv(domain.as_str()) & 0xffff_ffff);
        let short = |prefix: &str, max_total: usize| {
            let room = max_total - prefix.len() - 1 - hash.len();
            format!("{prefix}{}_{hash}", squash(domain.as_str(), room))
        };
        Self {
            system_user: short("s_", 32),
            database: short("db_", 64),
            database_user: short("u_", 32),
            pool: short("p_", 64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domains_follow_the_grammar() {
        for ok in [
            "example.com",
            "Shop.Example.CO.uk",
            "a-b.io",
            "xn--bcher-kva.example",
            &format!("{}.com", "a".repeat(63)),
        ] {
            assert!(Domain::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "-a.com",
            "a-.com",
            "a..com",
            ".a.com",
            "a.com.",
            "a.c",
            "a.c0m",
            "a b.com",
            "a;b.com",
            "$(id).com",
            "`id`.com",
            "a.com\n",
            "ünï.com",
            "a/b.com",
            "a_b.com",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}.com", "a.".repeat(126)),
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Domain::parse("WWW.Example.COM").unwrap().as_str(),
            "www.example.com"
        );
    }

    #[test]
    fn derived_names_fit_their_systems_and_do_not_collide() {
        let long_a = Domain::parse(&format!("{}.example.com", "a".repeat(63))).unwrap();
        let long_b = Domain::parse(&format!("{}.example.org", "a".repeat(63))).unwrap();
        let (a, b) = (long_a.names(), long_b.names());
        assert!(a.system_user.len() <= 32 && a.database.len() <= 64 && a.database_user.len() <= 32);
        assert_ne!(a.system_user, b.system_user);
        assert_ne!(a.database, b.database);
        let n = Domain::parse("shop.example.com").unwrap().names();
        assert!(n.system_user.starts_with("s_shop_example_com_"), "{n:?}");
        assert_eq!(
            n,
            Domain::parse("shop.example.com").unwrap().names(),
            "not deterministic"
        );
    }

    fn valid_name(s: &str, max: usize) -> bool {
        s.len() <= max
            && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        /// Any string either is refused or becomes a domain of the safe alphabet, whose derived
        /// names are plain identifiers: nothing a shell, nginx or SQL would interpret.
        #[test]
        fn arbitrary_input_is_refused_or_inert(raw in any::<String>()) {
            if let Ok(d) = Domain::parse(&raw) {
                prop_assert!(d.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
                let n = d.names();
                prop_assert!(valid_name(&n.system_user, 32));
                prop_assert!(valid_name(&n.database, 64));
                prop_assert!(valid_name(&n.database_user, 32));
                prop_assert!(n.pool.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            }
        }

        /// Strings made of domain-ish characters and shell metacharacters: the same property,
        /// with far more accepted inputs than uniform random strings give.
        #[test]
        fn shell_metacharacters_never_survive(raw in "[a-z0-9.;&|`$(){}<>*?~!#'\" \\n-]{1,40}") {
            if let Ok(d) = Domain::parse(&raw) {
                let meta = ";&|`$(){}<>*?~!#'\" \n";
                prop_assert!(!d.as_str().chars().any(|c| meta.contains(c)), "metacharacter kept in {}", d);
            }
        }
    }
}
