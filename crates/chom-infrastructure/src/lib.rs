#![doc = include_str!("../README.md")]

pub mod fleet;
pub mod jobs;
pub mod model;
pub mod placement;
pub mod ports;

pub use fleet::{Fleet, FleetError, NewVps, TrustHostKey};
pub use model::{Allocation, Health, HostKey, Vps, VpsStatus};
pub use placement::{Candidate, place};
pub use ports::{AgentGateway, GatewayError, OnProgress, SiteRows, VpsRepository};
