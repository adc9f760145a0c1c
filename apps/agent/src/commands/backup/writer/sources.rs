//! What the writer hands rustic to read: any source wrapped so that every file read gets its
//! SHA-256 (and, for a dump, its rows counted), and every error is kept: rustic leaves out a
//! file it cannot read and goes on, the writer refuses the backup instead.
//!
//! A file's SHA-256 is not taken as it is read: rustic hands it over once the file is cut
//! (`ReadSourceOpen::chunked`, a patch of the vendored `rustic_core`), the hash of the bytes
//! that went into its chunks. A chunk's id is the SHA-256 of its bytes, and the file's hash
//! goes on from its first chunk's state, so a file of one chunk (most of a site) is hashed
//! once, not twice. A file read that rustic never handed a hash for is left unhashed, and the
//! writer hashes it from the repository.

use super::super::manifest::Sha256Writer;
use crate::progress::Meter;
use chom_agent_protocol::rows::RowCounter;
use chom_agent_protocol::{AgentError, ErrorCode};
use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{DataId, Id, ReadSource, ReadSourceEntry, ReadSourceOpen, RusticResult};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    files: HashMap<PathBuf, (String, u64)>,
    unhashed: HashSet<PathBuf>,
    listed: Vec<PathBuf>,
    errors: Vec<String>,
    rows: BTreeMap<String, u64>,
}

/// What was read: each file's SHA-256 and size, the dump's rows, the errors.
#[derive(Clone, Default)]
pub(super) struct Seen(Arc<Mutex<Inner>>);

impl Seen {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn error(&self, e: String) {
        self.lock().errors.push(e);
    }

    /// The files read whole: SHA-256 (hex) and bytes, by path.
    pub(super) fn files(&self) -> HashMap<PathBuf, (String, u64)> {
        self.lock().files.clone()
    }

    /// How many files were read whole.
    pub(super) fn read_count(&self) -> usize {
        let inner = self.lock();
        inner.files.len() + inner.unhashed.len()
    }

    /// The files read whole but not hashed (listed smaller than one chunk, cut into more): what
    /// the snapshot holds of them is known only to the repository.
    pub(super) fn unhashed(&self) -> HashSet<PathBuf> {
        self.lock().unhashed.clone()
    }

    /// Every regular file the source listed (what the snapshot holds, when nothing failed).
    pub(super) fn listed(&self) -> Vec<PathBuf> {
        self.lock().listed.clone()
    }

    /// The rows of each table of the dump read.
    pub(super) fn rows(&self) -> BTreeMap<String, u64> {
        self.lock().rows.clone()
    }

    /// What a backup would have seen: `listed`, `read` with their hashes, `unhashed`.
    #[cfg(test)]
    pub(super) fn made_of(listed: &[&str], read: &[(&str, &str, u64)], unhashed: &[&str]) -> Self {
        let seen = Self::default();
        {
            let mut inner = seen.lock();
            inner.listed = listed.iter().map(PathBuf::from).collect();
            inner.files = read
                .iter()
                .map(|(p, sha, size)| (PathBuf::from(p), ((*sha).to_owned(), *size)))
                .collect();
            inner.unhashed = unhashed.iter().map(PathBuf::from).collect();
        }
        seen
    }

    /// Fails when anything could not be read.
    pub(super) fn check(&self) -> Result<(), AgentError> {
        let errors = &self.lock().errors;
        match errors.first() {
            None => Ok(()),
            Some(first) => Err(AgentError::new(
                ErrorCode::Io,
                format!(
                    "{} could not be read (the backup would not be whole): {first}",
                    errors.len()
                ),
            )),
        }
    }
}

/// `inner`, every file read getting its SHA-256.
pub(super) struct Hashed<S> {
    inner: S,
    seen: Seen,
    rows: bool,
    meter: Option<Arc<Meter>>,
}

impl<S> Hashed<S> {
    /// `rows`: count the rows of a dump as it passes; `meter`: counts the files listed and the
    /// bytes read.
    pub(super) fn new(inner: S, seen: Seen, rows: bool, meter: Option<Arc<Meter>>) -> Self {
        Self {
            inner,
            seen,
            rows,
            meter,
        }
    }
}

