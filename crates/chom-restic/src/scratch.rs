//! A scratch MariaDB database on the worker's host: a backup's dump is loaded into it as it
//! streams out of the repository, each table's rows counted with SQL, then it is dropped
//! (whatever happened). The client is `mariadb` (Debian's `mariadb-client`); the password, if
//! any, reaches it in its own environment (`MYSQL_PWD`), never its argv.

use std::collections::BTreeMap;
use std::process::Stdio;
use tokio::process::Command;

/// Where scratch databases are made.
#[derive(Clone)]
pub struct ScratchDatabase {
    /// Host (`127.0.0.1`).
    pub host: String,
    /// Port (3306).
    pub port: u16,
    /// A user allowed to create and drop databases.
    pub user: String,
    /// Its password.
    pub password: Option<String>,
}

impl std::fmt::Debug for ScratchDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDatabase")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl ScratchDatabase {
    /// Reads `mysql://user[:password]@host[:port]` (or `mariadb://…`).
    ///
    /// # Errors
    /// Another shape.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or("must start with mysql:// or mariadb://")?;
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = rest
            .rsplit_once('@')
            .ok_or("must name a user: mysql://user@host")?;
        let (user, password) = match credentials.split_once(':') {
            Some((u, p)) => (u, Some(p.to_owned())),
            None => (credentials, None),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| "the port is not a number")?),
            None => (address, 3306),
        };
        if user.is_empty() || host.is_empty() {
            return Err("must name a user and a host".into());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            password,
        })
    }

    /// `mariadb` against this server (batch output, no column names).
    pub(crate) fn client(&self) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--batch", "--skip-column-names", "--protocol=TCP"])
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={}", self.user))
            .env_remove("MYSQL_PWD")
            .kill_on_drop(true);
        if let Some(p) = &self.password {
            cmd.env("MYSQL_PWD", p);
        }
        cmd
    }

    /// Runs `sql`; its output.
    pub(crate) async fn sql(&self, sql: &str) -> Result<String, String> {
        let out = self
            .client()
            .args(["-e", sql])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run mariadb: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "mariadb: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Each table of `database` with its row count (`COUNT(*)`, exact).
    pub(crate) async fn rows(&self, database: &str) -> Result<BTreeMap<String, u64>, String> {
        let tables = self
            .sql(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}' AND table_type = 'BASE TABLE'"
            ))
            .await?;
        let mut rows = BTreeMap::new();
        for table in tables.lines().map(str::trim).filter(|t| !t.is_empty()) {
            let quoted = table.replace('`', "``");
            let n = self
                .sql(&format!("SELECT COUNT(*) FROM `{database}`.`{quoted}`"))
                .await?;
            let n = n
                .trim()
                .parse()
                .map_err(|_| format!("COUNT(*) of {table}: {n:?}"))?;
            rows.insert(table.to_owned(), n);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::ScratchDatabase;

    #[test]
    fn addresses_are_read_with_their_parts() {
        let s = ScratchDatabase::parse("mysql://root@127.0.0.1:3306").unwrap();
        assert_eq!(
            (s.user.as_str(), s.password, s.host.as_str(), s.port),
            ("root", None, "127.0.0.1", 3306)
        );
        let s = ScratchDatabase::parse("mariadb://verify:s3cr:et@db.internal").unwrap();
        assert_eq!(
            (
                s.user.as_str(),
                s.password.as_deref(),
                s.host.as_str(),
                s.port
            ),
            ("verify", Some("s3cr:et"), "db.internal", 3306)
        );
        assert!(!format!("{s:?}").contains("s3cr"));
        for bad in [
            "postgres://x@y",
            "mysql://host",
            "mysql://u@h:port",
            "mysql://@h",
        ] {
            assert!(ScratchDatabase::parse(bad).is_err(), "{bad}");
        }
    }
}
