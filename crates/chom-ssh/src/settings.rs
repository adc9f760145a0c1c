//! Settings: how the control plane reaches servers.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

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

/// The `ssh` section of the configuration: how the control plane reaches managed servers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The control plane's private key (generated next to the SQLite database when missing).
    pub key_file: PathBuf,
    /// Master sockets and pinned host keys.
    pub state_dir: PathBuf,
    /// Where the agent lives on servers.
    pub agent_path: String,
    /// Fixed extra arguments for the agent (e.g. `["--root", "/srv/sandbox"]` in a lab).
    pub agent_args: Vec<String>,
    /// Run the agent with `sudo -n` (the SSH user is not root).
    pub sudo: bool,
    /// Connection timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Per-command timeout, seconds.
    pub command_timeout_secs: u64,
    /// Timeout of a backup or a restore on a server, seconds (they read or write the whole
    /// site).
    pub backup_timeout_secs: u64,
    /// The agent binary installed by bootstrap (default: `chom-agent` next to this program).
    pub agent_binary: Option<PathBuf>,
}
