#![doc = include_str!("../README.md")]

mod beneath;
mod commands;
mod fsx;
mod layout;
mod nginx_hash;
mod progress;
mod registry;
mod runner;
mod templates;

use chom_agent_protocol::{AgentError, ErrorCode, PROTOCOL_VERSION, Request, Response};
use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the agent runs with.
pub struct Context {
    /// Where files live.
    pub layout: layout::Layout,
    /// Runs system programs.
    pub runner: Box<dyn runner::Runner>,
}

struct Args {
    root: Option<PathBuf>,
    command: Option<String>,
}

/// Each command with what it does (the request's `command`, also the first argument).
const COMMANDS: &[(&str, &str)] = &[
    ("version", "agent and protocol versions"),
    ("health", "services, disk, memory and load"),
    (
        "stats",
        "uptime, processes, sites, network and disk counters",
    ),
    (
        "security.audit",
        "a security self-audit: score and failed checks",
    ),
    (
        "site.create",
        "create (or converge) a site: files, user, database, pool, vhost",
    ),
    ("app.install", "install the application of the site's type"),
    ("site.delete", "remove everything of a site"),
    ("site.enable", "serve the site"),
    (
        "site.disable",
        "stop serving the site (files and database kept)",
    ),
    ("site.info", "one site's state and disk usage"),
    ("site.list", "every site on this server"),
    ("site.set_php", "move a site to another PHP version"),
    (
        "db.export",
        "dump the site's database into its backups/ directory",
    ),
    (
        "db.optimize",
        "optimize and analyze every table of the site's database",
    ),
    (
        "cache.clear",
        "clear the application's caches (as the site's user) and stale tmp files",
    ),
    (
        "ssl.issue",
        "obtain a certificate over ACME HTTP-01 and serve the site over HTTPS",
    ),
    ("ssl.renew", "renew the site's certificate now"),
    (
        "ssl.status",
        "the site's certificate: issuer, expiry, days left",
    ),
    (
        "backup.create",
        "back the site's files and database up into its restic repository",
    ),
    ("backup.list", "the backups in the site's restic repository"),
    (
        "backup.restore",
        "restore a backup into the site (staged, checked, then swapped in)",
    ),
];

/// What `--help` prints.
fn usage() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let commands: String = COMMANDS
        .iter()
        .map(|(name, what)| format!("  {name:<16}{what}\n"))
        .collect();
    format!(
        "chom-agent {version}: the CHOM control plane's agent on a managed server (protocol {PROTOCOL_VERSION}).\n\
         \n\
         Usage:\n\
         \x20 chom-agent [--root DIR] <command> < request.json\n\
         \x20     one JSON request on stdin (at most 1 MiB), one JSON answer on stdout\n\
         \x20     (backup.create and backup.restore write progress lines before it)\n\
         \x20 chom-agent [--root DIR] serve\n\
         \x20     a session: one request per line, one answer per line (after its progress\n\
         \x20     lines), until stdin closes\n\
         \x20 chom-agent --help | --version\n\
         \n\
         The request names the command too ({{\"protocol\":{PROTOCOL_VERSION},\"command\":\"site.info\",\"params\":{{\"domain\":\"example.com\"}}}});\n\
         when both do they must agree, so sudo rules and process listings show what runs.\n\
         \n\
         Commands:\n\
         {commands}\
         \n\
         Options:\n\
         \x20 --root DIR      sandbox mode: every path under DIR, no users, ownership or reloads\n\
         \x20                 (also CHOM_AGENT_ROOT); for tests and labs, never through sudo\n\
         \x20 -h, --help      print this help and exit\n\
         \x20 -V, --version   print the version and exit\n\
         \n\
         Environment: CHOM_AGENT_DB_HOST, CHOM_AGENT_DB_PORT, CHOM_AGENT_DB_USER (the MariaDB\n\
         client's connection), CHOM_AGENT_ACME_CA_BUNDLE (a private ACME CA to trust).\n\
         \n\
         Exit status: 0 when the answer is ok, 1 when it is an error (its \"code\" says which).\n"
    )
}

/// `--help` or `--version` anywhere on the command line: what to print instead of running.
fn informational(args: &[String]) -> Option<String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        Some(usage())
    } else if args.iter().any(|a| a == "--version" || a == "-V") {
        Some(format!("chom-agent {}\n", env!("CARGO_PKG_VERSION")))
    } else {
        None
    }
}

