#![doc = include_str!("../README.md")]

pub mod names;
pub mod wire;

pub use names::{Domain, NameError, PhpVersion, SiteNames, SiteType};
pub use wire::{
    AgentError, Command, ErrorCode, PROTOCOL_VERSION, Request, Response, SetPhp, SiteRef, SiteSpec,
    SslRequest,
};
