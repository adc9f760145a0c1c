//! Host keys: reading a server's key for an administrator to trust, and writing the pinned key
//! to that server's own known-hosts file.

use super::AgentTransport;
use crate::endpoint::Endpoint;
use crate::error::SshError;
use std::path::PathBuf;

impl AgentTransport {
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

    pub(super) fn known_hosts(&self, ep: &Endpoint) -> Result<PathBuf, SshError> {
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
}
