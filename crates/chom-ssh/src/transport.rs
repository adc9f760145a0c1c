//! The transport: running the agent on servers, one-shot for reading commands and on the
//! server's agent session for changing ones; installing the agent; closing everything.

mod breaker;
mod channel;
mod host_keys;
mod master;
mod stderr;

use crate::{Endpoint, SshError, SshSettings};
use breaker::Breaker;
use channel::ChannelSlot;
use chom_agent_protocol::{Progress, Request, Response};
use master::Slot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What is told each progress line a command writes before its answer (cheap: it is called
/// on the transport's task).
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

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
        self.call_with_progress(ep, request, timeout, &|_| {}).await
    }

    /// [`AgentTransport::call`], telling `on_progress` each progress line the agent writes
    /// before its answer, as it comes.
    ///
    /// # Errors
    /// As [`AgentTransport::call`].
    pub async fn call_with_progress(
        &self,
        ep: &Endpoint,
        request: &Request,
        timeout: Option<Duration>,
        on_progress: OnProgress<'_>,
    ) -> Result<Response, SshError> {
        let body = serde_json::to_vec(request).map_err(|e| SshError::Io(e.to_string()))?;
        let timeout = timeout.unwrap_or(self.settings.command_timeout);
        if request.command.changes_server() {
            return self
                .guarded(ep, self.call_on_channel(ep, &body, timeout, on_progress))
                .await;
        }
        let argv = self.agent_argv(request.command.name());
        self.guarded(ep, async {
            let out = self
                .exec(ep, &argv, &body, timeout, Some(on_progress))
                .await?;
            let server = crate::endpoint::label(ep);
            for line in out.stderr.split(|b| *b == b'\n') {
                stderr::log_line(&server, line);
            }
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
            let out = self.exec(ep, &argv, binary, timeout, None).await?;
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
