//! The request and response documents.

use crate::names::{Domain, PhpVersion, SiteType};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. A request with another version is refused with
/// `UNSUPPORTED_PROTOCOL` (the control plane then re-bootstraps the agent).
pub const PROTOCOL_VERSION: u32 = 1;

/// A site to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// The domain.
    pub domain: Domain,
    /// Application type.
    pub site_type: SiteType,
    /// PHP version of its pool.
    pub php_version: PhpVersion,
}

/// A site, by domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRef {
    /// The domain.
    pub domain: Domain,
}

/// A PHP version change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPhp {
    /// The domain.
    pub domain: Domain,
    /// The new version.
    pub php_version: PhpVersion,
}

/// A certificate to obtain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslRequest {
    /// The domain (its `www.` name is included).
    pub domain: Domain,
    /// The ACME account's contact e-mail.
    pub email: String,
    /// The ACME directory (default: Let's Encrypt production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_url: Option<String>,
}

/// What the agent is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", content = "params")]
pub enum Command {
    /// Agent and protocol versions.
    #[serde(rename = "version")]
    Version,
    /// Services, disk, memory, load.
    #[serde(rename = "health")]
    Health,
    /// Create (or converge) a site.
    #[serde(rename = "site.create")]
    SiteCreate(SiteSpec),
    /// Install the application of the site's type (WordPress core via wp-cli when the server
    /// has it, the Laravel layout, the static placeholder); converges when repeated.
    #[serde(rename = "app.install")]
    AppInstall(SiteRef),
    /// Remove everything of a site.
    #[serde(rename = "site.delete")]
    SiteDelete(SiteRef),
    /// Serve the site.
    #[serde(rename = "site.enable")]
    SiteEnable(SiteRef),
    /// Stop serving the site (files and database kept).
    #[serde(rename = "site.disable")]
    SiteDisable(SiteRef),
    /// One site's state.
    #[serde(rename = "site.info")]
    SiteInfo(SiteRef),
    /// Every site on this server.
    #[serde(rename = "site.list")]
    SiteList,
    /// Move a site to another PHP version.
    #[serde(rename = "site.set_php")]
    SiteSetPhp(SetPhp),
    /// Dump the site's database to a file in the site's `backups/` directory.
    #[serde(rename = "db.export")]
    DbExport(SiteRef),
    /// Optimize (and analyze) every table of the site's database.
    #[serde(rename = "db.optimize")]
    DbOptimize(SiteRef),
    /// Clear the application's caches, as the site's user (never as root).
    #[serde(rename = "cache.clear")]
    CacheClear(SiteRef),
    /// Obtain a certificate over ACME HTTP-01 (webroot) and serve the site over HTTPS.
    #[serde(rename = "ssl.issue")]
    SslIssue(SslRequest),
    /// Renew the site's certificate now.
    #[serde(rename = "ssl.renew")]
    SslRenew(SiteRef),
    /// The site's certificate: issuer, expiry, days left.
    #[serde(rename = "ssl.status")]
    SslStatus(SiteRef),
    /// Uptime, processes, sites, network and disk counters.
    #[serde(rename = "stats")]
    Stats,
    /// A security self-audit (score and failed checks); never fails.
    #[serde(rename = "security.audit")]
    SecurityAudit,
    /// Back the site up into its repository (files, database, manifest).
    #[serde(rename = "backup.create")]
    BackupCreate(crate::backup::BackupCreate),
    /// The backups in the site's repository.
    #[serde(rename = "backup.list")]
    BackupList(crate::backup::BackupList),
    /// Restore a backup into the site (staged, then swapped in), or report what would change.
    #[serde(rename = "backup.restore")]
    BackupRestore(crate::backup::BackupRestore),
}

