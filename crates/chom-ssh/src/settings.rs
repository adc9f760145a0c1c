//! Settings: how the control plane reaches servers.

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
