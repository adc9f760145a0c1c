#![doc = include_str!("../README.md")]

// Where each part lives: the settings, a server's endpoint, the transport errors, and the
// transport itself (master connections, agent sessions, host keys, circuit breakers).
mod endpoint;
mod error;
mod settings;
mod transport;

pub use endpoint::Endpoint;
pub use error::SshError;
pub use settings::SshSettings;
pub use transport::AgentTransport;
