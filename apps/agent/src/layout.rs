//! Where everything lives: the real system paths, or the same tree under a sandbox root.

use chom_agent_protocol::{Domain, PhpVersion};
use std::path::{Path, PathBuf};

/// Paths of one machine (or sandbox).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    sandbox: bool,
}

impl Layout {
    /// `/` for the real machine, or a sandbox directory.
    pub fn new(sandbox_root: Option<PathBuf>) -> Self {
        match sandbox_root {
            Some(root) => Self {
                root,
                sandbox: true,
            },
            None => Self {
                root: PathBuf::from("/"),
                sandbox: false,
            },
        }
    }

    /// Whether paths are under a sandbox root (no users, ownership or reloads).
    pub fn sandbox(&self) -> bool {
        self.sandbox
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `/var/www/sites`.
    pub fn sites_root(&self) -> PathBuf {
        self.at("/var/www/sites")
    }

    /// `/var/www/sites/<domain>`.
    pub fn site_dir(&self, domain: &Domain) -> PathBuf {
        self.sites_root().join(domain.as_str())
    }

    /// `/etc/letsencrypt/live/<certificate name>`.
    pub fn live(&self, domain: &Domain) -> PathBuf {
        self.letsencrypt().join("live").join(cert_name(domain))
    }

    /// `/var/log/chom-sites/<domain>`: the logs root's daemons write for a site (nginx's
    /// access and error logs, PHP-FPM's slow log). Root's directory, outside the tenant's tree.
    pub fn site_logs(&self, domain: &Domain) -> PathBuf {
        self.at("/var/log/chom-sites").join(domain.as_str())
    }

    /// `/var/www/chom-acme`: the ACME HTTP-01 webroot of every site (root's, outside every
    /// tenant's tree, as certbot writes there as root).
    pub fn acme_webroot(&self) -> PathBuf {
        self.at("/var/www/chom-acme")
    }

    /// `/etc/nginx/nginx.conf`.
    pub fn nginx_conf(&self) -> PathBuf {
        self.at("/etc/nginx/nginx.conf")
    }

    /// `/etc/nginx/sites-available/chom-<domain>.conf` (a shortened stem for a domain too
    /// long for a file name, see [`stem`]).
    pub fn vhost(&self, domain: &Domain) -> PathBuf {
        self.at("/etc/nginx/sites-available")
            .join(format!("chom-{}.conf", stem(domain, VHOST_STEM)))
    }

    /// `/etc/nginx/sites-enabled/chom-<domain>.conf` (a symlink to the vhost).
    pub fn vhost_link(&self, domain: &Domain) -> PathBuf {
        self.sites_enabled()
            .join(format!("chom-{}.conf", stem(domain, VHOST_STEM)))
    }

    /// `/etc/nginx/sites-enabled`.
    pub fn sites_enabled(&self) -> PathBuf {
        self.at("/etc/nginx/sites-enabled")
    }

    /// `/etc/nginx/conf.d/chom-hash.conf`: nginx's server-names hash sized for this server's
    /// names (included at the `http` level by Debian's `nginx.conf` and the sandbox's).
    pub fn nginx_hash_conf(&self) -> PathBuf {
        self.at("/etc/nginx/conf.d/chom-hash.conf")
    }

    /// `/etc/php/<v>/fpm/pool.d/<pool>.conf`: in the directory of the site's own version.
    pub fn pool_file(&self, version: PhpVersion, pool: &str) -> PathBuf {
        self.at(&format!("/etc/php/{}/fpm/pool.d", version.as_str()))
            .join(format!("{pool}.conf"))
    }

    /// `/run/php/chom-<pool>.sock`.
    pub fn pool_socket(&self, pool: &str) -> PathBuf {
        // The socket path is what nginx and PHP-FPM agree on at run time: not sandboxed, nothing
        // is created there by the agent itself.
        PathBuf::from(format!("/run/php/chom-{pool}.sock"))
    }

    /// The agent's site registry.
    pub fn registry(&self) -> PathBuf {
        self.at("/var/lib/chom-agent/sites.json")
    }

    /// Where each restore in progress records how far it got (`<restore id>.json`).
    pub fn restores(&self) -> PathBuf {
        self.at("/var/lib/chom-agent/restores")
    }

    /// Held while a `backup.create` of `domain` runs: a rerun whose caller lost the first one
    /// waits for it instead of writing a second manifest under the same backup id.
    pub fn backup_lock(&self, domain: &str) -> PathBuf {
        self.at(&format!("/var/lib/chom-agent/backups/{domain}.lock"))
    }

    /// Held while a changing command runs.
    pub fn lock_file(&self) -> PathBuf {
        self.at("/var/lib/chom-agent/agent.lock")
    }

    /// certbot's configuration directory (accounts, `live/<domain>/…`).
    pub fn letsencrypt(&self) -> PathBuf {
        self.at("/etc/letsencrypt")
    }

    /// certbot's work and log directories.
    pub fn letsencrypt_work(&self) -> (PathBuf, PathBuf) {
        (
            self.at("/var/lib/letsencrypt"),
            self.at("/var/log/letsencrypt"),
        )
    }

    /// nginx's error log for configuration tests.
    pub fn nginx_error_log(&self) -> PathBuf {
        self.at("/var/log/nginx/error.log")
    }
}

/// File names are at most 255 bytes: `chom-<stem>.conf`.
const VHOST_STEM: usize = 255 - "chom-".len() - ".conf".len();

/// A file-name stem for `domain` of at most `max` bytes: the domain itself when it fits (every
/// domain of 245 characters or fewer, so existing names never change), else its first
/// characters, `-` and 8 hex digits of its FNV-1a hash.
pub fn stem(domain: &Domain, max: usize) -> String {
    let d = domain.as_str();
    if d.len() <= max {
        return d.to_owned();
    }
    let hash = d.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) & 0xffff_ffff;
    // The domain is ASCII: any byte index is a character boundary.
    format!("{}-{hash:08x}", d.get(..max - 9).unwrap_or(d))
}

