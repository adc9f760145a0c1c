#![doc = include_str!("../README.md")]

use chom_agent_protocol::{Request, Response};
use failsafe::futures::CircuitBreaker as _;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How to reach servers.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// The control plane's private key.
    pub key_file: PathBuf,
    /// Where master sockets and per-server known-hosts files live.
    pub state_dir: PathBuf,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Default per-command timeout.
    pub command_timeout: Duration,
    /// The agent on the server.
    pub agent_path: String,
    /// Fixed arguments before the command name (e.g. `--root DIR` for a sandboxed agent).
    pub agent_args: Vec<String>,
    /// Run the agent through `sudo -n` (the SSH user is not root).
    pub sudo: bool,
}

/// One server's SSH endpoint and its pinned host key (`ssh-ed25519 AAAA…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// The trusted host key.
    pub host_key: String,
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The server presented another host key than the pinned one.
    #[error("the host key of {0} does not match the pinned key")]
    HostKeyMismatch(String),
    /// The server could not be reached or the login failed.
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// The command did not finish in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Too many recent failures: the server is not contacted for a while.
    #[error("circuit open for {0}: recent connections failed")]
    CircuitOpen(String),
    /// The agent did not answer with a protocol document.
    #[error("the agent gave no valid answer: {0}")]
    BadAnswer(String),
    /// Local I/O.
    #[error("{0}")]
    Io(String),
}

impl SshError {
    fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(..) | Self::Timeout(_) | Self::HostKeyMismatch(_)
        )
    }
}

type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    (),
>;

