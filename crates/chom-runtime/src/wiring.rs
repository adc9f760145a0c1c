//! Builds the adapters the settings select: PostgreSQL or SQLite, Redis or in-memory.

use crate::config::{DatabaseTarget, Settings};
use anyhow::Context as _;
use chom_auth::mail::Mailer;
use chom_kernel::audit::AuditTrail;
use chom_kernel::cache::{Cache, MemoryCache, MemoryRateLimiter, RateLimiter};
use chom_kernel::crypto::Sealer;
use chom_kernel::jobs::JobQueue;
use chom_kernel::store::Store;
use chom_postgres::PgStore;
use chom_redis::{Degrading, RedisCache, RedisConn, RedisRateLimiter};
use chom_sqlite::SqliteStore;
use chom_tenancy::PlanRepository;
use chom_tenancy::admin::Administration;
use chom_tenancy::identity::{Identity, IdentityConfig, IdentityPorts};
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The application key: configured, or (SQLite only) generated once next to the database.
fn encryption_key(settings: &Settings, target: &DatabaseTarget) -> anyhow::Result<Vec<u8>> {
    if let Some(key) = &settings.security.encryption_key {
        return crate::config::decode_key(key.expose_secret())
            .context("security.encryption_key must be 32 bytes of base64url");
    }
    let DatabaseTarget::Sqlite(db) = target else {
        anyhow::bail!("security.encryption_key is required with PostgreSQL (32 bytes, base64url)");
    };
    let path = db.parent().unwrap_or(Path::new(".")).join("secret.key");
    // Created atomically: chom-api and chom-worker starting together on a fresh install both
    // read the one key (see `first_start`).
    let candidate = chom_kernel::crypto::random_bytes(32)?;
    let candidate = data_encoding::BASE64URL_NOPAD.encode(&candidate);
    let (stored, created) = crate::first_start::read_or_create(&path, candidate.as_bytes())
        .with_context(|| format!("reading or creating {}", path.display()))?;
    if created {
        tracing::info!(path = %path.display(), "generated the application encryption key");
    }
    crate::config::decode_key(&String::from_utf8_lossy(&stored))
        .with_context(|| format!("{} does not hold a 32-byte base64url key", path.display()))
}

/// The ports, wired to their adapters.
#[derive(Clone)]
pub struct Services {
    /// The VPS fleet.
    pub fleet: chom_infrastructure::Fleet,
    /// Hosted sites.
    pub sites: chom_site_hosting::Sites,
    /// Backups and their schedules.
    pub backups: chom_backup::Backups,
    /// Repository credentials (the REST server checks them) and the address agents use.
    pub backup_repositories: Arc<chom_backup::Repositories>,
    /// Identity use cases.
    pub identity: Identity,
    /// Organization and approval use cases.
    pub admin: Administration,
    /// Reading and verifying the audit log.
    pub audit: chom_team::audit::Audit,
    /// Invitations, members, ownership transfer.
    pub team: chom_team::Team,
    /// Outgoing e-mail.
    pub mailer: Arc<dyn Mailer>,
    /// Base URL of links in e-mails.
    pub public_url: String,
    /// Names identifiers (e-mails, addresses) in rate-limit keys without storing them in clear.
    pub key_names: Arc<chom_kernel::crypto::KeyedHash>,
    /// Units of work.
    pub store: Arc<dyn Store>,
    /// Job queue.
    pub queue: Arc<dyn JobQueue>,
    /// Plan catalogue.
    pub plans: Arc<dyn PlanRepository>,
    /// Cache.
    pub cache: Arc<dyn Cache>,
    /// Rate limiter.
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// `Idempotency-Key` records (the HTTP app seals answers into them; the worker prunes).
    pub idempotency: Arc<dyn chom_kernel::idempotency::IdempotencyStore>,
    /// Seals secrets at rest with the application key.
    pub sealer: Arc<Sealer>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("database", &self.store.backend())
            .field("cache", &self.cache.backend())
            .finish_non_exhaustive()
    }
}

