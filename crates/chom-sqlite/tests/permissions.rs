//! L10: the database holds password and token hashes, so its files are private to the owner.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_sqlite::SqliteStore;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// The permission bits, in octal (`"600"`).
fn mode(path: &Path) -> String {
    let bits = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", bits & 0o777)
}

fn sibling(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[tokio::test]
async fn l10_the_database_its_wal_and_shm_are_0600_in_a_0700_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Under the usual umask (022) files and directories would be 0644 and 0755 without care.
    let var = dir.path().join("var");
    let db = var.join("chom.db");
    let store = SqliteStore::open(&db, 2).await.unwrap();
    store.migrate().await.unwrap();
    // A write, so the WAL and the shared-memory index exist while the pool is open.
    sqlx::query("CREATE TABLE l10_probe (x INTEGER)")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(mode(&var), "700", "the directory it created");
    for path in [db.clone(), sibling(&db, "-wal"), sibling(&db, "-shm")] {
        assert_eq!(mode(&path), "600", "{}", path.display());
    }
    store.pool().close().await;
}

#[tokio::test]
async fn l10_an_existing_world_readable_database_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chom.db");
    {
        let store = SqliteStore::open(&db, 1).await.unwrap();
        store.migrate().await.unwrap();
        store.pool().close().await;
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = SqliteStore::open(&db, 2).await.unwrap();
    sqlx::query("CREATE TABLE l10_probe (x INTEGER)")
        .execute(store.pool())
        .await
        .unwrap();
    for path in [db.clone(), sibling(&db, "-wal"), sibling(&db, "-shm")] {
        assert_eq!(mode(&path), "600", "{}", path.display());
    }
    assert_eq!(
        mode(dir.path()),
        "755",
        "a directory it did not create is left alone"
    );
    store.pool().close().await;
}