fn breaker() -> Breaker {
    let policy = failsafe::failure_policy::consecutive_failures(
        3,
        failsafe::backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// A server's master connection, if any.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Session>>>>;

/// A running `chom-agent serve` on a server: requests go in as lines, answers come back as
/// lines, one at a time.
struct Channel {
    session: Arc<Session>,
    /// A request was sent and its answer not read yet: a caller gave up (timeout) mid-way, so
    /// the next line on stdout may be that old answer. Such a session is never reused.
    in_flight: bool,
    // Killed (and the session with it) when dropped.
    _child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: tokio::io::BufReader<openssh::ChildStdout>,
}

type ChannelSlot = Arc<tokio::sync::Mutex<Option<Channel>>>;

/// Runs the agent on servers.
pub struct AgentTransport {
    settings: SshSettings,
    /// One slot per server: connecting to one (up to twice the connect timeout when it is
    /// down) never holds up calls to the others.
    sessions: Mutex<HashMap<Endpoint, Slot>>,
    /// One long-lived agent session (`chom-agent serve`) per server for changing commands.
    channels: Mutex<HashMap<Endpoint, ChannelSlot>>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

impl std::fmt::Debug for AgentTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTransport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn label(ep: &Endpoint) -> String {
    format!("{}@{}:{}", ep.user, ep.host, ep.port)
}

fn classify(ep: &Endpoint, e: &openssh::Error) -> SshError {
    let text = format!("{e:?} {e}");
    if text.contains("Host key verification failed")
        || text.contains("HOST IDENTIFICATION HAS CHANGED")
    {
        SshError::HostKeyMismatch(label(ep))
    } else {
        SshError::Unreachable(label(ep), e.to_string())
    }
}

impl AgentTransport {
    /// A transport with `settings`.
    #[must_use]
    pub fn new(settings: SshSettings) -> Self {
        Self {
            settings,
            sessions: Mutex::default(),
            channels: Mutex::default(),
            breakers: Mutex::default(),
        }
    }

    /// Reads a server's ed25519 host key (`ssh-ed25519 AAAA…`) for an administrator to trust.
    ///
    /// # Errors
    /// `Unreachable` when no key could be read.
    pub async fn scan_host_key(&self, host: &str, port: u16) -> Result<String, SshError> {
        let secs = self.settings.connect_timeout.as_secs().max(1).to_string();
        let out = tokio::process::Command::new("ssh-keyscan")
            .args(["-T", &secs, "-t", "ed25519", "-p", &port.to_string(), host])
            .output()
            .await
            .map_err(|e| SshError::Io(format!("ssh-keyscan: {e}")))?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let mut parts = l.split_whitespace().skip(1);
                Some(format!("{} {}", parts.next()?, parts.next()?))
            })
            .ok_or_else(|| {
                SshError::Unreachable(format!("{host}:{port}"), "no host key offered".into())
            })
    }

    fn known_hosts(&self, ep: &Endpoint) -> Result<PathBuf, SshError> {
        let dir = self.settings.state_dir.join("known_hosts");
        std::fs::create_dir_all(&dir).map_err(|e| SshError::Io(e.to_string()))?;
        let path = dir.join(format!("{}_{}", ep.host.replace(['/', ':'], "_"), ep.port));
        let pattern = if ep.port == 22 {
            ep.host.clone()
        } else {
            format!("[{}]:{}", ep.host, ep.port)
        };
        std::fs::write(&path, format!("{pattern} {}\n", ep.host_key))
            .map_err(|e| SshError::Io(e.to_string()))?;
        Ok(path)
    }

    /// The cached master connection to `ep`, or a new one. A cached master is not checked
    /// before use (that costs a process per call): `exec` replaces one that turns out dead.
    fn slot(&self, ep: &Endpoint) -> Slot {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(ep.clone())
            .or_default()
            .clone()
    }

    async fn session(&self, ep: &Endpoint) -> Result<Arc<Session>, SshError> {
        let slot = self.slot(ep);
        let mut current = slot.lock().await;
        if let Some(s) = current.as_ref() {
            return Ok(s.clone());
        }
        let control = self.settings.state_dir.join("control");
        std::fs::create_dir_all(&control).map_err(|e| SshError::Io(e.to_string()))?;
        let mut builder = SessionBuilder::default();
        builder
            .user(ep.user.clone())
            .port(ep.port)
            .keyfile(&self.settings.key_file)
            .known_hosts_check(KnownHosts::Strict)
            .user_known_hosts_file(self.known_hosts(ep)?)
            .config_file("/dev/null")
            .control_directory(&control)
            .connect_timeout(self.settings.connect_timeout)
            .server_alive_interval(Duration::from_secs(15));
        let session =
            tokio::time::timeout(self.settings.connect_timeout * 2, builder.connect(&ep.host))
                .await
                .map_err(|_| SshError::Timeout(self.settings.connect_timeout * 2))?
                .map_err(|e| classify(ep, &e))?;
        let session = Arc::new(session);
        *current = Some(session.clone());
        Ok(session)
    }

    /// Forgets `dead`, unless another task already replaced it with a fresh master.
    async fn forget_if(&self, ep: &Endpoint, dead: Arc<Session>) {
        let slot = self.slot(ep);
        let mut current = slot.lock().await;
        if current.as_ref().is_some_and(|s| Arc::ptr_eq(s, &dead)) {
            *current = None;
        }
        drop(current);
        if let Ok(s) = Arc::try_unwrap(dead) {
            let _ = s.close().await;
        }
    }

    async fn forget(&self, ep: &Endpoint) {
        let slot = self.slot(ep);
        let taken = slot.lock().await.take();
        if let Some(s) = taken
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = s.close().await;
        }
    }

    /// Runs `argv` on one master connection.
    async fn run_on(
        ep: &Endpoint,
        session: &Session,
        argv: &[String],
        stdin: &[u8],
    ) -> Result<std::process::Output, SshError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| SshError::Io("empty command".into()))?;
        let mut cmd = session.command(program.as_str());
        cmd.args(args.iter().map(String::as_str))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| classify(ep, &e))?;
        if let Some(mut pipe) = child.stdin().take() {
            pipe.write_all(stdin)
                .await
                .map_err(|e| SshError::Io(e.to_string()))?;
            pipe.shutdown()
                .await
                .map_err(|e| SshError::Io(e.to_string()))?;
        }
        child.wait_with_output().await.map_err(|e| classify(ep, &e))
    }

    /// Runs `argv` on the cached master. When that fails and the master proves dead (the server
    /// restarted since its last use), it runs once more on a fresh connection: every command
    /// sent here converges when repeated (the agent's commands, the agent's installation).
    async fn exec(
        &self,
        ep: &Endpoint,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<std::process::Output, SshError> {
        let run = async {
            let session = self.session(ep).await?;
            match Self::run_on(ep, &session, argv, stdin).await {
                Err(e) if session.check().await.is_err() => {
                    tracing::debug!(server = %label(ep), error = %e, "master connection lost; reconnecting");
                    self.forget_if(ep, session).await;
                    let session = self.session(ep).await?;
                    Self::run_on(ep, &session, argv, stdin).await
                }
                other => other,
            }
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| SshError::Timeout(timeout))?
    }

    fn agent_argv(&self, command: &str) -> Vec<String> {
        let mut argv = Vec::new();
        if self.settings.sudo {
            argv.extend(["sudo".to_owned(), "-n".to_owned()]);
        }
        argv.push(self.settings.agent_path.clone());
        argv.extend(self.settings.agent_args.iter().cloned());
        argv.push(command.to_owned());
        argv
    }

    async fn guarded<T, F>(&self, ep: &Endpoint, f: F) -> Result<T, SshError>
    where
        F: std::future::Future<Output = Result<T, SshError>>,
    {
        let breaker = {
            let mut map = self
                .breakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(label(ep)).or_insert_with(breaker).clone()
        };
        match breaker.call_with(|e: &SshError| e.is_transport(), f).await {
            Ok(v) => Ok(v),
            Err(failsafe::Error::Inner(e)) => {
                if e.is_transport() {
                    self.forget(ep).await;
                }
                Err(e)
            }
            Err(failsafe::Error::Rejected) => Err(SshError::CircuitOpen(label(ep))),
        }
    }

    /// Runs one agent request and returns its answer (which may itself be an error answer).
    ///
    /// # Errors
    /// Transport failures only: `HostKeyMismatch`, `Unreachable`, `Timeout`, `CircuitOpen`,
    /// `BadAnswer`.
    pub async fn call(
        &self,
        ep: &Endpoint,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<Response, SshError> {
        let body = serde_json::to_vec(request).map_err(|e| SshError::Io(e.to_string()))?;
        let timeout = timeout.unwrap_or(self.settings.command_timeout);
        if request.command.changes_server() {
            return self
                .guarded(ep, self.call_on_channel(ep, &body, timeout))
                .await;
        }
        let argv = self.agent_argv(request.command.name());
        self.guarded(ep, async {
            let out = self.exec(ep, &argv, &body, timeout).await?;
            let text = String::from_utf8_lossy(&out.stdout);
            serde_json::from_str::<Response>(text.trim()).map_err(|_| {
                // Never the stdout itself: an answer may carry secrets (a database password).
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stderr: String = stderr.trim().chars().take(500).collect();
                SshError::BadAnswer(format!(
                    "exit {:?}, {} bytes of unreadable stdout, stderr {stderr:?}",
                    out.status.code(),
                    out.stdout.len(),
                ))
            })
        })
        .await
    }

    fn channel_slot(&self, ep: &Endpoint) -> ChannelSlot {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(ep.clone())
            .or_default()
            .clone()
    }

    /// Starts `chom-agent serve` on the server.
    async fn open_channel(&self, ep: &Endpoint) -> Result<Channel, SshError> {
        let session = self.session(ep).await?;
        let argv = self.agent_argv("serve");
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| SshError::Io("empty command".into()))?;
        let mut cmd = session.clone().arc_command(program.as_str());
        cmd.args(args.iter().map(String::as_str))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = match cmd.spawn().await {
            Ok(child) => child,
            Err(e) => {
                let e = classify(ep, &e);
                if session.check().await.is_err() {
                    self.forget_if(ep, session).await;
                }
                return Err(e);
            }
        };
        let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
            return Err(SshError::Io("the agent session has no pipes".into()));
        };
        Ok(Channel {
            session,
            in_flight: false,
            _child: child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout),
        })
    }

    /// One request and its answer on the server's agent session (opened on first use).
    async fn exchange(channel: &mut Channel, body: &[u8]) -> Result<Response, SshError> {
        use tokio::io::AsyncBufReadExt as _;
        let mut line = body.to_vec();
        line.push(b'\n');
        let io = |e: std::io::Error| SshError::Io(format!("agent session: {e}"));
        channel.in_flight = true;
        channel.stdin.write_all(&line).await.map_err(io)?;
        channel.stdin.flush().await.map_err(io)?;
        let mut answer = String::new();
        if channel.stdout.read_line(&mut answer).await.map_err(io)? == 0 {
            return Err(SshError::Io("the agent session ended".into()));
        }
        channel.in_flight = false;
        serde_json::from_str::<Response>(answer.trim()).map_err(|_| {
            // Never the answer itself: it may carry secrets (a database password).
            SshError::BadAnswer(format!(
                "{} bytes of unreadable answer from the agent session",
                answer.len()
            ))
        })
    }

    /// A changing command on the server's agent session. A session that fails, or whose caller
    /// gave up mid-exchange, is dropped (the next call opens another); when its master
    /// connection proves dead (the server restarted), the request is sent once more on a fresh
    /// one: agent commands converge when repeated.
    async fn call_on_channel(
        &self,
        ep: &Endpoint,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, SshError> {
        let slot = self.channel_slot(ep);
        // The timeout covers the wait for the session too: commands queued behind a slow one
        // give up (and are retried by their job) rather than wait without bound.
        let run = async {
            let mut current = slot.lock().await;
            for attempt in 0..2 {
                if current.as_ref().is_some_and(|c| c.in_flight) {
                    current.take();
                }
                let channel = match current.as_mut() {
                    Some(c) => c,
                    None => current.insert(self.open_channel(ep).await?),
                };
                match Self::exchange(channel, body).await {
                    Ok(answer) => return Ok(answer),
                    Err(e) => {
                        let dead = current.take().map(|c| c.session);
                        let master_lost = match &dead {
                            Some(s) => s.check().await.is_err(),
                            None => false,
                        };
                        if !master_lost || attempt == 1 {
                            return Err(e);
                        }
                        tracing::debug!(server = %label(ep), error = %e, "master connection lost; reopening the agent session");
                        if let Some(s) = dead {
                            self.forget_if(ep, s).await;
                        }
                    }
                }
            }
            Err(SshError::Io("unreachable".into()))
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| SshError::Timeout(timeout))?
    }

    /// Ends the server's agent session (after an upgrade of the agent, say).
    async fn close_channel(&self, ep: &Endpoint) {
        let slot = self.channel_slot(ep);
        slot.lock().await.take();
    }

    /// Installs `binary` at the agent path (bootstrap), mode 0755, through stdin.
    ///
    /// # Errors
    /// Transport failures, or `BadAnswer` when `install` fails.
    pub async fn install_agent(&self, ep: &Endpoint, binary: &[u8]) -> Result<(), SshError> {
        let mut argv = Vec::new();
        if self.settings.sudo {
            argv.extend(["sudo".to_owned(), "-n".to_owned()]);
        }
        argv.extend([
            "install".to_owned(),
            "-D".to_owned(),
            "-m".to_owned(),
            "0755".to_owned(),
            "/dev/stdin".to_owned(),
            self.settings.agent_path.clone(),
        ]);
        let timeout = self.settings.command_timeout.max(Duration::from_secs(60));
        // The running agent session would keep the old binary.
        self.close_channel(ep).await;
        self.guarded(ep, async {
            let out = self.exec(ep, &argv, binary, timeout).await?;
            if out.status.success() {
                Ok(())
            } else {
                Err(SshError::BadAnswer(format!(
                    "install failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )))
            }
        })
        .await
    }

    /// Closes every master connection.
    pub async fn close_all(&self) {
        let channels: Vec<ChannelSlot> = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        for slot in channels {
            slot.lock().await.take();
        }
        let slots: Vec<Slot> = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        for slot in slots {
            let taken = slot.lock().await.take();
            if let Some(s) = taken
                && let Ok(s) = Arc::try_unwrap(s)
            {
                let _ = s.close().await;
            }
        }
    }
}
