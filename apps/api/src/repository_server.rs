//! The restic REST server of the sites' backup repositories (`chom-restic-server`), served by
//! `chom-api` on its own listener (`backup.listen`) and opened by the credentials the backup
//! context derives (ADR 0008): each site's append-only one, the control plane's full one.
//! The repositories live under `backup.repository_root`, or in an S3 bucket
//! (`backup.storage = "s3"`): the servers reach only this server either way.

use crate::config::{RepositoryStorage, Settings};
use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use chom_backup::{Access, Repositories};
use chom_restic_server::{Authenticator, Grant, Mode, RepositoryServer, S3Bucket};
use secrecy::ExposeSecret as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

struct Keys(Arc<Repositories>);

impl Authenticator for Keys {
    fn authenticate(&self, user: &str, password: &str) -> Option<Grant> {
        self.0.check(user, password).map(|access| Grant {
            repository: user.to_owned(),
            mode: match access {
                Access::AppendOnly => Mode::AppendOnly,
                Access::Full => Mode::Full,
            },
        })
    }
}

/// Binds `backup.listen` and builds the server (not yet running); `None` when `listen` is
/// empty. When `backup.public_url` is empty, agents are told the address really bound.
///
/// # Errors
/// The address cannot be bound, or the repository directory cannot be made.
pub fn build(
    settings: &Settings,
    repositories: &Arc<Repositories>,
) -> anyhow::Result<Option<(Server, SocketAddr)>> {
    let listen = settings.backup.listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let root = settings.backup.repository_root.clone();
    std::fs::create_dir_all(&root).map_err(|e| {
        anyhow::anyhow!("cannot make backup.repository_root {}: {e}", root.display())
    })?;
    let listener = TcpListener::bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot bind backup.listen {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if settings.backup.public_url.is_empty() {
        repositories.set_public_url(&format!("http://{addr}"));
    }
    let keys = Arc::new(Keys(repositories.clone()));
    let server = match settings.backup.storage {
        RepositoryStorage::Disk => RepositoryServer::new(root, keys),
        RepositoryStorage::S3 => {
            let s3 = &settings.backup.s3;
            let bucket = S3Bucket {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                access_key: s3.access_key.clone(),
                secret_key: s3
                    .secret_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned())
                    .unwrap_or_default(),
                prefix: s3.prefix.clone(),
                path_style: s3.path_style,
            };
            RepositoryServer::on_s3(bucket, root.join(".spool"), keys)
                .map_err(|e| anyhow::anyhow!("backup.s3: {e}"))?
        }
    };
    let server =
        Arc::new(server.with_max_file(settings.backup.max_file_mb.saturating_mul(1 << 20)));
    let http = HttpServer::new(move || App::new().configure(server.clone().configure()))
        .on_connect(chom_restic_server::no_delay)
        .workers(2)
        .listen(listener)?
        .run();
    Ok(Some((http, addr)))
}