fn parse_args(args: Vec<String>) -> Result<Args, AgentError> {
    let mut args = args.into_iter();
    let mut out = Args {
        root: None,
        command: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => {
                let dir = args.next().ok_or_else(|| {
                    AgentError::new(ErrorCode::InvalidRequest, "--root needs a directory")
                })?;
                out.root = Some(PathBuf::from(dir));
            }
            other if other.starts_with('-') => {
                return Err(AgentError::new(
                    ErrorCode::InvalidRequest,
                    format!("unknown option {other}"),
                ));
            }
            other => out.command = Some(other.to_owned()),
        }
    }
    if out.root.is_none() {
        // A lab's way to give each test server its own sandbox (set by its sshd's `SetEnv`).
        out.root = std::env::var_os("CHOM_AGENT_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    Ok(out)
}

/// The longest request, in both modes.
const MAX_REQUEST: usize = 1024 * 1024;

fn too_long() -> AgentError {
    AgentError::new(
        ErrorCode::InvalidRequest,
        format!("the request is longer than {MAX_REQUEST} bytes"),
    )
}

/// The one-shot mode: one request on stdin, one answer on stdout.
fn handle(args: Result<Args, AgentError>) -> Result<serde_json::Value, AgentError> {
    let args = args?;
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_REQUEST as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| {
            AgentError::new(ErrorCode::InvalidRequest, format!("cannot read stdin: {e}"))
        })?;
    if raw.len() > MAX_REQUEST {
        return Err(too_long());
    }
    let raw = String::from_utf8(raw)
        .map_err(|_| AgentError::new(ErrorCode::InvalidRequest, "stdin is not UTF-8 text"))?;
    execute(&raw, &args)
}

/// One line of the session, at most `max` bytes (without its newline). A longer line is read
/// to its end and dropped (never held in memory) and answers `Err(too long)`; `None` at the
/// end of input.
fn read_line_capped(
    input: &mut impl std::io::BufRead,
    max: usize,
) -> std::io::Result<Option<Result<Vec<u8>, AgentError>>> {
    let mut line = Vec::new();
    let mut over = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !over {
                None
            } else if over {
                Some(Err(too_long()))
            } else {
                Some(Ok(line))
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !over && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            over = true;
            line = Vec::new();
        }
        let used = done.unwrap_or(buf.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some(if over { Err(too_long()) } else { Ok(line) }));
        }
    }
}

/// Parses and runs one request.
fn execute(raw: &str, args: &Args) -> Result<serde_json::Value, AgentError> {
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
        AgentError::new(ErrorCode::InvalidRequest, format!("stdin is not JSON: {e}"))
    })?;
    if let Some(p) = value.get("protocol").and_then(serde_json::Value::as_u64)
        && p != u64::from(PROTOCOL_VERSION)
    {
        return Err(AgentError::new(
            ErrorCode::UnsupportedProtocol,
            format!("this agent speaks protocol {PROTOCOL_VERSION}, the request {p}"),
        ));
    }
    // From the text, not from `value`: a JSON object keeps only the last of duplicate keys,
    // and the strict parse must see them all.
    drop(value);
    let request: Request = serde_json::from_str(raw)
        .map_err(|e| AgentError::new(ErrorCode::InvalidRequest, format!("invalid request: {e}")))?;
    if let Some(named) = &args.command
        && named != request.command.name()
    {
        return Err(AgentError::new(
            ErrorCode::CommandMismatch,
            format!(
                "the command line says {named}, the request {}",
                request.command.name()
            ),
        ));
    }
    let ctx = Context {
        layout: layout::Layout::new(args.root.clone()),
        runner: Box::new(runner::SystemRunner),
    };
    // One changing command at a time on a server: a control plane that lost its connection
    // (and retried) must not interleave with the run still going on here.
    let _lock = if request.command.changes_server() {
        Some(exclusive(&ctx.layout.lock_file())?)
    } else {
        None
    };
    commands::dispatch(&ctx, &request.command)
}

/// How long a changing command waits for the one before it. Shorter than the control plane's
/// command timeout (120 s by default), so an agent whose caller gave up does not run later,
/// out of order.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Waits (at most [`LOCK_WAIT`]) for, then holds, an exclusive lock on `path` (released when
/// the file is dropped, or by the kernel when the process dies).
fn exclusive(path: &std::path::Path) -> Result<std::fs::File, AgentError> {
    exclusive_within(path, LOCK_WAIT, "another command held the server")
}

/// How long a `backup.create` waits for a run of the same site's backup still going (its caller
/// was killed): long enough for the backups of large sites, shorter than the control plane's
/// backup timeout (`ssh.backup_timeout_secs`, 6 h by default).
pub(crate) const BACKUP_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3 * 3600);

