#![doc = include_str!("../README.md")]

mod auth;
mod files;
mod http;
mod path;
mod s3;
mod spool_file;

pub use auth::{Authenticator, Grant, Mode};
pub use http::RepositoryServer;
pub use s3::S3Bucket;

/// For `HttpServer::on_connect`: answers leave at once (`TCP_NODELAY`). A restic client reads
/// a repository in many small ranged requests; with Nagle's algorithm each answer's body
/// waited for the client's delayed acknowledgement of its headers, about 40 ms a request.
pub fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = tcp.set_nodelay(true);
    }
}
