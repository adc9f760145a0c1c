#![doc = include_str!("../README.md")]

// Where each part lives: the settings, a server's endpoint, the transport errors, and the
// transport itself (master connections, agent sessions, host keys, circuit breakers), and the
// fleet's `AgentGateway` port implemented on it.
mod endpoint;
mod error;
mod gateway;
mod settings;
mod transport;

pub use endpoint::Endpoint;
pub use error::SshError;
pub use gateway::SshGateway;
pub use settings::{GatewaySettings, SshSettings};
pub use transport::{AgentTransport, OnProgress};