type Entry<O> = RusticResult<ReadSourceEntry<O>>;

impl<S> ReadSource for Hashed<S>
where
    S: ReadSource,
    S::Iter: Send + 'static,
    S::Open: Send + 'static,
{
    type Open = HashedOpen<S::Open>;
    type Iter = Box<dyn Iterator<Item = Entry<Self::Open>> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        self.inner.size()
    }

    fn entries(&self) -> Self::Iter {
        let seen = self.seen.clone();
        let rows = self.rows;
        let meter = self.meter.clone();
        Box::new(self.inner.entries().map(move |entry| match entry {
            Ok(ReadSourceEntry { path, node, open }) => {
                if node.node_type == NodeType::File {
                    seen.lock().listed.push(path.clone());
                    if let Some(m) = &meter {
                        m.file();
                    }
                }
                Ok(ReadSourceEntry {
                    open: open.map(|inner| HashedOpen {
                        inner,
                        path: path.clone(),
                        seen: seen.clone(),
                        rows,
                        meter: meter.clone(),
                    }),
                    path,
                    node,
                })
            }
            Err(e) => {
                seen.error(e.to_string());
                Err(e)
            }
        }))
    }
}

pub(super) struct HashedOpen<O> {
    inner: O,
    path: PathBuf,
    seen: Seen,
    rows: bool,
    meter: Option<Arc<Meter>>,
}

impl<O: ReadSourceOpen> ReadSourceOpen for HashedOpen<O> {
    type Reader = HashedReader<O::Reader>;

    fn open(self) -> RusticResult<Self::Reader> {
        match self.inner.open() {
            Ok(reader) => Ok(HashedReader {
                inner: reader,
                read: 0,
                rows: self.rows.then(RowCounter::new),
                path: self.path,
                seen: self.seen,
                meter: self.meter,
            }),
            Err(e) => {
                self.seen.error(format!("{}: {e}", self.path.display()));
                Err(e)
            }
        }
    }

    fn wants_sha256() -> bool {
        true
    }

    fn chunked(reader: &mut Self::Reader, content: &[DataId], sha256: Option<Id>) {
        let sha256 = match (sha256, content) {
            (Some(sha256), _) => sha256.to_hex().as_str().to_owned(),
            // No chunk: an empty file.
            (None, []) if reader.read == 0 => Sha256Writer::default().finish().0,
            _ => {
                reader.seen.lock().unhashed.insert(reader.path.clone());
                return;
            }
        };
        reader
            .seen
            .lock()
            .files
            .insert(reader.path.clone(), (sha256, reader.read));
    }
}

pub(super) struct HashedReader<R> {
    inner: R,
    /// Bytes read.
    read: u64,
    rows: Option<RowCounter>,
    path: PathBuf,
    seen: Seen,
    meter: Option<Arc<Meter>>,
}

impl<R: Read> Read for HashedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) => {
                if let Some(rows) = self.rows.take() {
                    self.seen.lock().rows = rows.finish();
                }
                Ok(0)
            }
            Ok(n) => {
                self.read += n as u64;
                if let Some(m) = &self.meter {
                    m.bytes(n as u64);
                }
                if let Some(rows) = self.rows.as_mut() {
                    rows.feed(buf.get(..n).unwrap_or_default());
                }
                Ok(n)
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.seen.error(format!("{}: {e}", self.path.display()));
                }
                Err(e)
            }
        }
    }
}

/// One file made of what `reader` gives (a dump, the manifest).
pub(super) struct Single<R> {
    path: PathBuf,
    reader: Mutex<Option<R>>,
}

impl<R> Single<R> {
    pub(super) fn new(name: &str, reader: R) -> Self {
        Self {
            path: PathBuf::from(name),
            reader: Mutex::new(Some(reader)),
        }
    }
}

