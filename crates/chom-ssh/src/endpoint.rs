//! Endpoint: one server's address, login and pinned host key, and its label in messages.

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

pub(crate) fn label(ep: &Endpoint) -> String {
    format!("{}@{}:{}", ep.user, ep.host, ep.port)
}