/// Waits (at most `wait`) for, then holds, an exclusive lock on `path`; `BUSY` (`held`, for
/// how long) when it stays taken.
pub(crate) fn exclusive_within(
    path: &std::path::Path,
    wait: std::time::Duration,
    held: &str,
) -> Result<std::fs::File, AgentError> {
    let io =
        |e: std::io::Error| AgentError::new(ErrorCode::Io, format!("lock {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AgentError::new(
                    ErrorCode::Busy,
                    format!("{held} for {} s; nothing was done", wait.as_secs()),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// Runs `f`, turning a panic into an `INTERNAL` answer.
fn respond(f: impl FnOnce() -> Result<serde_json::Value, AgentError>) -> Response {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(data)) => Response::ok(data),
        Ok(Err(e)) => Response::error(e),
        Err(_) => Response::error(AgentError::new(
            ErrorCode::Internal,
            "the agent panicked; see its stderr",
        )),
    }
}

fn encode(response: &Response) -> String {
    serde_json::to_string(response).unwrap_or_else(|_| {
        r#"{"ok":false,"protocol":1,"error":{"code":"INTERNAL","message":"cannot encode the response"}}"#.to_owned()
    })
}

/// The session mode (`chom-agent [--root DIR] serve`): one request per line on stdin, one answer
/// per line on stdout, until stdin closes. The control plane keeps one such session per server
/// for changing commands, saving an SSH round trip per command.
fn serve(args: &Args) -> ExitCode {
    let one = Args {
        root: args.root.clone(),
        command: None,
    };
    let mut stdout = std::io::stdout().lock();
    let mut stdin = std::io::stdin().lock();
    // Each line at most MAX_REQUEST bytes, like the one-shot mode's stdin: a longer one is
    // answered INVALID_REQUEST and the session goes on with the next line.
    while let Ok(Some(line)) = read_line_capped(&mut stdin, MAX_REQUEST) {
        let line = line.and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| AgentError::new(ErrorCode::InvalidRequest, "the line is not UTF-8"))
        });
        if line.as_ref().is_ok_and(|l| l.trim().is_empty()) {
            continue;
        }
        let response = respond(|| execute(&line?, &one));
        if writeln!(stdout, "{}", encode(&response)).is_err() || stdout.flush().is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    // A panic must still produce a JSON answer: silence the default hook (stderr noise is fine,
    // but stdout must hold exactly one document per request) and catch it.
    std::panic::set_hook(Box::new(|info| eprintln!("chom-agent: panic: {info}")));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(commands::backup::writer::ARG) {
        return commands::backup::writer::main();
    }
    if let Some(text) = informational(&argv) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
        return ExitCode::SUCCESS;
    }
    let args = parse_args(argv);
    if let Ok(a) = &args
        && a.command.as_deref() == Some("serve")
    {
        return serve(a);
    }
    let response = respond(|| handle(args));
    let ok = response.ok;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", encode(&response));
    let _ = stdout.flush();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chom_agent_protocol::backup::{
        BackupCreate, BackupKind, BackupList, BackupRestore, RepositoryAccess, Tag,
    };
    use chom_agent_protocol::{
        Command, Domain, PhpVersion, SetPhp, SiteRef, SiteSpec, SiteType, SslRequest,
    };

    fn access() -> RepositoryAccess {
        RepositoryAccess {
            location: "/srv/repo".into(),
            password: "p".into(),
            environment: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn the_help_lists_every_command_of_the_protocol() {
        let domain = Domain::parse("example.com").unwrap();
        let site = || SiteRef {
            domain: domain.clone(),
        };
        let every = [
            Command::Version,
            Command::Health,
            Command::SiteCreate(SiteSpec {
                domain: domain.clone(),
                site_type: SiteType::Html,
                php_version: PhpVersion::V82,
            }),
            Command::AppInstall(site()),
            Command::SiteDelete(site()),
            Command::SiteEnable(site()),
            Command::SiteDisable(site()),
            Command::SiteInfo(site()),
            Command::SiteList,
            Command::SiteSetPhp(SetPhp {
                domain: domain.clone(),
                php_version: PhpVersion::V84,
            }),
            Command::DbExport(site()),
            Command::DbOptimize(site()),
            Command::CacheClear(site()),
            Command::SslIssue(SslRequest {
                domain: domain.clone(),
                email: "a@example.com".into(),
                directory_url: None,
            }),
            Command::SslRenew(site()),
            Command::SslStatus(site()),
            Command::Stats,
            Command::SecurityAudit,
            Command::BackupCreate(BackupCreate {
                domain: domain.clone(),
                backup_id: Tag::parse("b1").unwrap(),
                kind: BackupKind::Full,
                exclude: Vec::new(),
                repository: access(),
            }),
            Command::BackupList(BackupList {
                domain: domain.clone(),
                repository: access(),
            }),
            Command::BackupRestore(BackupRestore {
                domain: domain.clone(),
                backup_id: Tag::parse("b1").unwrap(),
                restore_id: Tag::parse("r1").unwrap(),
                kind: BackupKind::Full,
                dry_run: false,
                repository: access(),
            }),
        ];
        // A new variant makes this match fail to compile until it is listed above.
        for c in &every {
            match c {
                Command::Version
                | Command::Health
                | Command::SiteCreate(_)
                | Command::AppInstall(_)
                | Command::SiteDelete(_)
                | Command::SiteEnable(_)
                | Command::SiteDisable(_)
                | Command::SiteInfo(_)
                | Command::SiteList
                | Command::SiteSetPhp(_)
                | Command::DbExport(_)
                | Command::DbOptimize(_)
                | Command::CacheClear(_)
                | Command::SslIssue(_)
                | Command::SslRenew(_)
                | Command::SslStatus(_)
                | Command::Stats
                | Command::SecurityAudit
                | Command::BackupCreate(_)
                | Command::BackupList(_)
                | Command::BackupRestore(_) => {}
            }
        }
        let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
        let mut expected: Vec<&str> = every.iter().map(Command::name).collect();
        let mut listed = names.clone();
        expected.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, expected);
    }
}