impl<R: Read + Send + 'static> ReadSource for Single<R> {
    type Open = R;
    type Iter = std::option::IntoIter<Entry<R>>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let open = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let meta = Metadata {
            mode: Some(0o600),
            ..Metadata::default()
        };
        let node = Node::new_node(self.path.as_os_str(), NodeType::File, meta);
        Some(Ok(ReadSourceEntry {
            path: self.path.clone(),
            node,
            open,
        }))
        .into_iter()
    }
}

/// The dump as `backup.create` sends it: frames of a 4-byte little-endian length and that many
/// bytes, ended by a frame of length 0. An input that ends without that last frame is an
/// error, never a shorter dump.
pub(super) struct Frames<R> {
    inner: R,
    left: usize,
    ended: bool,
}

impl<R> Frames<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            left: 0,
            ended: false,
        }
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut len = [0u8; 4];
            self.inner.read_exact(&mut len)?;
            self.left = u32::from_le_bytes(len) as usize;
            if self.left == 0 {
                self.ended = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        Ok(n)
    }
}

/// Writes `data` as frames into `out` (the last, empty frame is [`end`]).
pub(in crate::commands::backup) fn frame(
    out: &mut impl std::io::Write,
    data: &[u8],
) -> std::io::Result<()> {
    for chunk in data.chunks(u32::MAX as usize) {
        out.write_all(&u32::try_from(chunk.len()).unwrap_or(u32::MAX).to_le_bytes())?;
        out.write_all(chunk)?;
    }
    Ok(())
}

/// Ends the frames.
pub(in crate::commands::backup) fn end(out: &mut impl std::io::Write) -> std::io::Result<()> {
    out.write_all(&0u32.to_le_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    fn opened(bytes: &'static [u8], seen: &Seen) -> HashedReader<&'static [u8]> {
        let open = HashedOpen {
            inner: bytes,
            path: PathBuf::from("/site/f"),
            seen: seen.clone(),
            rows: false,
            meter: None,
        };
        let mut reader = open.open().unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        reader
    }

    fn id(hex: &str) -> DataId {
        hex.parse().unwrap()
    }

    /// A file read is recorded with the SHA-256 rustic hands over once it is cut, never one
    /// of its own: reading alone records nothing. No chunk is an empty file; chunks without a
    /// hash leave it unhashed (the writer hashes it from the repository).
    #[test]
    fn a_file_read_takes_the_sha256_of_its_chunks() {
        let (sha, size) = super::super::super::manifest::sha256(&b"hello"[..]).unwrap();
        let seen = Seen::default();
        let mut read = opened(b"hello", &seen);
        assert!(seen.files().is_empty(), "not hashed as read");
        let given: Id = sha.parse().unwrap();
        HashedOpen::<&[u8]>::chunked(&mut read, &[id(&"0".repeat(64))], Some(given));
        assert_eq!(seen.files()[Path::new("/site/f")], (sha, size));

        let seen = Seen::default();
        let mut empty = opened(b"", &seen);
        HashedOpen::<&[u8]>::chunked(&mut empty, &[], None);
        let (empty_sha, _) = super::super::super::manifest::sha256(&b""[..]).unwrap();
        assert_eq!(seen.files()[Path::new("/site/f")], (empty_sha, 0));

        let seen = Seen::default();
        let mut unhashed = opened(b"hello", &seen);
        HashedOpen::<&[u8]>::chunked(&mut unhashed, &[id(&"0".repeat(64))], None);
        assert!(
            seen.files().is_empty(),
            "no hash handed over: none recorded"
        );
        assert!(seen.unhashed().contains(Path::new("/site/f")));
        assert_eq!(seen.read_count(), 1);
    }

    #[test]
    fn frames_give_the_bytes_and_a_cut_is_an_error() {
        let mut wire = Vec::new();
        frame(&mut wire, b"hello ").unwrap();
        frame(&mut wire, b"world").unwrap();
        let mut whole = wire.clone();
        end(&mut whole).unwrap();
        let mut out = String::new();
        Frames::new(whole.as_slice())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello world");
        let mut out = String::new();
        let cut = Frames::new(wire.as_slice()).read_to_string(&mut out);
        assert_eq!(cut.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