/// What a database backend provides: one field per port, filled by each backend's arm of
/// [`Services::from_settings`] (a new context adds its repository here and in both arms).
struct Backend {
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
    plans: Arc<dyn PlanRepository>,
    identity: IdentityPorts,
    servers: Arc<dyn chom_infrastructure::VpsRepository>,
    sites: Arc<dyn chom_site_hosting::SiteRepository>,
    backups: Arc<dyn chom_backup::ScheduleRepository>,
    backup_records: Arc<dyn chom_backup::BackupRepository>,
    idempotency: Arc<dyn chom_kernel::idempotency::IdempotencyStore>,
    audit: Arc<dyn AuditTrail>,
    audit_log: Arc<dyn chom_team::audit::AuditLog>,
    team: Arc<dyn chom_team::ports::TeamRepository>,
}

fn identity_ports<R>(
    store: Arc<dyn Store>,
    repos: Arc<R>,
    hashing: Arc<dyn chom_auth::password::Hashing>,
    audit: Arc<dyn AuditTrail>,
) -> IdentityPorts
where
    R: chom_auth::ports::UserRepository
        + chom_auth::ports::TokenRepository
        + chom_auth::ports::OneTimeTokenRepository
        + chom_auth::ports::RecoveryCodeRepository
        + chom_tenancy::ports::OrganizationRepository
        + chom_tenancy::ports::SessionLookup
        + 'static,
{
    IdentityPorts {
        store,
        users: repos.clone(),
        tokens: repos.clone(),
        one_time: repos.clone(),
        recovery: repos.clone(),
        orgs: repos.clone(),
        sessions: repos,
        hashing,
        audit,
    }
}

