//! Master connections: one multiplexed SSH connection per server, reused by every command and
//! re-established once when it proves dead.

use super::{AgentTransport, OnProgress};
use crate::endpoint::{Endpoint, label};
use crate::error::{SshError, classify};
use chom_agent_protocol::Progress;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt};

/// A server's master connection, if any.
pub(super) type Slot = Arc<tokio::sync::Mutex<Option<Arc<Session>>>>;

impl AgentTransport {
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

    pub(super) async fn session(&self, ep: &Endpoint) -> Result<Arc<Session>, SshError> {
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
    pub(super) async fn forget_if(&self, ep: &Endpoint, dead: Arc<Session>) {
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

    pub(super) async fn forget(&self, ep: &Endpoint) {
        let slot = self.slot(ep);
        let taken = slot.lock().await.take();
        if let Some(s) = taken
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = s.close().await;
        }
    }

    /// Runs `argv` on one master connection; with `on_progress`, the progress lines on its
    /// stdout are told as they come, and left out of the output.
    async fn run_on(
        ep: &Endpoint,
        session: &Session,
        argv: &[String],
        stdin: &[u8],
        on_progress: Option<OnProgress<'_>>,
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
        let (Some(stdout), Some(mut stderr)) = (child.stdout().take(), child.stderr().take())
        else {
            return Err(SshError::Io("the command has no pipes".into()));
        };
        let read_err = async {
            let mut all = Vec::new();
            stderr.read_to_end(&mut all).await.map(|_| all)
        };
        let (stdout, stderr) = tokio::try_join!(stdout_of(stdout, on_progress), read_err)
            .map_err(|e| SshError::Io(e.to_string()))?;
        let status = child.wait().await.map_err(|e| classify(ep, &e))?;
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs `argv` on the cached master. When that fails and the master proves dead (the server
    /// restarted since its last use), it runs once more on a fresh connection: every command
    /// sent here converges when repeated (the agent's commands, the agent's installation).
    pub(super) async fn exec(
        &self,
        ep: &Endpoint,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
        on_progress: Option<OnProgress<'_>>,
    ) -> Result<std::process::Output, SshError> {
        let run = async {
            let session = self.session(ep).await?;
            match Self::run_on(ep, &session, argv, stdin, on_progress).await {
                Err(e) if session.check().await.is_err() => {
                    tracing::debug!(server = %label(ep), error = %e, "master connection lost; reconnecting");
                    self.forget_if(ep, session).await;
                    let session = self.session(ep).await?;
                    Self::run_on(ep, &session, argv, stdin, on_progress).await
                }
                other => other,
            }
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| SshError::Timeout(timeout))?
    }
}

/// A command's stdout, read to its end; with `on_progress`, its progress lines are told as they
/// come and left out.
async fn stdout_of(
    stdout: impl tokio::io::AsyncRead + Unpin,
    on_progress: Option<OnProgress<'_>>,
) -> std::io::Result<Vec<u8>> {
    let mut reader = tokio::io::BufReader::new(stdout);
    let mut kept = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(kept);
        }
        let text = String::from_utf8_lossy(&line);
        match on_progress {
            Some(tell) if Progress::is_line(&text) => {
                if let Some(p) = Progress::from_line(&text) {
                    tell(p);
                }
            }
            _ => kept.extend_from_slice(&line),
        }
    }
}
