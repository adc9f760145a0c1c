//! Driving Debian's `restic` (ADR 0008). The repository's location (which carries its
//! credential) and password reach restic through pipes it reads as `/dev/fd/N`, never argv nor
//! its environment; restic's environment is cleared but for `PATH` and the S3 names the
//! request may give. restic reads and restores (`backup.list`, `backup.restore`); backups are
//! written by the backup writer (ADR 0011).

use chom_agent_protocol::backup::{REPOSITORY_ENVIRONMENT, RepositoryAccess};
use chom_agent_protocol::{AgentError, ErrorCode};
use serde::Deserialize;
use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::process::{Child, Command, Stdio};

/// What a snapshot is (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Snapshot {
    pub id: String,
    pub time: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Snapshot {
    /// The value of the tag `key=value`.
    pub(super) fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Reads `pipe` to its end on a thread of its own (so the process writing it never blocks on
/// a full pipe while this one is busy feeding or reading another): what it held, as text.
pub(super) fn drain<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut text);
        }
        text
    })
}

/// restic, opening one repository.
pub(super) struct Restic<'a> {
    access: &'a RepositoryAccess,
}

/// What restic's messages say went wrong. A message that names the network or the server
/// failing says nothing about the data, whatever else it holds: a connection cut mid-pack
/// also ends in "unexpected EOF".
pub(super) fn classify(stderr: &str) -> ErrorCode {
    let s = stderr.to_ascii_lowercase();
    let unreachable = [
        "connection refused",
        "connection reset",
        "dial tcp",
        "no such host",
        "i/o timeout",
        "context deadline exceeded",
        "tls handshake",
        "unexpected http response (5",
        "server response unexpected: 5",
    ];
    if unreachable.iter().any(|c| s.contains(c)) {
        return ErrorCode::RepositoryFailed;
    }
    let corrupted = [
        "ciphertext verification failed",
        "hash does not match",
        "does not match",
        "checksum",
        "corrupt",
        "invalid data returned",
        "pack file cannot be listed",
        "unexpected eof",
        "contains errors",
    ];
    if corrupted.iter().any(|c| s.contains(c)) {
        ErrorCode::BackupCorrupted
    } else {
        ErrorCode::RepositoryFailed
    }
}

fn failed(what: &str, code: ErrorCode, stderr: &str) -> AgentError {
    // restic's messages name files and snapshots, never the pipes' content.
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    AgentError::new(code, format!("restic {what}: {}", tail.join(" | ")))
}

/// A pipe holding `content`, its read end inheritable (restic reopens it as `/dev/fd/N`).
fn secret(content: &str) -> Result<std::io::PipeReader, AgentError> {
    let io = |e: std::io::Error| AgentError::new(ErrorCode::Io, format!("pipe: {e}"));
    let (reader, mut writer) = std::io::pipe().map_err(io)?;
    // Far below a pipe's capacity: written whole before restic starts, then closed (EOF).
    writer.write_all(content.as_bytes()).map_err(io)?;
    drop(writer);
    rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty()).map_err(|e| io(e.into()))?;
    Ok(reader)
}

/// A request's repository access, as every repository command takes it: a location and a
/// password, and no environment name but [`REPOSITORY_ENVIRONMENT`]'s.
///
/// # Errors
/// `INVALID_REQUEST`.
pub(super) fn check_access(access: &RepositoryAccess) -> Result<(), AgentError> {
    if let Some(bad) = access
        .environment
        .keys()
        .find(|k| !REPOSITORY_ENVIRONMENT.contains(&k.as_str()))
    {
        return Err(AgentError::new(
            ErrorCode::InvalidRequest,
            format!("repository.environment: {bad} is not one restic is given"),
        ));
    }
    if access.location.is_empty() || access.password.is_empty() {
        return Err(AgentError::new(
            ErrorCode::InvalidRequest,
            "repository: location and password are required",
        ));
    }
    Ok(())
}

impl<'a> Restic<'a> {
    /// restic for `access`, run as root.
    ///
    /// # Errors
    /// `INVALID_REQUEST` for an environment name restic must not get.
    pub(super) fn new(access: &'a RepositoryAccess) -> Result<Self, AgentError> {
        check_access(access)?;
        Ok(Self { access })
    }

