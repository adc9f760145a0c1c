#![doc = include_str!("../README.md")]

pub mod answers;
pub mod backup;
pub mod names;
pub mod progress;
pub mod rows;
pub mod wire;

pub use answers::{Answer, BadAnswer};
pub use names::{Domain, NameError, PhpVersion, SiteNames, SiteType};
pub use progress::Progress;
pub use wire::{
    AgentError, Command, ErrorCode, PROTOCOL_VERSION, Request, Response, SetPhp, SiteRef, SiteSpec,
    SslRequest,
};
