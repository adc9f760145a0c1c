//! The pool, migrations and units of work.

use crate::error::map_err;
use crate::queue::{SqliteJobQueue, enqueue_in};
use async_trait::async_trait;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork};
use chom_kernel::{JobId, StoreError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::any::Any;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The SQLite schema, embedded.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    enqueued: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. The file holds password and token
    /// hashes: a directory this creates is 0700, the database file is 0600 (and SQLite gives
    /// its `-wal` and `-shm` files the database file's mode).
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        create_private(path).map_err(StoreError::Unavailable)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The first connection may turn the file to WAL mode, which SQLite refuses at once (busy,
        // no waiting) while another process opens the same file: processes starting together
        // take turns.
        let turn = directory_lock(path)
            .await
            .map_err(StoreError::Unavailable)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        drop(turn);
        Ok(Self {
            pool,
            enqueued: Arc::new(watch::channel(0).0),
        })
    }

    /// Applies pending migrations. Processes migrating one database file at once (chom-api and
    /// chom-worker started together on a fresh install) take turns (`directory_lock`): sqlx
    /// does not lock SQLite migrations, so each would try to apply them all; the second finds
    /// them applied.
    ///
    /// # Errors
    /// A migration failed or was modified after being applied; the lock cannot be taken.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let options = self.pool.connect_options();
        let turn = directory_lock(options.get_filename()).await?;
        MIGRATOR.run(&self.pool).await?;
        drop(turn);
        Ok(())
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The job queue on this database (sharing this store's wake-up signal).
    #[must_use]
    pub fn queue(&self) -> SqliteJobQueue {
        SqliteJobQueue::new(self.pool.clone(), self.enqueued.clone())
    }
}

/// Creates the database's missing directories (0700) and the empty database file (0600), so
/// sqlx opens a file only its owner can read. An existing database readable by others is made
/// private, with its `-wal` and `-shm` files.
fn create_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| anyhow::anyhow!("cannot make {} private: {e}", file.display()))?;
            tracing::warn!(
                path = %file.display(),
                was = format_args!("{:o}", mode & 0o777),
                "the database file was readable by others; made it private"
            );
        }
    }
    Ok(())
}

/// An exclusive `flock` on the directory of the database file `db`, held until the returned
/// file is dropped: the start-up steps SQLite does not serialise between processes (turning the
/// file to WAL mode, migrations) run one process at a time. The directory, not the database
/// file: another descriptor of the database file would disturb SQLite's own POSIX locks.
async fn directory_lock(db: &Path) -> anyhow::Result<std::fs::File> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let locked = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&dir)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await?;
    locked.map_err(|e| anyhow::anyhow!("cannot lock the database directory: {e}"))
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        Ok(Box::new(SqliteUnitOfWork {
            tx,
            enqueued: 0,
            signal: self.enqueued.clone(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// One SQLite transaction (holding the write lock).
#[derive(Debug)]
pub struct SqliteUnitOfWork {
    tx: Transaction<'static, Sqlite>,
    enqueued: u64,
    signal: Arc<watch::Sender<u64>>,
}

impl SqliteUnitOfWork {
    /// The connection of the transaction, for repositories.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnitOfWork {
    async fn enqueue(&mut self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        let id = enqueue_in(&mut self.tx, &job).await?;
        if id.is_some() {
            self.enqueued += 1;
        }
        Ok(id)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self {
            tx,
            enqueued,
            signal,
        } = *self;
        tx.commit().await.map_err(map_err)?;
        if enqueued > 0 {
            signal.send_modify(|n| *n = n.wrapping_add(enqueued));
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(map_err)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
