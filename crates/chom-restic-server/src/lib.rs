#![doc = include_str!("../README.md")]

mod auth;
mod files;
mod http;
mod path;
mod s3;

pub use auth::{Authenticator, Grant, Mode};
pub use http::RepositoryServer;
pub use s3::S3Bucket;
