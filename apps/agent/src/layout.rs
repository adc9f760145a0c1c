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

    /// `/etc/nginx/sites-available/chom-<domain>.conf`.
    pub fn vhost(&self, domain: &Domain) -> PathBuf {
        self.at("/etc/nginx/sites-available")
            .join(format!("chom-{domain}.conf"))
    }

    /// `/etc/nginx/sites-enabled/chom-<domain>.conf` (a symlink to the vhost).
    pub fn vhost_link(&self, domain: &Domain) -> PathBuf {
        self.at("/etc/nginx/sites-enabled")
            .join(format!("chom-{domain}.conf"))
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
