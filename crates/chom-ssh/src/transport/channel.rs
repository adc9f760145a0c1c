//! Agent sessions: one long-lived `chom-agent serve` per server for changing commands, a request
//! and its answer per line; a failed or abandoned session is dropped, never reused.

use super::{AgentTransport, OnProgress};
use crate::endpoint::{Endpoint, label};
use crate::error::{SshError, classify};
use chom_agent_protocol::{Progress, Response};
use openssh::{Session, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A running `chom-agent serve` on a server: requests go in as lines, answers come back as
/// lines, one at a time.
pub(super) struct Channel {
    session: Arc<Session>,
    /// A request was sent and its answer not read yet: a caller gave up (timeout) mid-way, so
    /// the next line on stdout may be that old answer. Such a session is never reused.
    in_flight: bool,
    // Killed (and the session with it) when dropped.
    _child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: tokio::io::BufReader<openssh::ChildStdout>,
}

pub(super) type ChannelSlot = Arc<tokio::sync::Mutex<Option<Channel>>>;

impl AgentTransport {
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
            .stderr(Stdio::piped());
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
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        ) else {
            return Err(SshError::Io("the agent session has no pipes".into()));
        };
        tokio::spawn(super::stderr::log_stream(label(ep), stderr));
        Ok(Channel {
            session,
            in_flight: false,
            _child: child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout),
        })
    }

    /// One request and its answer on the server's agent session (opened on first use); the
    /// progress lines before the answer are told to `on_progress`.
    async fn exchange(
        channel: &mut Channel,
        body: &[u8],
        on_progress: OnProgress<'_>,
    ) -> Result<Response, SshError> {
        use tokio::io::AsyncBufReadExt as _;
        let mut line = body.to_vec();
        line.push(b'\n');
        let io = |e: std::io::Error| SshError::Io(format!("agent session: {e}"));
        channel.in_flight = true;
        channel.stdin.write_all(&line).await.map_err(io)?;
        channel.stdin.flush().await.map_err(io)?;
        let mut answer = String::new();
        loop {
            answer.clear();
            if channel.stdout.read_line(&mut answer).await.map_err(io)? == 0 {
                return Err(SshError::Io("the agent session ended".into()));
            }
            if !Progress::is_line(&answer) {
                break;
            }
            if let Some(p) = Progress::from_line(&answer) {
                on_progress(p);
            }
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
    pub(super) async fn call_on_channel(
        &self,
        ep: &Endpoint,
        body: &[u8],
        timeout: Duration,
        on_progress: OnProgress<'_>,
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
                match Self::exchange(channel, body, on_progress).await {
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
    pub(super) async fn close_channel(&self, ep: &Endpoint) {
        let slot = self.channel_slot(ep);
        slot.lock().await.take();
    }
}
