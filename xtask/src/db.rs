//! `cargo xtask db migrate|reset`, on the database the configuration selects.

use chom_runtime::config::{DatabaseTarget, Settings};
use clap::Subcommand;
use secrecy::ExposeSecret;

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Apply pending migrations.
    Migrate,
    /// Drop everything and migrate from scratch (development only!).
    Reset,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs `action`.
pub fn run(action: Action) -> anyhow::Result<()> {
    let settings = Settings::load(None)?;
    let target = settings.database_target()?;
    runtime()?.block_on(async {
        if matches!(action, Action::Reset) {
            match &target {
                DatabaseTarget::Sqlite(path) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let file = format!("{}{suffix}", path.display());
                        match std::fs::remove_file(&file) {
                            Ok(()) => println!("removed {file}"),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(anyhow::anyhow!("removing {file}: {e}")),
                        }
                    }
                }
                DatabaseTarget::Postgres(url) => {
                    let store = chom_postgres::PgStore::connect(url.expose_secret(), 2).await?;
                    sqlx_reset(&store).await?;
                    println!("dropped schema public");
                }
            }
        }
        // Only the migrations matter here: no mail is sent.
        let mut settings = settings;
        settings.mail.log_only = true;
        chom_runtime::Services::from_settings(&settings).await?;
        println!(
            "migrations applied ({})",
            match target {
                DatabaseTarget::Sqlite(p) => format!("SQLite {}", p.display()),
                DatabaseTarget::Postgres(_) => "PostgreSQL".to_owned(),
            }
        );
        Ok(())
    })
}

async fn sqlx_reset(store: &chom_postgres::PgStore) -> anyhow::Result<()> {
    chom_postgres::testing::reset_schema(store).await
}

/// Creates a PostgreSQL database on the local server if it does not exist.
pub fn create_postgres_database(name: &str) -> anyhow::Result<()> {
    let exists = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-Atc"])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{name}'"
        ))
        .output()?;
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        crate::util::run("createdb", &["-h", "127.0.0.1", "-U", "postgres", name])?;
    }
    Ok(())
}
