//! Where a site's repository is and who may open it (ADR 0008).
//!
//! One restic repository per site, named after the site's id, behind the control plane's REST
//! server. Its two HTTP credentials are derived from the application key (HMAC, one derived
//! key for this purpose), so nothing is stored and the server can check them statelessly: the
//! site's **append-only** one, handed to its server's agent with each call, and the control
//! plane's **full** one (forget, prune). After a key rotation the previous keys' credentials are
//! still accepted. The repository's *password* (restic's encryption) is random and stored
//! sealed (see the service): losing the application key must not be what loses it.

use chom_agent_protocol::backup::RepositoryAccess;
use chom_kernel::SiteId;
use chom_kernel::crypto::{KeyedHash, constant_time_eq};
use data_encoding::BASE64URL_NOPAD;
use std::collections::BTreeMap;

/// What a repository credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read, list, add; delete only locks.
    AppendOnly,
    /// Everything, deletions included.
    Full,
}

/// Derives and checks repository credentials, and builds repository locations.
#[derive(Debug)]
pub struct Repositories {
    keys: KeyedHash,
    /// `http(s)://host[:port]` of the REST server, as the agents reach it.
    public_url: std::sync::RwLock<String>,
}

/// The repository name of `site`.
#[must_use]
pub fn repository_name(site: SiteId) -> String {
    site.to_string()
}

impl Repositories {
    /// Credentials keyed by `keys` (purpose `backup.repository`), for a REST server at
    /// `public_url`.
    #[must_use]
    pub fn new(keys: KeyedHash, public_url: impl Into<String>) -> Self {
        Self {
            keys,
            public_url: std::sync::RwLock::new(public_url.into().trim_end_matches('/').to_owned()),
        }
    }

    /// The REST server's address.
    #[must_use]
    pub fn public_url(&self) -> String {
        self.public_url
            .read()
            .map(|u| u.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Points at another address (the API binds its listener, then knows its port).
    pub fn set_public_url(&self, url: &str) {
        let url = url.trim_end_matches('/').to_owned();
        match self.public_url.write() {
            Ok(mut u) => *u = url,
            Err(p) => *p.into_inner() = url,
        }
    }

    fn secret(tag: &[u8; 32]) -> String {
        BASE64URL_NOPAD.encode(tag)
    }

    fn message(repository: &str, access: Access) -> String {
        match access {
            Access::AppendOnly => format!("append:{repository}"),
            Access::Full => format!("full:{repository}"),
        }
    }

    /// The password of `repository`'s credential with `access` (its user name is the
    /// repository's name).
    #[must_use]
    pub fn password(&self, repository: &str, access: Access) -> String {
        Self::secret(&self.keys.tag(Self::message(repository, access).as_bytes()))
    }

    /// What `user`/`password` open: the repository named `user`, with the access the password
    /// was derived for (under the current or a previous key); `None` otherwise.
    #[must_use]
    pub fn check(&self, user: &str, password: &str) -> Option<Access> {
        if user.is_empty() || user.len() > 64 {
            return None;
        }
        for access in [Access::AppendOnly, Access::Full] {
            let message = Self::message(user, access);
            if self
                .keys
                .tags(message.as_bytes())
                .iter()
                .any(|t| constant_time_eq(Self::secret(t).as_bytes(), password.as_bytes()))
            {
                return Some(access);
            }
        }
        None
    }

    /// restic's location of `site`'s repository with the credential of `access`:
    /// `rest:http://<site>:<password>@host:port/<site>/`.
    #[must_use]
    pub fn location(&self, site: SiteId, access: Access) -> String {
        let name = repository_name(site);
        let password = self.password(&name, access);
        let url = self.public_url();
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
        format!("rest:{scheme}://{name}:{password}@{rest}/{name}/")
    }

    /// Everything restic needs to open `site`'s repository.
    #[must_use]
    pub fn access(&self, site: SiteId, access: Access, password: String) -> RepositoryAccess {
        RepositoryAccess {
            location: self.location(site, access),
            password,
            environment: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_credential_opens_its_repository_with_its_access_and_survives_a_key_rotation() {
        let old = Repositories::new(
            KeyedHash::new(&[1; 32], "backup.repository"),
            "http://127.0.0.1:8470/",
        );
        let site = SiteId::new();
        let name = repository_name(site);
        let append = old.password(&name, Access::AppendOnly);
        let full = old.password(&name, Access::Full);
        assert_ne!(append, full);
        assert_eq!(old.check(&name, &append), Some(Access::AppendOnly));
        assert_eq!(old.check(&name, &full), Some(Access::Full));
        assert_eq!(
            old.check(&repository_name(SiteId::new()), &append),
            None,
            "another site's"
        );
        assert_eq!(old.check(&name, "guess"), None);
        let rotated = Repositories::new(
            KeyedHash::with_previous(&[2; 32], &[[1u8; 32]], "backup.repository"),
            "http://127.0.0.1:8470",
        );
        assert_eq!(
            rotated.check(&name, &append),
            Some(Access::AppendOnly),
            "previous key"
        );
        assert_ne!(
            rotated.password(&name, Access::AppendOnly),
            append,
            "new credentials"
        );
        assert_eq!(
            old.location(site, Access::AppendOnly),
            format!("rest:http://{name}:{append}@127.0.0.1:8470/{name}/")
        );
    }
}
