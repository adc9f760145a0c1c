//! restic's REST protocol (v2), as the backup writer's storage: the repository behind
//! `rest:http(s)://<user>:<credential>@host/<repo>/` (`chom-restic-server`, ADR 0008).
//!
//! Every request has a timeout; a request that failed on the way (connection, 5xx, 429) is
//! tried again up to [`ATTEMPTS`] times with a growing pause: each one is idempotent (a file's
//! name is its content's hash, so writing it twice writes the same bytes). A circuit breaker
//! stands in front: once [`BREAKER_FAILURES`] requests in a row have given up, it opens for
//! [`BREAKER_OPEN_FOR`]: a request started meanwhile fails at once, and one in flight (rustic
//! runs several at once) stops before its next try, instead of each spending its own tries and
//! timeouts on a server that is gone. Then requests go through again: the first answer closes
//! the breaker, a request that gives up opens it again.

use bytes::Bytes;
use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Tries of one request.
const ATTEMPTS: u32 = 4;
/// The pause before the second try; before the third it is 4 times as long, then 9.
const PAUSE: Duration = Duration::from_millis(200);
/// Requests given up in a row that open the circuit breaker.
const BREAKER_FAILURES: u32 = 3;
/// How long the open breaker refuses every request.
const BREAKER_OPEN_FOR: Duration = Duration::from_secs(30);
/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request may take this long (a pack is a few MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Bytes of tree packs kept in memory for one run (see [`TreePacks`]).
const TREE_PACKS_BUDGET: usize = 64 << 20;
/// Upload buffers kept for the next uploads (see [`RestBackend::body`]): as many as packs are
/// uploaded at once, two by each of the data and the tree packer.
const BODIES: usize = 4;

#[derive(Debug)]
pub(super) struct RestBackend {
    url: Url,
    client: Client,
    tree_packs: Mutex<TreePacks>,
    bodies: Mutex<Vec<Bytes>>,
    pause: Duration,
    breaker: Breaker,
}

/// The repository server's circuit breaker.
type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

fn breaker(open_for: Duration) -> Breaker {
    let policy = failsafe::failure_policy::consecutive_failures(
        BREAKER_FAILURES,
        failsafe::backoff::constant(open_for),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// How a request gave up, for the breaker: no answer, a 5xx or 429 at its last try (an
/// answer the caller still gets), or no further try because the breaker opened meanwhile.
enum GaveUp {
    Unanswered(reqwest::Error),
    Refused(Box<reqwest::blocking::Response>),
    Stopped,
}

/// Tree packs read whole and kept for the rest of the run. rustic reads a tree with one ranged
/// request, and a backup reads the parent's every tree (one per directory: about 150 requests
/// for the bench's 14,000-file site) where they sit in a few packs. A pack never changes (its
/// name is its content's hash) and every blob read from it is still decrypted and
/// authenticated by rustic. The first pack that does not fit in [`TREE_PACKS_BUDGET`] closes
/// the cache: from then on, packs not kept are read by ranges again.
#[derive(Debug)]
struct TreePacks {
    packs: HashMap<Id, Bytes>,
    size: usize,
    budget: usize,
    full: bool,
}

impl TreePacks {
    fn new(budget: usize) -> Self {
        Self {
            packs: HashMap::new(),
            size: 0,
            budget,
            full: false,
        }
    }

    /// Keeps `pack` if it fits (once: two threads may have read it at the same time).
    fn keep(&mut self, id: Id, pack: &Bytes) {
        if self.packs.contains_key(&id) {
            return;
        }
        if self.size + pack.len() <= self.budget {
            self.size += pack.len();
            self.packs.insert(id, pack.clone());
        } else {
            self.full = true;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("{0} answered {1}")]
    Status(String, StatusCode),
    #[error(
        "the repository server keeps failing (circuit breaker open): request not sent, or not \
         tried again"
    )]
    Open,
}

impl Failure {
    /// Whether this failure says nothing of the repository's data: no answer, the breaker
    /// open, or an answer other than "no such file" and "no such range" (which say that a
    /// file is missing, or shorter than the index says).
    fn leaves_data_unknown(&self) -> bool {
        match self {
            Self::Http(_) | Self::Open => true,
            Self::Status(_, s) => {
                *s != StatusCode::NOT_FOUND && *s != StatusCode::RANGE_NOT_SATISFIABLE
            }
        }
    }
}

/// Whether `e`, or an error it wraps, is the repository server failing to answer (or
/// refusing the credential): a failure that says nothing of the repository's data, which may
/// well be intact.
pub(super) fn server_failed(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source())
        .find_map(|e| e.downcast_ref::<Failure>())
        .is_some_and(Failure::leaves_data_unknown)
}

fn backend_error(what: &'static str, e: Failure) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::Backend, what, e)
}

impl RestBackend {
    /// `url` is the part after `rest:`.
    pub(super) fn new(url: &str) -> Result<Self, String> {
        Self::with_policy(url, PAUSE, BREAKER_OPEN_FOR)
    }

    /// [`Self::new`] with the pause between tries and the time the breaker stays open.
    fn with_policy(url: &str, pause: Duration, open_for: Duration) -> Result<Self, String> {
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
        Ok(Self {
            url,
            client,
            tree_packs: Mutex::new(TreePacks::new(TREE_PACKS_BUDGET)),
            bodies: Mutex::new(Vec::new()),
            pause,
            breaker: breaker(open_for),
        })
    }

    /// The body of an upload of `parts`: one piece is sent as it is; more are put together
    /// in the buffer of an earlier upload. A pack is a few dozen MiB: a new buffer for each
    /// was the writer's most page faults (fresh memory, touched once), where a kept one is
    /// touched already.
    fn body(&self, parts: &[Bytes]) -> (Bytes, bool) {
        if let [one] = parts {
            return (one.clone(), false);
        }
        let mut buffer = self.free_body().unwrap_or_default();
        buffer.clear();
        buffer.reserve(parts.iter().map(Bytes::len).sum());
        for part in parts {
            buffer.extend_from_slice(part);
        }
        (Bytes::from(buffer), true)
    }

    /// The buffer of a body sent earlier that nothing holds any more. The HTTP client lets go
    /// of a body a moment after its answer came, so a body is kept as it is
    /// ([`RestBackend::keep_body`]) and taken back here, when the next upload needs one.
    fn free_body(&self) -> Option<Vec<u8>> {
        let mut bodies = self.bodies.lock().unwrap_or_else(PoisonError::into_inner);
        let free = bodies.iter().position(Bytes::is_unique)?;
        bodies.swap_remove(free).try_into_mut().ok().map(Vec::from)
    }

    /// Keeps a sent `body` for a later upload ([`RestBackend::free_body`]).
    fn keep_body(&self, body: Bytes) {
        let mut bodies = self.bodies.lock().unwrap_or_else(PoisonError::into_inner);
        if bodies.len() < BODIES {
            bodies.push(body);
        }
    }

    /// `length` bytes from `offset` of the tree pack `id`, from memory (the pack is read whole
    /// the first time); `None` when the cache is closed and the pack is not kept.
    fn tree_pack_range(&self, id: &Id, offset: u32, length: u32) -> RusticResult<Option<Bytes>> {
        let lock = || {
            self.tree_packs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        let kept = {
            let packs = lock();
            match packs.packs.get(id) {
                Some(pack) => Some(pack.clone()),
                None if packs.full => return Ok(None),
                None => None,
            }
        };
        let pack = match kept {
            Some(pack) => pack,
            None => {
                let pack = self.read_full(FileType::Pack, id)?;
                lock().keep(*id, &pack);
                pack
            }
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
        if end > pack.len() {
            return Err(RusticError::new(
                ErrorKind::Backend,
                "a read past the end of a repository file",
            ));
        }
        Ok(Some(pack.slice(start..end)))
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

    /// Sends what `request` builds, again after a failure on the way (never after a 4xx),
    /// through the breaker: a request that gave up counts against the server; any answer
    /// counts for it (and so does a request that could not be built, which this client's
    /// fixed requests never are); while the breaker is open nothing is sent.
    fn send(
        &self,
        request: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, Failure> {
        use failsafe::CircuitBreaker as _;
        let counts = |g: &GaveUp| !matches!(g, GaveUp::Unanswered(e) if e.is_builder());
        match self.breaker.call_with(counts, || self.tries(&request)) {
            Ok(r) => Ok(r),
            Err(failsafe::Error::Inner(GaveUp::Refused(r))) => Ok(*r),
            Err(failsafe::Error::Inner(GaveUp::Unanswered(e))) => Err(Failure::Http(e)),
            Err(failsafe::Error::Inner(GaveUp::Stopped) | failsafe::Error::Rejected) => {
                Err(Failure::Open)
            }
        }
    }

    /// Up to [`ATTEMPTS`] tries of `request`, with a growing pause between them; no further
    /// try once the breaker is open (other requests gave up meanwhile).
    fn tries(
        &self,
        request: &impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, GaveUp> {
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
            if !retry {
                return outcome.map_err(GaveUp::Unanswered);
            }
            if attempt >= ATTEMPTS {
                return Err(match outcome {
                    Ok(r) => GaveUp::Refused(Box::new(r)),
                    Err(e) => GaveUp::Unanswered(e),
                });
            }
            std::thread::sleep(self.pause * attempt * attempt);
            if !self.breaker.is_call_permitted() {
                return Err(GaveUp::Stopped);
            }
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
            // Only a 404 says there is none: a server that failed must not look like a new
            // repository, where the writer would add a key with a master key of its own.
            return match found.status() {
                s if s.is_success() => Ok(vec![(Id::default(), 0)]),
                StatusCode::NOT_FOUND => Ok(Vec::new()),
                s => Err(backend_error(
                    "looking for the config",
                    Failure::Status("looking for the config".into(), s),
                )),
            };
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
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        // rustic marks the reads of trees (and only those) cacheable.
        if cacheable
            && tpe == FileType::Pack
            && let Some(bytes) = self.tree_pack_range(id, offset, length)?
        {
            return Ok(bytes);
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
        let (body, made) = self.body(content.slice());
        let sent = self.call("writing", || {
            self.client.post(url.clone()).body(body.clone())
        });
        if made {
            self.keep_body(body);
        }
        sent.map(drop)
            .map_err(|e| backend_error("writing a repository file", e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let url = self.path(tpe, Some(id))?;
        self.call("removing", || self.client.delete(url.clone()))
            .map(drop)
            .map_err(|e| backend_error("removing a repository file", e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_http::{Request, serve as test_server};
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server with one file, `data/<any>`: the whole of `content`, or the range asked;
    /// counts the requests, and apart those for the whole file.
    fn serve(content: &'static [u8]) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (url, count, whole, _) = serve_and_keep(content);
        (url, count, whole)
    }

    /// The body of every request, in order.
    type Received = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// [`serve`], keeping the body of every request.
    fn serve_and_keep(
        content: &'static [u8],
    ) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>, Received) {
        let count = Arc::new(AtomicUsize::new(0));
        let whole = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (counted, counted_whole, kept) = (count.clone(), whole.clone(), bodies.clone());
        let url = test_server(move |request: Request| {
            kept.lock().unwrap().push(request.body);
            counted.fetch_add(1, Ordering::SeqCst);
            if request.range.is_none() {
                counted_whole.fetch_add(1, Ordering::SeqCst);
            }
            match request.range {
                Some((a, b)) => ("206 Partial Content", content[a..=b].to_vec()),
                None => ("200 OK", content.to_vec()),
            }
        });
        (url, count, whole, bodies)
    }

    /// An upload in pieces is sent whole, through a buffer kept for the next upload, which
    /// sends its own bytes and nothing left of the first.
    #[test]
    fn an_upload_goes_through_a_buffer_kept_for_the_next() {
        let (url, _, _, received) = serve_and_keep(b"");
        let be = RestBackend::new(&url).unwrap();
        let pieces = |parts: &[&'static [u8]]| {
            let mut list = BytesList::default();
            for part in parts {
                list.add(Bytes::from_static(part));
            }
            list
        };
        let id = Id::default();
        be.write_bytes(
            FileType::Pack,
            &id,
            false,
            pieces(&[b"first ", b"pack, ", b"longer"]),
        )
        .unwrap();
        // The client lets go of a body a moment after its answer.
        let kept = |be: &RestBackend| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                {
                    let bodies = be.bodies.lock().unwrap();
                    assert_eq!(bodies.len(), 1, "one buffer kept");
                    if bodies[0].is_unique() {
                        return bodies[0].as_ptr();
                    }
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the body is still held"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let buffer = kept(&be);
        be.write_bytes(FileType::Pack, &id, false, pieces(&[b"second", b" pack"]))
            .unwrap();
        assert_eq!(kept(&be), buffer, "the second upload took the kept buffer");
        // One piece goes as it is, and its memory is not kept.
        be.write_bytes(FileType::Index, &id, false, pieces(&[b"index"]))
            .unwrap();
        assert_eq!(kept(&be), buffer);
        let received = received.lock().unwrap();
        let received: Vec<&[u8]> = received.iter().map(Vec::as_slice).collect();
        assert_eq!(
            received,
            [&b"first pack, longer"[..], b"second pack", b"index"]
        );
    }

    /// The parent's trees cost one request per pack, not one per tree; data blobs are still
    /// read by ranges; a read past the end of a pack is an error, not fewer bytes.
    #[test]
    fn a_tree_pack_is_read_once_and_its_trees_from_memory() {
        const PACK: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let (url, count, _) = serve(PACK);
        let be = RestBackend::new(&url).unwrap();
        let id = Id::default();
        for (offset, length) in [(0, 4), (10, 6), (30, 6), (10, 6)] {
            let bytes = be
                .read_partial(FileType::Pack, &id, true, offset, length)
                .unwrap();
            let (a, b) = (offset as usize, (offset + length) as usize);
            assert_eq!(&bytes[..], &PACK[a..b]);
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "one request for four trees"
        );
        assert!(be.read_partial(FileType::Pack, &id, true, 30, 7).is_err());
        assert_eq!(count.load(Ordering::SeqCst), 1);

        for (offset, length) in [(0, 4), (10, 6)] {
            let bytes = be
                .read_partial(FileType::Pack, &id, false, offset, length)
                .unwrap();
            let (a, b) = (offset as usize, (offset + length) as usize);
            assert_eq!(&bytes[..], &PACK[a..b]);
        }
        assert_eq!(count.load(Ordering::SeqCst), 3, "data is read by ranges");
    }

    /// A pack that does not fit closes the cache: it is read whole once (that read is
    /// served), then by ranges, never whole again; the packs kept are still served.
    #[test]
    fn past_the_budget_tree_packs_are_read_by_ranges() {
        const PACK: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let (url, count, whole) = serve(PACK);
        let mut be = RestBackend::new(&url).unwrap();
        be.tree_packs = Mutex::new(TreePacks::new(PACK.len() + 10));
        let requests = || count.load(Ordering::SeqCst);
        let (kept, other) = (Id::random(), Id::random());
        assert_eq!(
            &be.read_partial(FileType::Pack, &kept, true, 0, 4).unwrap()[..],
            b"0123"
        );
        assert_eq!(requests(), 1);
        assert_eq!(
            &be.read_partial(FileType::Pack, &other, true, 4, 4).unwrap()[..],
            b"4567"
        );
        assert_eq!(requests(), 2, "read whole, not kept");
        for _ in 0..3 {
            assert_eq!(
                &be.read_partial(FileType::Pack, &other, true, 8, 2).unwrap()[..],
                b"89"
            );
        }
        assert_eq!(requests(), 5, "then one request per tree");
        assert_eq!(
            whole.load(Ordering::SeqCst),
            2,
            "by ranges, never whole again"
        );
        assert_eq!(
            &be.read_partial(FileType::Pack, &kept, true, 10, 3).unwrap()[..],
            b"abc"
        );
        assert_eq!(requests(), 5, "the kept pack is still served from memory");
        let cache = be.tree_packs.lock().unwrap();
        assert_eq!((cache.size, cache.packs.len()), (PACK.len(), 1));
    }

    /// Two threads that read one pack at the same time count it once.
    #[test]
    fn a_pack_kept_twice_counts_once() {
        let mut cache = TreePacks::new(100);
        let (id, pack) = (Id::random(), Bytes::from_static(b"tree pack"));
        cache.keep(id, &pack);
        cache.keep(id, &pack);
        assert_eq!((cache.size, cache.packs.len(), cache.full), (9, 1, false));
    }

    /// The statuses a test server answers with, in turn (one per request, around again).
    type Statuses = Arc<std::sync::Mutex<Vec<&'static str>>>;

    fn statuses(answers: &[&'static str]) -> Statuses {
        Arc::new(std::sync::Mutex::new(answers.to_vec()))
    }

    /// A server that answers each request with the next of `answers` (an empty body), and
    /// counts the requests.
    fn answer_with(answers: Statuses) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let url = test_server(move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let answers = answers.lock().unwrap();
            (answers[n % answers.len()], Vec::new())
        });
        (url, count)
    }

    const FAILING: &str = "503 Service Unavailable";

    fn a_pack(be: &RestBackend) -> RusticResult<Bytes> {
        be.read_full(FileType::Pack, &Id::default())
    }

    /// Makes `times` requests that give up (every try answered 503), each sending
    /// [`ATTEMPTS`] tries.
    fn give_up(be: &RestBackend, count: &AtomicUsize, times: u32) {
        let before = count.load(Ordering::SeqCst);
        for given_up in 1..=times {
            let e = a_pack(be).unwrap_err();
            assert!(e.to_string().contains("503"), "{e}");
            let sent = count.load(Ordering::SeqCst) - before;
            assert_eq!(sent, (given_up * ATTEMPTS) as usize);
        }
    }

    /// Three requests that gave up open the breaker: the next read and the next write are
    /// not sent, and say why; a request in flight makes no further try.
    #[test]
    fn a_server_that_keeps_failing_opens_the_breaker() {
        let (url, count) = answer_with(statuses(&[FAILING]));
        let be = RestBackend::with_policy(&url, Duration::ZERO, Duration::from_secs(600)).unwrap();
        give_up(&be, &count, BREAKER_FAILURES);
        let sent = count.load(Ordering::SeqCst);
        let e = a_pack(&be).unwrap_err();
        assert!(e.to_string().contains("circuit breaker open"), "{e}");
        let written = be.write_bytes(
            FileType::Pack,
            &Id::default(),
            false,
            BytesList::from(Bytes::from_static(b"pack")),
        );
        assert!(written.is_err());
        assert_eq!(count.load(Ordering::SeqCst), sent, "nothing was sent");
        // A request that was already past the breaker (its first try sent) stops there.
        let url = be.path(FileType::Pack, Some(&Id::default())).unwrap();
        let tried = be.tries(&|| be.client.get(url.clone()));
        assert!(matches!(tried, Err(GaveUp::Stopped)));
        assert_eq!(
            count.load(Ordering::SeqCst),
            sent + 1,
            "one try, not {ATTEMPTS}"
        );
    }

    /// Once its time is up the breaker lets requests through, and the first answer closes
    /// it: one request giving up afterwards does not open it again.
    #[test]
    fn the_first_answer_after_its_time_closes_the_breaker() {
        let answers = statuses(&[FAILING]);
        let (url, count) = answer_with(answers.clone());
        let open_for = Duration::from_millis(50);
        let be = RestBackend::with_policy(&url, Duration::ZERO, open_for).unwrap();
        give_up(&be, &count, BREAKER_FAILURES);
        assert!(a_pack(&be).is_err());
        *answers.lock().unwrap() = vec!["200 OK"];
        std::thread::sleep(open_for * 4);
        assert!(a_pack(&be).is_ok());
        *answers.lock().unwrap() = vec![FAILING];
        give_up(&be, &count, BREAKER_FAILURES - 1);
        let sent = count.load(Ordering::SeqCst);
        assert!(a_pack(&be).unwrap_err().to_string().contains("503"));
        assert_eq!(count.load(Ordering::SeqCst), sent + ATTEMPTS as usize);
    }

    /// Answers the caller gets as they are (404, or a 503 that a later try got past) are not
    /// failures of the server, and an answer between requests that gave up starts the count
    /// again: however many, the breaker stays closed.
    #[test]
    fn answers_keep_the_breaker_closed() {
        let answers = statuses(&["404 Not Found"]);
        let (url, count) = answer_with(answers.clone());
        let be = RestBackend::with_policy(&url, Duration::ZERO, Duration::from_secs(600)).unwrap();
        let missing = BREAKER_FAILURES as usize * 2;
        for _ in 0..missing {
            let e = a_pack(&be).unwrap_err();
            assert!(e.to_string().contains("404"), "{e}");
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            missing,
            "each 404 is sent once"
        );

        // Every request's first try answered 503, its second 200.
        *answers.lock().unwrap() = vec![FAILING, "200 OK"];
        let before = count.load(Ordering::SeqCst);
        for _ in 0..missing {
            assert!(a_pack(&be).is_ok());
        }
        assert_eq!(count.load(Ordering::SeqCst) - before, missing * 2);

        for _ in 0..2 {
            *answers.lock().unwrap() = vec![FAILING];
            give_up(&be, &count, BREAKER_FAILURES - 1);
            *answers.lock().unwrap() = vec!["200 OK"];
            assert!(a_pack(&be).is_ok());
        }
    }

    /// What says nothing of the data (no answer, the breaker open, a 5xx, a refused
    /// credential) is told apart from what does (a missing file, a range past its end), through
    /// the errors that wrap it.
    #[test]
    fn a_server_failing_is_told_apart_from_missing_data() {
        let status = |s: StatusCode| backend_error("reading", Failure::Status("reading".into(), s));
        // Nothing listens on port 1.
        let nobody = RestBackend::with_policy(
            "http://127.0.0.1:1/repo/",
            Duration::ZERO,
            Duration::from_secs(600),
        )
        .unwrap();
        for (e, says_nothing) in [
            (status(StatusCode::SERVICE_UNAVAILABLE), true),
            (status(StatusCode::UNAUTHORIZED), true),
            (backend_error("reading", Failure::Open), true),
            (a_pack(&nobody).unwrap_err(), true),
            (status(StatusCode::NOT_FOUND), false),
            (status(StatusCode::RANGE_NOT_SATISFIABLE), false),
            (
                RusticError::new(ErrorKind::Backend, "no answer named"),
                false,
            ),
        ] {
            assert_eq!(server_failed(&*e), says_nothing, "{e}");
            // Wrapped once more, as rustic's check wraps what it could not read.
            let wrapped = RusticError::with_source(ErrorKind::Internal, "checking", e);
            assert_eq!(server_failed(&*wrapped), says_nothing, "{wrapped}");
        }
    }

    /// Only a 404 says the repository has no config: a server that keeps failing is an
    /// error, never "a new repository" (the writer would then add a key of its own).
    #[test]
    fn a_failing_server_is_not_a_repository_without_config() {
        for (answer, config) in [
            ("200 OK", Some(1)),
            ("404 Not Found", Some(0)),
            (FAILING, None),
        ] {
            let (url, _) = answer_with(statuses(&[answer]));
            let be =
                RestBackend::with_policy(&url, Duration::ZERO, Duration::from_secs(600)).unwrap();
            let found = be.list_with_size(FileType::Config);
            assert_eq!(
                found.as_ref().ok().map(Vec::len),
                config,
                "{answer}: {found:?}"
            );
        }
    }
}