impl Command {
    /// Whether the command changes the server. Such commands run one at a time on a server
    /// (the agent's lock), so the control plane sends them over one long-lived agent session
    /// per server; read-only ones run alongside.
    #[must_use]
    pub fn changes_server(&self) -> bool {
        !matches!(
            self,
            Self::Version
                | Self::Health
                | Self::SiteInfo(_)
                | Self::SiteList
                | Self::SslStatus(_)
                | Self::Stats
                | Self::SecurityAudit
                | Self::BackupList(_)
                // It reads the site and writes only to the repository: a long backup must not
                // hold up the server's changes.
                | Self::BackupCreate(_)
        )
    }

    /// The command's name (`site.create`), also the agent's first argument so `sudo` rules and
    /// process listings show what runs.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Health => "health",
            Self::SiteCreate(_) => "site.create",
            Self::AppInstall(_) => "app.install",
            Self::SiteDelete(_) => "site.delete",
            Self::SiteEnable(_) => "site.enable",
            Self::SiteDisable(_) => "site.disable",
            Self::SiteInfo(_) => "site.info",
            Self::SiteList => "site.list",
            Self::SiteSetPhp(_) => "site.set_php",
            Self::DbExport(_) => "db.export",
            Self::DbOptimize(_) => "db.optimize",
            Self::CacheClear(_) => "cache.clear",
            Self::SslIssue(_) => "ssl.issue",
            Self::SslRenew(_) => "ssl.renew",
            Self::SslStatus(_) => "ssl.status",
            Self::Stats => "stats",
            Self::SecurityAudit => "security.audit",
            Self::BackupCreate(_) => "backup.create",
            Self::BackupList(_) => "backup.list",
            Self::BackupRestore(_) => "backup.restore",
        }
    }
}

/// One request (the agent's stdin). Strict at every level: the params structs deny unknown
/// fields, and at the top level (which a derive cannot make strict, the command being
/// flattened) an unknown key or a key given twice (`"command"` twice: which one would run?) is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Protocol version of the sender.
    pub protocol: u32,
    /// Correlation id, echoed in the agent's log lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

/// The keys a request may have, each at most once.
const REQUEST_KEYS: [&str; 4] = ["protocol", "request_id", "command", "params"];

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Strict;
        impl<'de> serde::de::Visitor<'de> for Strict {
            type Value = Request;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a request object with protocol, command and params")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Request, A::Error> {
                use serde::de::Error;
                let mut seen = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !REQUEST_KEYS.contains(&key.as_str()) {
                        return Err(A::Error::unknown_field(&key, &REQUEST_KEYS));
                    }
                    if seen.contains_key(&key) {
                        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    let value = map.next_value::<serde_json::Value>()?;
                    seen.insert(key, value);
                }
                let protocol = seen
                    .remove("protocol")
                    .ok_or_else(|| A::Error::missing_field("protocol"))
                    .and_then(|v| serde_json::from_value(v).map_err(A::Error::custom))?;
                let request_id = match seen.remove("request_id") {
                    Some(v) => serde_json::from_value(v).map_err(A::Error::custom)?,
                    None => None,
                };
                // What is left is `command` and `params`: the adjacently tagged enum.
                let command = serde_json::from_value(serde_json::Value::Object(seen))
                    .map_err(A::Error::custom)?;
                Ok(Request {
                    protocol,
                    request_id,
                    command,
                })
            }
        }
        deserializer.deserialize_map(Strict)
    }
}

impl Request {
    /// A request for `command` at this build's protocol version.
    #[must_use]
    pub fn new(command: Command) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            request_id: None,
            command,
        }
    }
}

/// Stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request is not valid JSON of the protocol (unknown command, missing field…).
    InvalidRequest,
    /// The request speaks another protocol version.
    UnsupportedProtocol,
    /// The command named on the command line differs from the one in the request.
    CommandMismatch,
    /// A domain outside the grammar.
    InvalidDomain,
    /// No such site on this server.
    SiteNotFound,
    /// A generated nginx or PHP-FPM configuration failed its own test; nothing was reloaded.
    ConfigTestFailed,
    /// A system program failed.
    CommandFailed,
    /// Reading or writing files failed.
    Io,
    /// A path in a site's tree is a symlink (or another kind of file) where the agent expected
    /// its own directory or file: the site's user planted it, and the agent, running as root,
    /// refuses to follow it. Nothing was done there.
    UnsafePath,
    /// Another changing command held the server too long; nothing was done, try again.
    Busy,
    /// The site's repository could not be opened or written (address, credential, password,
    /// network); nothing of the site was changed.
    RepositoryFailed,
    /// The backup's data failed its checks (a pack's hash, a file's SHA-256 against the
    /// manifest, a table's row count); nothing of the site was changed.
    BackupCorrupted,
    /// No such backup in the repository.
    BackupNotFound,
    /// A bug: the agent panicked.
    Internal,
}