impl Services {
    /// Connects to the database (and migrates it) and to Redis if configured.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let target = settings.database_target()?;
        let hashing: Arc<dyn chom_auth::password::Hashing> = match settings.security.hash_slots {
            // On the request thread, fresh memory each time: what this was before; kept as
            // the benchmark's baseline.
            Some(0) => Arc::new(chom_auth::password::InlineHashing),
            Some(n) => Arc::new(crate::hashing::BlockingHashing::new(n)),
            None => Arc::new(crate::hashing::BlockingHashing::per_core()),
        };
        let backend = match target.clone() {
            DatabaseTarget::Postgres(url) => {
                let store = PgStore::connect_with(
                    url.expose_secret(),
                    settings.database.max_connections,
                    Duration::from_millis(settings.database.acquire_timeout_ms.max(1)),
                )
                .await
                .context("connecting to PostgreSQL (database.url)")?;
                store.migrate().await.context("migrating PostgreSQL")?;
                let repos = Arc::new(chom_postgres::PgIdentity::new(store.pool().clone()));
                let audit = Arc::new(chom_postgres::PgAudit::new(store.pool().clone()));
                let trail: Arc<dyn AuditTrail> = audit.clone();
                Backend {
                    store: Arc::new(store.clone()),
                    queue: Arc::new(store.queue()),
                    plans: Arc::new(store.plans()),
                    identity: identity_ports(
                        Arc::new(store.clone()),
                        repos,
                        hashing.clone(),
                        trail.clone(),
                    ),
                    audit: trail,
                    audit_log: audit,
                    team: Arc::new(chom_postgres::PgTeam::new(store.pool().clone())),
                    servers: Arc::new(chom_postgres::PgFleet::new(store.pool().clone())),
                    sites: Arc::new(chom_postgres::PgSites::new(store.pool().clone())),
                    backups: Arc::new(chom_postgres::PgBackups::new(store.pool().clone())),
                    backup_records: Arc::new(chom_postgres::PgBackups::new(store.pool().clone())),
                    idempotency: Arc::new(chom_postgres::PgIdempotency::new(store.pool().clone())),
                }
            }
            DatabaseTarget::Sqlite(path) => {
                let store = SqliteStore::open(&path, settings.database.max_connections)
                    .await
                    .with_context(|| format!("opening SQLite database {}", path.display()))?;
                store.migrate().await.context("migrating SQLite")?;
                let repos = Arc::new(chom_sqlite::SqliteIdentity::new(store.pool().clone()));
                let audit = Arc::new(chom_sqlite::SqliteAudit::new(store.pool().clone()));
                let trail: Arc<dyn AuditTrail> = audit.clone();
                Backend {
                    store: Arc::new(store.clone()),
                    queue: Arc::new(store.queue()),
                    plans: Arc::new(store.plans()),
                    identity: identity_ports(
                        Arc::new(store.clone()),
                        repos,
                        hashing.clone(),
                        trail.clone(),
                    ),
                    audit: trail,
                    audit_log: audit,
                    team: Arc::new(chom_sqlite::SqliteTeam::new(store.pool().clone())),
                    servers: Arc::new(chom_sqlite::SqliteFleet::new(store.pool().clone())),
                    sites: Arc::new(chom_sqlite::SqliteSites::new(store.pool().clone())),
                    backups: Arc::new(chom_sqlite::SqliteBackups::new(store.pool().clone())),
                    backup_records: Arc::new(chom_sqlite::SqliteBackups::new(store.pool().clone())),
                    idempotency: Arc::new(chom_sqlite::SqliteIdempotency::new(
                        store.pool().clone(),
                    )),
                }
            }
        };
        let Backend {
            store,
            queue,
            plans,
            identity: identity_ports,
            servers: vps_repo,
            sites: site_repo,
            backups: schedule_repo,
            backup_records,
            idempotency,
            audit: trail,
            audit_log,
            team: team_repo,
        } = backend;
        let (cache, rate_limiter): (Arc<dyn Cache>, Arc<dyn RateLimiter>) =
            match &settings.redis.url {
                Some(url) => {
                    let conn =
                        RedisConn::new(url.expose_secret(), settings.redis.key_prefix.clone(), 16)
                            .context("redis.url")?;
                    let timeout = Duration::from_millis(250);
                    (
                        Arc::new(Degrading::new(
                            RedisCache(conn.clone()),
                            MemoryCache::default(),
                            timeout,
                        )),
                        Arc::new(Degrading::new(
                            RedisRateLimiter(conn),
                            MemoryRateLimiter::default(),
                            timeout,
                        )),
                    )
                }
                None => (
                    Arc::new(MemoryCache::default()),
                    Arc::new(MemoryRateLimiter::default()),
                ),
            };
        let app_key = encryption_key(settings, &target)?;
        let previous_keys = settings.previous_encryption_keys()?;
        let sealer = Arc::new(Sealer::with_previous(&app_key, &previous_keys)?);
        let recovery_codes = Arc::new(chom_kernel::crypto::KeyedHash::with_previous(
            &app_key,
            &previous_keys,
            chom_tenancy::identity::RECOVERY_CODES_PURPOSE,
        ));
        let key_names = Arc::new(chom_kernel::crypto::KeyedHash::new(
            &app_key,
            "rate-limit keys",
        ));
        let config = IdentityConfig {
            session_cache_ttl: Duration::from_millis(settings.security.session_cache_ms),
            ..IdentityConfig::default()
        };
        let identity = Identity::new(
            identity_ports.clone(),
            sealer.clone(),
            recovery_codes,
            config,
        );
        let orgs = identity_ports.orgs.clone();
        let team = chom_team::Team::new(
            identity_ports.clone(),
            team_repo,
            plans.clone(),
            identity.session_cache(),
        );
        let admin = Administration::new(identity_ports, plans.clone(), identity.session_cache());
        let mailer: Arc<dyn Mailer> = match &settings.mail.smtp_url {
            Some(url) => Arc::new(chom_mail::SmtpMailer::new(
                url.expose_secret(),
                &settings.mail.from,
            )?),
            None => {
                match (&target, settings.mail.log_only) {
                    (DatabaseTarget::Sqlite(db), _) => Arc::new(chom_mail::LogMailer::new(Some(
                        settings.mail.outbox_dir.clone().unwrap_or_else(|| {
                            db.parent().unwrap_or(Path::new(".")).join("outbox")
                        }),
                    ))),
                    (DatabaseTarget::Postgres(_), true) => {
                        Arc::new(chom_mail::LogMailer::new(settings.mail.outbox_dir.clone()))
                    }
                    (DatabaseTarget::Postgres(_), false) => anyhow::bail!(
                        "mail.smtp_url is required with PostgreSQL (set mail.log_only = true to log e-mails, one-time tokens redacted, instead of sending them)"
                    ),
                }
            }
        };
        let public_url =
            settings.mail.public_url.clone().unwrap_or_else(|| {
                format!("http://{}:{}", settings.server.host, settings.server.port)
            });
        // Atomic: chom-api and chom-worker starting together on a fresh install both get the
        // one key pair (`ssh-keygen` itself would ask "Overwrite (y/n)?" and fail the loser).
        if crate::first_start::ssh_key_pair(&settings.ssh.key_file, "chom-control-plane")? {
            tracing::info!(key = %settings.ssh.key_file.display(), "generated the control plane's SSH key");
        }
        let gateway = Arc::new(chom_ssh::SshGateway::new(&settings.ssh));
        let fleet = chom_infrastructure::Fleet::new(
            store.clone(),
            vps_repo.clone(),
            gateway,
            trail.clone(),
        );
        let sites = chom_site_hosting::Sites::new(
            chom_site_hosting::SitesPorts {
                store: store.clone(),
                sites: site_repo.clone(),
                orgs: orgs.clone(),
                plans: plans.clone(),
                servers: vps_repo,
                fleet: fleet.clone(),
                sealer: sealer.clone(),
                audit: trail.clone(),
            },
            chom_site_hosting::SitesConfig {
                acme_email: settings.sites.acme_email.clone(),
                acme_directory: settings.sites.acme_directory.clone(),
                renew_within: Duration::from_secs(
                    u64::from(settings.sites.renew_within_days) * 86_400,
                ),
            },
        );
        let backup_repositories = Arc::new(chom_backup::Repositories::new(
            chom_kernel::crypto::KeyedHash::with_previous(
                &app_key,
                &previous_keys,
                "backup.repository",
            ),
            settings.backup.agent_url(),
        ));
        let backups = chom_backup::Backups::new(chom_backup::service::BackupPorts {
            store: store.clone(),
            schedules: schedule_repo,
            audit: trail,
        })
        .with_work(chom_backup::WorkPorts {
            backups: backup_records,
            sites: site_repo,
            orgs,
            plans: plans.clone(),
            fleet: fleet.clone(),
            sealer: sealer.clone(),
            repositories: backup_repositories.clone(),
            max_backups_per_server: i64::from(settings.backup.max_per_server),
            maintenance: Arc::new(restic_cli(settings)),
        });
        Ok(Self {
            fleet,
            sites,
            backups,
            backup_repositories,
            identity,
            admin,
            audit: chom_team::audit::Audit::new(audit_log),
            team,
            mailer,
            public_url,
            key_names,
            store,
            queue,
            plans,
            cache,
            rate_limiter,
            idempotency,
            sealer,
        })
    }
}

/// restic on this host for pruning, downloads and verifications (with the scratch database
/// the settings name, if any).
fn restic_cli(settings: &Settings) -> chom_restic::ResticCli {
    use secrecy::ExposeSecret as _;
    let cli = chom_restic::ResticCli::new(Duration::from_secs(settings.ssh.backup_timeout_secs));
    let scratch = settings
        .backup
        .verify_database
        .as_ref()
        .map(|u| u.expose_secret().to_owned())
        .filter(|u| !u.is_empty())
        .and_then(|u| chom_restic::ScratchDatabase::parse(&u).ok());
    match scratch {
        Some(server) => cli.with_scratch_database(server),
        None => cli,
    }
}
