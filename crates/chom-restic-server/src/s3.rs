//! Repositories in an S3-compatible bucket (AWS S3, Backblaze B2, Cloudflare R2, MinIO…):
//! restic's layout under a key prefix, one object per file. The servers never see the
//! bucket's credentials: they speak restic's REST protocol to this server, which keeps its
//! append-only rules whatever the storage. Uploads are spooled and checked locally, then
//! put with `If-None-Match: *`, so an existing object is never replaced (the bucket refuses
//! it with 412, even between two racing uploads). Every request is signed (SigV4 query
//! signature, `rusty-s3`), bounded in time, and the idempotent ones (HEAD, GET, listing) are
//! retried twice on a connection failure or a 5xx. A circuit breaker stands in front of the
//! bucket: after 5 consecutive failed requests (no answer, or a 5xx) the next ones fail at once
//! for 10 s to 5 min (jittered, growing while it keeps failing) instead of each waiting out
//! its timeouts; restic, on the other side, retries what fails.

use crate::files::{ByteStream, SaveError, Storage};
use crate::path::Kind;
use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, StatusCode};
use rusty_s3::actions::{ListObjectsV2, S3Action as _};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(900);

/// The bucket's circuit breaker.
type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    (),
>;

fn breaker() -> Breaker {
    let policy = failsafe::failure_policy::consecutive_failures(
        5,
        failsafe::backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// The error kind of a request the open breaker did not send (not retried).
const OPEN: std::io::ErrorKind = std::io::ErrorKind::ResourceBusy;

/// A request that failed: no answer, or a 5xx (handed back to the caller as an answer).
enum Failed {
    Transport(reqwest::Error),
    Server(reqwest::Response),
}

/// Marks a repository as made (restic's layout has no file written at creation).
const MARKER: &str = ".chom-repository";

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Bucket {
    /// The endpoint (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Its region (`us-east-1` where the provider has none).
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Keys start with it (`""`, or `chom/`).
    pub prefix: String,
    /// Path-style addresses (`endpoint/bucket/key`; MinIO and most local servers) instead of
    /// virtual-host ones (`bucket.endpoint/key`).
    pub path_style: bool,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

pub(crate) struct S3 {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    prefix: String,
    spool: PathBuf,
    http: reqwest::Client,
    /// Repositories known to exist (their marker was seen or written).
    known: Mutex<HashSet<String>>,
    breaker: Breaker,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.bucket.name())
            .field("prefix", &self.prefix)
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn unexpected(what: &str, status: StatusCode) -> std::io::Error {
    std::io::Error::other(format!("S3 {what}: HTTP {status}"))
}

impl S3 {
    pub(crate) fn new(settings: S3Bucket, spool: PathBuf) -> std::io::Result<Self> {
        let endpoint = settings.endpoint.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("S3 endpoint: {e}"),
            )
        })?;
        let style = if settings.path_style {
            rusty_s3::UrlStyle::Path
        } else {
            rusty_s3::UrlStyle::VirtualHost
        };
        let bucket = rusty_s3::Bucket::new(endpoint, style, settings.bucket, settings.region)
            .map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("S3 bucket: {e}"))
            })?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .timeout(Duration::from_secs(3600))
            .build()
            .map_err(other)?;
        std::fs::create_dir_all(&spool)?;
        crate::files::clear_spool(&spool)?;
        Ok(Self {
            bucket,
            credentials: rusty_s3::Credentials::new(settings.access_key, settings.secret_key),
            prefix: settings.prefix,
            spool,
            http,
            known: Mutex::new(HashSet::new()),
            breaker: breaker(),
        })
    }

    /// Sends `request` through the bucket's circuit breaker: a 5xx is an answer for the
    /// caller but a failure for the breaker; while it is open nothing is sent.
    async fn send(&self, request: reqwest::RequestBuilder) -> std::io::Result<reqwest::Response> {
        use failsafe::futures::CircuitBreaker as _;
        let sent = async {
            match request.send().await {
                Ok(r) if r.status().is_server_error() => Err(Failed::Server(r)),
                Ok(r) => Ok(r),
                Err(e) => Err(Failed::Transport(e)),
            }
        };
        match self.breaker.call(sent).await {
            Ok(r) | Err(failsafe::Error::Inner(Failed::Server(r))) => Ok(r),
            Err(failsafe::Error::Inner(Failed::Transport(e))) => Err(other(e)),
            Err(failsafe::Error::Rejected) => Err(std::io::Error::new(
                OPEN,
                "S3: the bucket failed 5 requests in a row; not asked again for now (circuit open)",
            )),
        }
    }

    fn object(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Sends an idempotent request, built afresh for each try: twice more on a connection
    /// failure or a 5xx, 200 ms then 800 ms later.
    async fn idempotent(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> std::io::Result<reqwest::Response> {
        let mut wait = Duration::from_millis(200);
        for attempt in 0..3 {
            match self.send(build()).await {
                Ok(r) if !r.status().is_server_error() || attempt == 2 => return Ok(r),
                Err(e) if attempt == 2 || e.kind() == OPEN => return Err(e),
                Ok(r) => tracing::warn!(status = %r.status(), "S3 request retried"),
                Err(e) => tracing::warn!(error = %e, "S3 request retried"),
            }
            tokio::time::sleep(wait).await;
            wait *= 4;
        }
        Err(other("S3 request retried out"))
    }

    async fn head(&self, key: &str) -> std::io::Result<Option<u64>> {
        let object = self.object(key);
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let r = self
            .idempotent(|| self.http.request(Method::HEAD, url.clone()))
            .await?;
        match r.status() {
            s if s.is_success() => Ok(Some(
                r.headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(unexpected("HEAD", s)),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: reqwest::Body,
        len: u64,
        once: bool,
    ) -> std::io::Result<StatusCode> {
        let object = self.object(key);
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let mut request = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        if once {
            request = request.header(reqwest::header::IF_NONE_MATCH, "*");
        }
        Ok(self.send(request).await?.status())
    }
}

#[async_trait]
impl Storage for S3 {
    async fn create(&self, repo: &str) -> std::io::Result<()> {
        let status = self
            .put(
                &format!("{repo}/{MARKER}"),
                reqwest::Body::from(Vec::new()),
                0,
                false,
            )
            .await?;
        if !status.is_success() {
            return Err(unexpected("PUT", status));
        }
        self.known
            .lock()
            .map_err(|_| other("poisoned"))?
            .insert(repo.to_owned());
        Ok(())
    }

    async fn has_repository(&self, repo: &str) -> std::io::Result<bool> {
        if self
            .known
            .lock()
            .map_err(|_| other("poisoned"))?
            .contains(repo)
        {
            return Ok(true);
        }
        let made = self.head(&format!("{repo}/{MARKER}")).await?.is_some();
        if made {
            self.known
                .lock()
                .map_err(|_| other("poisoned"))?
                .insert(repo.to_owned());
        }
        Ok(made)
    }

    async fn list(&self, repo: &str, kind: Kind) -> std::io::Result<Vec<(String, u64)>> {
        let prefix = self.object(&format!("{repo}/{}/", kind.dir()));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut list: ListObjectsV2<'_> = self.bucket.list_objects_v2(Some(&self.credentials));
            list.with_prefix(prefix.as_str());
            if let Some(t) = &token {
                list.with_continuation_token(t.as_str());
            }
            let url = list.sign(SIGNED_FOR);
            let r = self.idempotent(|| self.http.get(url.clone())).await?;
            if !r.status().is_success() {
                return Err(unexpected("LIST", r.status()));
            }
            let text = r.bytes().await.map_err(other)?;
            let page = ListObjectsV2::parse_response(&text).map_err(other)?;
            for item in page.contents {
                let Some(rest) = item.key.strip_prefix(&prefix) else {
                    continue;
                };
                // data/ holds one level of 2-hex directories; the others hold files only.
                let name = match (kind, rest.split_once('/')) {
                    (Kind::Data, Some((_, name))) => name,
                    (_, None) => rest,
                    _ => continue,
                };
                if !name.starts_with('.') && !name.contains('/') {
                    out.push((name.to_owned(), item.size));
                }
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        self.head(key).await
    }

    async fn read(&self, key: &str, start: u64, len: u64) -> std::io::Result<ByteStream> {
        if len == 0 {
            return Ok(futures::stream::empty().boxed());
        }
        let object = self.object(key);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let range = format!("bytes={start}-{}", start + len - 1);
        let r = self
            .idempotent(|| {
                self.http
                    .get(url.clone())
                    .header(reqwest::header::RANGE, range.clone())
            })
            .await?;
        match r.status() {
            StatusCode::PARTIAL_CONTENT => {}
            // A bucket that ignores `Range` answers the whole object: right only from its start.
            StatusCode::OK if start == 0 => {}
            StatusCode::NOT_FOUND => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such object",
                ));
            }
            s => return Err(unexpected("GET", s)),
        }
        // Never more than asked for, whatever the bucket sends.
        let limited = r.bytes_stream().map_err(other).scan(len, |left, item| {
            let out = match item {
                Ok(_) if *left == 0 => None,
                Ok(mut bytes) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    bytes.truncate(n);
                    *left -= n as u64;
                    Some(Ok(bytes))
                }
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        });
        Ok(limited.boxed())
    }

    fn spool_dir(&self, _key: &str) -> PathBuf {
        self.spool.clone()
    }

    async fn put_once(&self, key: &str, spooled: &Path, size: u64) -> Result<(), SaveError> {
        // The server asked the bucket for `key` just before: the condition covers the rest.
        let file = tokio::fs::File::open(spooled).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        match self.put(key, body, size, true).await? {
            s if s.is_success() => Ok(()),
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => Err(SaveError::Exists),
            s => Err(SaveError::Io(unexpected("PUT", s))),
        }
    }

    async fn remove(&self, key: &str) -> std::io::Result<bool> {
        if self.head(key).await?.is_none() {
            return Ok(false);
        }
        let object = self.object(key);
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &object)
            .sign(SIGNED_FOR);
        let r = self.idempotent(|| self.http.delete(url.clone())).await?;
        match r.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(unexpected("DELETE", s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chom_test_support::s3::{BUCKET, Moto};

    fn bucket(moto: &Moto) -> S3Bucket {
        S3Bucket {
            endpoint: moto.endpoint(),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            access_key: "k".into(),
            secret_key: "s".into(),
            prefix: "t/".into(),
            path_style: true,
        }
    }

    /// The bucket itself refuses to replace an object (`If-None-Match: *`), even when the HEAD
    /// check is passed by (two racing uploads): put-once holds without the server's check.
    #[tokio::test]
    async fn the_bucket_refuses_to_replace_an_object() {
        let moto = Moto::start().await;
        let spool = tempfile::tempdir().unwrap();
        let s3 = S3::new(bucket(&moto), spool.path().join("spool")).unwrap();
        let file = spool.path().join("one");
        std::fs::write(&file, b"first").unwrap();
        s3.put_once("r/config", &file, 5).await.unwrap();
        std::fs::write(&file, b"other").unwrap();
        assert!(matches!(
            s3.put_once("r/config", &file, 5).await,
            Err(SaveError::Exists)
        ));
        let racing = s3
            .put("r/config", reqwest::Body::from(b"other".to_vec()), 5, true)
            .await
            .unwrap();
        assert_eq!(racing, StatusCode::PRECONDITION_FAILED);
        assert_eq!(moto.object("t/r/config").await, b"first");
        // Reads are bounded by the range asked for.
        let bytes: Vec<u8> = s3
            .read("r/config", 1, 3)
            .await
            .unwrap()
            .try_fold(Vec::new(), |mut all, b| {
                all.extend_from_slice(&b);
                futures::future::ready(Ok(all))
            })
            .await
            .unwrap();
        assert_eq!(bytes, b"irs");
        // A crash's leftover in the spool is cleared at start.
        std::fs::write(spool.path().join("spool/.x.0.upload"), b"left").unwrap();
        drop(s3);
        let _again = S3::new(bucket(&moto), spool.path().join("spool")).unwrap();
        assert!(!spool.path().join("spool/.x.0.upload").exists());
    }

    /// A failing bucket (every answer a 503) opens the breaker: after 5 failed requests in a
    /// row the next ones are not sent at all, and not retried.
    #[tokio::test]
    async fn a_failing_bucket_opens_the_circuit() {
        use std::io::{Read as _, Write as _};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let spool = tempfile::tempdir().unwrap();
        let s3 = S3::new(
            S3Bucket {
                endpoint: format!("http://127.0.0.1:{port}"),
                bucket: BUCKET.into(),
                region: "us-east-1".into(),
                access_key: "k".into(),
                secret_key: "s".into(),
                prefix: String::new(),
                path_style: true,
            },
            spool.path().join("spool"),
        )
        .unwrap();
        // The first HEAD: 3 attempts, each answered 503.
        let e = s3.head("r/config").await.unwrap_err();
        assert!(!e.to_string().contains("circuit open"), "{e}");
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        // The second: 2 more 503s, the fifth failure in a row opens the circuit, and its last
        // attempt is not sent.
        let e = s3.head("r/config").await.unwrap_err();
        assert!(e.to_string().contains("circuit open"), "{e}");
        assert_eq!(asked.load(Ordering::SeqCst), 5);
        // While open, nothing reaches the bucket.
        for _ in 0..3 {
            let e = s3.head("r/config").await.unwrap_err();
            assert!(e.to_string().contains("circuit open"), "{e}");
        }
        assert_eq!(asked.load(Ordering::SeqCst), 5, "nothing sent while open");
    }
}
