//! The site's database: SQL through the MariaDB client on stdin, the database and its user
//! created (with a fresh password) or dropped.

use crate::runner::Runner;
use chom_agent_protocol::{AgentError, ErrorCode, SiteNames};
use rand::Rng;
use rand::distr::Alphanumeric;

pub(in crate::commands) fn db_client_args() -> Vec<String> {
    let mut args = vec!["--batch".to_owned(), "--skip-column-names".to_owned()];
    for (var, flag) in [
        ("CHOM_AGENT_DB_HOST", "--host"),
        ("CHOM_AGENT_DB_PORT", "--port"),
        ("CHOM_AGENT_DB_USER", "--user"),
    ] {
        if let Ok(v) = std::env::var(var) {
            args.push(format!("{flag}={v}"));
        }
    }
    args
}

/// [`db_client_args`] minus the options only `mariadb` (not the dump and check tools) accepts,
/// then `extra`.
pub(in crate::commands) fn db_tool_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = db_client_args()
        .into_iter()
        .filter(|a| a != "--batch" && a != "--skip-column-names")
        .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Runs SQL through the MariaDB client on stdin (never as an argument, never through a shell).
pub(in crate::commands) fn sql(
    runner: &dyn Runner,
    statements: &str,
) -> Result<String, AgentError> {
    let args = db_client_args();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = runner.run("mariadb", &argv, Some(statements))?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!("mariadb: {}", out.stderr.trim()),
        ))
    }
}

/// Creates (or converges) the database and its user; returns a fresh password, set now.
pub(super) fn ensure_database(
    runner: &dyn Runner,
    names: &SiteNames,
) -> Result<String, AgentError> {
    // Names are derived identifiers ([a-z0-9_]) and the password is alphanumeric: nothing here
    // can break out of the quotes.
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let (db, user) = (&names.database, &names.database_user);
    sql(
        runner,
        &format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n\
             CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';\n\
             ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'localhost';\n"
        ),
    )?;
    Ok(password)
}

pub(super) fn drop_database(runner: &dyn Runner, names: &SiteNames) -> Result<(), AgentError> {
    sql(
        runner,
        &format!(
            "DROP DATABASE IF EXISTS `{}`;\nDROP USER IF EXISTS '{}'@'localhost';\n",
            names.database, names.database_user
        ),
    )
    .map(drop)
}
