#![doc = include_str!("../README.md")]

mod auth;
mod files;
mod http;
mod path;

pub use auth::{Authenticator, Grant, Mode};
pub use http::RepositoryServer;
