//! restic's REST protocol (v2), as the backup writer's storage: the repository behind
//! `rest:http(s)://<user>:<credential>@host/<repo>/` (`chom-restic-server`, ADR 0008).
//!
//! Every request has a timeout; a request that failed on the way (connection, 5xx, 429) is
//! tried again up to [`ATTEMPTS`] times with a growing pause: each one is idempotent (a file's
//! name is its content's hash, so writing it twice writes the same bytes).

use bytes::Bytes;
use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};
use std::time::Duration;

/// Tries of one request.
const ATTEMPTS: u32 = 4;
/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request may take this long (a pack is a few MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub(super) struct RestBackend {
    url: Url,
    client: Client,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("{0} answered {1}")]
    Status(String, StatusCode),
}

fn backend_error(what: &'static str, e: Failure) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::Backend, what, e)
}

impl RestBackend {
    /// `url` is the part after `rest:`.
    pub(super) fn new(url: &str) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut text = url.to_owned();
        if !text.ends_with('/') {
            text.push('/');
        }
        let url = Url::parse(&text).map_err(|e| format!("repository address: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("repository address: only http and https".into());
        }
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("chom-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { url, client })
    }

    fn path(&self, tpe: FileType, id: Option<&Id>) -> RusticResult<Url> {
        let path = match (tpe, id) {
            (FileType::Config, _) => "config".to_owned(),
            (_, Some(id)) => format!("{}/{}", tpe.dirname(), id.to_hex().as_str()),
            (_, None) => format!("{}/", tpe.dirname()),
        };
        self.url.join(&path).map_err(|e| {
            RusticError::with_source(ErrorKind::Internal, "joining the repository address", e)
        })
    }

    /// Sends what `request` builds, again after a failure on the way (never after a 4xx).
    fn send(
        &self,
        request: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = request().send();
            let retry = match &outcome {
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(e) => !e.is_builder(),
            };
            if !retry || attempt >= ATTEMPTS {
                return Ok(outcome?);
            }
            std::thread::sleep(Duration::from_millis(200 * u64::from(attempt * attempt)));
        }
    }

    /// [`Self::send`], then a status other than 2xx is a failure of `what`.
    fn call(
        &self,
        what: &str,
        request: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, Failure> {
        let response = self.send(request)?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            Err(Failure::Status(what.to_owned(), status))
        }
    }
}

impl ReadBackend for RestBackend {
    fn location(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        format!("rest:{url}")
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        #[derive(serde::Deserialize)]
        struct Entry {
            name: String,
            size: u32,
        }
        let url = self.path(tpe, None)?;
        if tpe == FileType::Config {
            let found = self
                .send(|| self.client.head(url.clone()))
                .map_err(|e| backend_error("looking for the config", e))?;
            return Ok(if found.status().is_success() {
                vec![(Id::default(), 0)]
            } else {
                Vec::new()
            });
        }
        let listed = self
            .call("listing", || {
                self.client
                    .get(url.clone())
                    .header("Accept", "application/vnd.x.restic.rest.v2")
            })
            .and_then(|r| Ok(r.json::<Option<Vec<Entry>>>()?))
            .map_err(|e| backend_error("listing the repository", e))?;
        Ok(listed
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some((Id::parse_some(&e.name, tpe)?, e.size)))
            .collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let url = self.path(tpe, Some(id))?;
        self.call("reading", || self.client.get(url.clone()))
            .and_then(|r| Ok(r.bytes()?))
            .map_err(|e| backend_error("reading a repository file", e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let url = self.path(tpe, Some(id))?;
        let range = format!(
            "bytes={offset}-{}",
            u64::from(offset) + u64::from(length) - 1
        );
        self.call("reading", || {
            self.client.get(url.clone()).header("Range", range.clone())
        })
        .and_then(|r| Ok(r.bytes()?))
        .map_err(|e| backend_error("reading part of a repository file", e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        format!("{}/{}", tpe.dirname(), id.to_hex().as_str())
    }
}

impl WriteBackend for RestBackend {
    fn create(&self) -> RusticResult<()> {
        let url = self.url.join("?create=true").map_err(|e| {
            RusticError::with_source(ErrorKind::Internal, "joining the repository address", e)
        })?;
        self.call("creating the repository", || self.client.post(url.clone()))
            .map(drop)
            .map_err(|e| backend_error("creating the repository", e))
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let url = self.path(tpe, Some(id))?;
        let body: Bytes = match content.slice() {
            [one] => one.clone(),
            parts => Bytes::from(parts.concat()),
        };
        self.call("writing", || {
            self.client.post(url.clone()).body(body.clone())
        })
        .map(drop)
        .map_err(|e| backend_error("writing a repository file", e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let url = self.path(tpe, Some(id))?;
        self.call("removing", || self.client.delete(url.clone()))
            .map(drop)
            .map_err(|e| backend_error("removing a repository file", e))
    }
}