    /// The repository this restic is for.
    pub(super) fn access(&self) -> &RepositoryAccess {
        self.access
    }

    /// restic with `args`, the repository's location and password on pipes.
    pub(super) fn spawn(
        &self,
        args: &[String],
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<Child, AgentError> {
        let password = secret(&self.access.password)?;
        let location = secret(&self.access.location)?;
        let mut cmd = Command::new("restic");
        cmd.arg(format!("--password-file=/dev/fd/{}", password.as_raw_fd()))
            .arg(format!(
                "--repository-file=/dev/fd/{}",
                location.as_raw_fd()
            ))
            .args(["--no-cache", "--json"])
            .args(args)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            )
            .env("HOME", "/nonexistent")
            .envs(&self.access.environment)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| {
            AgentError::new(
                ErrorCode::CommandFailed,
                format!("cannot run restic (is it installed?): {e}"),
            )
        });
        drop((password, location));
        child
    }

    /// Runs restic with `args` to the end: its standard output.
    ///
    /// # Errors
    /// `REPOSITORY_FAILED` or `BACKUP_CORRUPTED` (from its messages), `COMMAND_FAILED`.
    pub(super) fn run(&self, what: &str, args: &[String]) -> Result<String, AgentError> {
        // Each run opens the repository: restic derives its key (scrypt, ~0.8 s here) every
        // time, so callers keep the number of runs per command low.
        let child = self.spawn(args, Stdio::null(), Stdio::piped())?;
        let out = child.wait_with_output().map_err(|e| {
            AgentError::new(ErrorCode::CommandFailed, format!("restic {what}: {e}"))
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(failed(what, classify(&stderr), &stderr))
        }
    }

    /// Makes the repository when `e` (of a command that opened it) says there is none.
    ///
    /// # Errors
    /// `e` itself when it says something else; `REPOSITORY_FAILED` when `init` fails.
    pub(super) fn snapshots(&self, tags: &[String]) -> Result<Vec<Snapshot>, AgentError> {
        let mut args = vec!["snapshots".to_owned()];
        if !tags.is_empty() {
            args.push(format!("--tag={}", tags.join(",")));
        }
        let out = self.run("snapshots", &args)?;
        serde_json::from_str(out.trim()).map_err(|e| {
            AgentError::new(
                ErrorCode::CommandFailed,
                format!("restic snapshots: unreadable answer: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// restic's own words: damaged data is `BACKUP_CORRUPTED`; the network or the server
    /// failing is `REPOSITORY_FAILED`, even where the cut left an "unexpected EOF" behind.
    #[test]
    fn a_server_failing_is_not_a_corrupted_backup() {
        for corrupted in [
            "Load(<data/1a2b3c>, 0, 0): ciphertext verification failed",
            "pack 1a2b3c: Hash does not match id",
            "Load(<data/1a2b3c>, 100, 0) returned error, retrying after 720ms: unexpected EOF",
            "Fatal: repository contains errors",
        ] {
            assert_eq!(
                classify(corrupted),
                ErrorCode::BackupCorrupted,
                "{corrupted}"
            );
        }
        for unreachable in [
            r#"Load(<data/1a2b3c>, 0, 0) returned error, retrying after 552ms: Get "http://127.0.0.1:8000/site/data/1a2b3c": dial tcp 127.0.0.1:8000: connect: connection refused"#,
            "Load(<data/1a2b3c>, 0, 0) returned error: read tcp 127.0.0.1:5->127.0.0.1:8000: read: connection reset by peer | unexpected EOF",
            "Fatal: unable to open config file: unexpected HTTP response (503): 503 Service Unavailable",
            "Load(<data/1a2b3c>, 0, 0): context deadline exceeded | unexpected EOF",
            "Fatal: unable to open repository: no such host",
        ] {
            assert_eq!(
                classify(unreachable),
                ErrorCode::RepositoryFailed,
                "{unreachable}"
            );
        }
        assert_eq!(
            classify("Fatal: wrong password or no key found"),
            ErrorCode::RepositoryFailed
        );
    }
}