impl ErrorCode {
    /// The code as the wire spells it (`COMMAND_FAILED`): what the control plane shows.
    #[must_use]
    pub fn wire(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{self:?}"))
    }
}

/// A failure, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct AgentError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human explanation (may include a tool's output).
    pub message: String,
}

impl AgentError {
    /// An error.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One response (the agent's stdout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Success.
    pub ok: bool,
    /// Protocol version of the agent.
    pub protocol: u32,
    /// The command's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AgentError>,
}

impl Response {
    /// A success.
    #[must_use]
    pub fn ok(data: serde_json::Value) -> Self {
        Self {
            ok: true,
            protocol: PROTOCOL_VERSION,
            data: Some(data),
            error: None,
        }
    }

    /// A failure.
    #[must_use]
    pub fn error(error: AgentError) -> Self {
        Self {
            ok: false,
            protocol: PROTOCOL_VERSION,
            data: None,
            error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_shape() {
        let r = Request::new(Command::SiteCreate(SiteSpec {
            domain: Domain::parse("example.com").unwrap(),
            site_type: SiteType::Wordpress,
            php_version: PhpVersion::V84,
        }));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"protocol": 1, "command": "site.create",
                "params": {"domain": "example.com", "site_type": "wordpress", "php_version": "8.4"}})
        );
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), r);
        let list: Request =
            serde_json::from_str(r#"{"protocol":1,"command":"site.list"}"#).unwrap();
        assert_eq!(list.command, Command::SiteList);
    }

    #[test]
    fn invalid_values_are_parse_errors() {
        for bad in [
            r#"{"protocol":1,"command":"site.create","params":{"domain":"a;rm -rf /.com","site_type":"html","php_version":"8.2"}}"#,
            r#"{"protocol":1,"command":"site.create","params":{"domain":"a.com","site_type":"php","php_version":"8.2"}}"#,
            r#"{"protocol":1,"command":"site.create","params":{"domain":"a.com","site_type":"html","php_version":"7.4"}}"#,
            r#"{"protocol":1,"command":"site.create","params":{"domain":"a.com","site_type":"html","php_version":"8.2","x":1}}"#,
            r#"{"protocol":1,"command":"rm"}"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn l9_the_top_level_is_strict() {
        for bad in [
            r#"{"protocol":1,"command":"version","evil":1}"#,
            r#"{"protocol":1,"command":"version","command":"stats"}"#,
            r#"{"protocol":1,"protocol":1,"command":"version"}"#,
            r#"{"protocol":1,"command":"site.info","params":{"domain":"a.com"},"params":{"domain":"b.com"}}"#,
            r#"{"protocol":1,"request_id":"a","request_id":"b","command":"version"}"#,
            r#"{"command":"version"}"#,
            r#"[1,"version"]"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
        let ok: Request =
            serde_json::from_str(r#"{"request_id":"r1","command":"version","protocol":1}"#)
                .unwrap();
        assert_eq!(
            (ok.command, ok.request_id.as_deref()),
            (Command::Version, Some("r1"))
        );
        let e = serde_json::from_str::<Request>(r#"{"protocol":1,"command":"version","evil":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("evil"), "{e}");
    }

    #[test]
    fn error_codes_are_screaming_snake_case() {
        let r = Response::error(AgentError::new(ErrorCode::ConfigTestFailed, "nginx: bad"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["error"]["code"], "CONFIG_TEST_FAILED");
        assert_eq!(json["ok"], false);
    }
}
