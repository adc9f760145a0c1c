//! restic's REST protocol (v1 and v2 listings) over actix-web: every request authenticated,
//! each credential confined to its repository, an append-only credential refused any deletion
//! but a lock's, and no credential allowed to overwrite a file.

use crate::auth::{Authenticator, Mode, basic};
use crate::files::{self, Disk, SaveError, Storage};
use crate::path::{self, Kind, Target};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::path::PathBuf;
use std::sync::Arc;

const V2: &str = "application/vnd.x.restic.rest.v2";
const V1: &str = "application/vnd.x.restic.rest.v1";

/// The server: where the repositories are kept and who may open them.
pub struct RepositoryServer {
    storage: Arc<dyn Storage>,
    auth: Arc<dyn Authenticator>,
    max_file: u64,
}

impl std::fmt::Debug for RepositoryServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryServer")
            .field("storage", &self.storage)
            .field("max_file", &self.max_file)
            .finish_non_exhaustive()
    }
}

fn text(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{message}\n"))
}

fn io_error(e: &std::io::Error) -> HttpResponse {
    tracing::error!(error = %e, "repository storage failed");
    text(StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
}

/// `(start, end inclusive)` of a `Range: bytes=…` header for a file of `size` bytes; `Err` when
/// it cannot be satisfied, `Ok(None)` without a (usable) header.
fn range(req: &HttpRequest, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(spec) = value.strip_prefix("bytes=") else {
        return Ok(None);
    };
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        // The last `b` bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

impl RepositoryServer {
    /// Repositories under `root` (created there on `POST /{repo}/?create=true`), opened by
    /// the credentials `auth` grants; files up to 1 GiB.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>, auth: Arc<dyn Authenticator>) -> Self {
        Self::with_storage(Arc::new(Disk::new(root.into())), auth)
    }

    /// Repositories in an S3-compatible bucket (see [`crate::S3Bucket`]), uploads spooled in
    /// `spool` (a local directory, made if missing) while they are checked.
    ///
    /// # Errors
    /// The endpoint is not an http(s) URL, or the spool directory cannot be made.
    pub fn on_s3(
        bucket: crate::S3Bucket,
        spool: PathBuf,
        auth: Arc<dyn Authenticator>,
    ) -> std::io::Result<Self> {
        Ok(Self::with_storage(
            Arc::new(crate::s3::S3::new(bucket, spool)?),
            auth,
        ))
    }

    fn with_storage(storage: Arc<dyn Storage>, auth: Arc<dyn Authenticator>) -> Self {
        Self {
            storage,
            auth,
            max_file: 1 << 30,
        }
    }

    /// The largest file accepted (restic's pack files are a few MiB; 16 to 128 MiB when
    /// configured so).
    #[must_use]
    pub fn with_max_file(mut self, bytes: u64) -> Self {
        self.max_file = bytes;
        self
    }

    /// Mounts the protocol at the root of `cfg`'s scope.
    pub fn configure(self: Arc<Self>) -> impl FnOnce(&mut web::ServiceConfig) {
        move |cfg| {
            cfg.app_data(web::Data::from(self))
                .default_service(web::to(handle));
        }
    }

    async fn serve_file(&self, req: &HttpRequest, key: &str) -> HttpResponse {
        let size = match self.storage.size(key).await {
            Ok(Some(size)) => size,
            Ok(None) => return text(StatusCode::NOT_FOUND, "no such file"),
            Err(e) => return io_error(&e),
        };
        // A HEAD answer is built like a GET's: actix sends its length and never its body.
        let (status, start, len) = match range(req, size) {
            Ok(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
            Ok(None) => (StatusCode::OK, 0, size),
            Err(()) => {
                return HttpResponse::RangeNotSatisfiable()
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                    .finish();
            }
        };
        let stream = if req.method() == Method::HEAD {
            futures::StreamExt::boxed(futures::stream::empty())
        } else {
            match self.storage.read(key, start, len).await {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return text(StatusCode::NOT_FOUND, "no such file");
                }
                Err(e) => return io_error(&e),
            }
        };
        let mut builder = HttpResponse::build(status);
        builder.content_type("application/octet-stream");
        if status == StatusCode::PARTIAL_CONTENT {
            builder.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{size}", start + len - 1),
            ));
        }
        builder.body(actix_web::body::SizedStream::new(len, stream))
    }

    /// Stores an upload at `key` once, its content checked against `verify` when given.
    async fn save(
        &self,
        repo: &str,
        key: &str,
        body: web::Payload,
        verify: Option<String>,
    ) -> Result<(), SaveError> {
        if !self.storage.has_repository(repo).await? {
            return Err(SaveError::NoRepository);
        }
        if self.storage.size(key).await?.is_some() {
            return Err(SaveError::Exists);
        }
        let name = key.rsplit('/').next().unwrap_or("file");
        let dir = self.storage.spool_dir(key);
        let spooled = files::spool(&dir, name, body, verify, self.max_file).await?;
        self.storage
            .put_once(key, &spooled.path, spooled.size)
            .await
    }

    async fn list(&self, req: &HttpRequest, repo: &str, kind: Kind) -> HttpResponse {
        let files = match self.storage.list(repo, kind).await {
            Ok(f) => f,
            Err(e) => return io_error(&e),
        };
        let v2 = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(V2));
        let body = if v2 {
            serde_json::Value::Array(
                files
                    .into_iter()
                    .map(|(name, size)| serde_json::json!({"name": name, "size": size}))
                    .collect(),
            )
        } else {
            serde_json::Value::Array(
                files
                    .into_iter()
                    .map(|(name, _)| serde_json::Value::String(name))
                    .collect(),
            )
        };
        HttpResponse::Ok()
            .content_type(if v2 { V2 } else { V1 })
            .body(body.to_string())
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Payload,
    server: web::Data<RepositoryServer>,
) -> HttpResponse {
    let Some((repo, target)) = path::parse(req.path()) else {
        return text(StatusCode::NOT_FOUND, "not a repository path");
    };
    let credential = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic);
    let Some(grant) = credential.and_then(|(u, p)| server.auth.authenticate(&u, &p)) else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"restic\""))
            .finish();
    };
    if grant.repository != repo {
        tracing::warn!(%repo, credential_for = %grant.repository, "credential used on another repository");
        return text(
            StatusCode::FORBIDDEN,
            "this credential opens another repository",
        );
    }
    let method = req.method().clone();
    match (&method, &target) {
        (&Method::POST, Target::Repository) => {
            if req.query_string().split('&').any(|p| p == "create=true") {
                match server.storage.create(&repo).await {
                    Ok(()) => HttpResponse::Ok().finish(),
                    Err(e) => io_error(&e),
                }
            } else {
                text(StatusCode::BAD_REQUEST, "POST / needs ?create=true")
            }
        }
        (&Method::GET, Target::List(kind)) => server.list(&req, &repo, *kind).await,
        (&Method::GET | &Method::HEAD, Target::Config | Target::File(..)) => {
            match files::key(&repo, &target) {
                Some(key) => server.serve_file(&req, &key).await,
                None => text(StatusCode::NOT_FOUND, "no such file"),
            }
        }
        (&Method::POST, Target::Config | Target::File(..)) => {
            let Some(key) = files::key(&repo, &target) else {
                return text(StatusCode::NOT_FOUND, "no such file");
            };
            let verify = match &target {
                Target::File(_, id) => Some(id.clone()),
                _ => None,
            };
            match server.save(&repo, &key, body, verify).await {
                Ok(()) => HttpResponse::Ok().finish(),
                Err(SaveError::Exists) => {
                    tracing::warn!(%repo, path = req.path(), "refused to overwrite a file");
                    text(
                        StatusCode::FORBIDDEN,
                        "the file exists and is never overwritten",
                    )
                }
                Err(SaveError::NoRepository) => text(StatusCode::NOT_FOUND, "no such repository"),
                Err(SaveError::HashMismatch) => text(
                    StatusCode::BAD_REQUEST,
                    "the content's SHA-256 is not the file's name",
                ),
                Err(SaveError::TooLarge) => {
                    text(StatusCode::PAYLOAD_TOO_LARGE, "the file is too large")
                }
                Err(SaveError::Body(e)) => text(StatusCode::BAD_REQUEST, &e),
                Err(SaveError::Io(e)) => io_error(&e),
            }
        }
        (&Method::DELETE, Target::Config | Target::File(..)) => {
            let lock = matches!(target, Target::File(Kind::Locks, _));
            if grant.mode == Mode::AppendOnly && !lock {
                tracing::warn!(%repo, path = req.path(), "append-only credential tried to delete");
                return text(
                    StatusCode::FORBIDDEN,
                    "append-only: only locks can be deleted with this credential",
                );
            }
            let Some(key) = files::key(&repo, &target) else {
                return text(StatusCode::NOT_FOUND, "no such file");
            };
            match server.storage.remove(&key).await {
                Ok(true) => HttpResponse::Ok().finish(),
                Ok(false) => text(StatusCode::NOT_FOUND, "no such file"),
                Err(e) => io_error(&e),
            }
        }
        (&Method::DELETE, Target::Repository) => text(
            StatusCode::FORBIDDEN,
            "repositories are not deleted over this protocol",
        ),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn ranges_are_read_as_restic_sends_them() {
        let r = |v: &str| {
            range(
                &TestRequest::default()
                    .insert_header((header::RANGE, v))
                    .to_http_request(),
                100,
            )
        };
        assert_eq!(r("bytes=0-9"), Ok(Some((0, 9))));
        assert_eq!(r("bytes=90-"), Ok(Some((90, 99))));
        assert_eq!(r("bytes=90-500"), Ok(Some((90, 99))));
        assert_eq!(r("bytes=-10"), Ok(Some((90, 99))));
        assert_eq!(r("bytes=100-"), Err(()));
        assert_eq!(r("bytes=9-3"), Err(()));
        assert_eq!(r("bytes=x-3"), Err(()));
        assert_eq!(r("items=0-3"), Ok(None));
        assert_eq!(
            range(&TestRequest::default().to_http_request(), 100),
            Ok(None)
        );
    }
}
