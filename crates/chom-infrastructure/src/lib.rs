#![doc = include_str!("../README.md")]

pub mod fleet;
pub mod model;
pub mod placement;
pub mod ports;

pub use fleet::{Fleet, FleetError, NewVps};
pub use model::{Allocation, Health, Vps, VpsStatus};
pub use placement::{Candidate, place};
pub use ports::{AgentGateway, GatewayError, VpsRepository};