/// certbot's certificate name: the domain, or a stem short enough for certbot's
/// `renewal/<name>.conf`.
pub fn cert_name(domain: &Domain) -> String {
    stem(domain, 255 - ".conf".len())
}

/// The names a site answers to: the domain, and its `www.` name when that is still a valid
/// name (at most 253 characters).
pub fn server_names(domain: &Domain) -> Vec<String> {
    let mut names = vec![domain.as_str().to_owned()];
    if domain.as_str().len() + 4 <= 253 {
        names.push(format!("www.{domain}"));
    }
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_derived_from_a_253_character_domain_fit_in_a_file_name() {
        let label = "a".repeat(63);
        let long =
            Domain::parse(&format!("{label}.{label}.{label}.{}.com", "b".repeat(57))).unwrap();
        assert_eq!(long.as_str().len(), 253);
        let layout = Layout::new(Some(PathBuf::from("/x")));
        for path in [
            layout.vhost(&long),
            layout.vhost_link(&long),
            layout.live(&long),
        ] {
            let name = path.file_name().unwrap().len();
            assert!(name <= 255, "{}: {name}", path.display());
        }
        assert!(layout.site_dir(&long).file_name().unwrap().len() <= 255);
        assert_eq!(server_names(&long), vec![long.as_str().to_owned()]);
        assert_ne!(
            layout.vhost(&long),
            layout.vhost(
                &Domain::parse(&format!("{label}.{label}.{label}.{}.org", "b".repeat(57))).unwrap()
            )
        );
        // Short domains keep their names.
        let short = Domain::parse("example.com").unwrap();
        assert_eq!(
            layout.vhost(&short),
            PathBuf::from("/x/etc/nginx/sites-available/chom-example.com.conf")
        );
        assert_eq!(cert_name(&short), "example.com");
        assert_eq!(server_names(&short), vec!["example.com", "www.example.com"]);
    }
}
