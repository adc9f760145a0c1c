//! An upload's spool file ([`SpoolFile`]): written a block at a time, with `O_DIRECT` where
//! the file system takes it, by threads of its own while the next block fills.
//!
//! Direct writes go from the block to the disk, not copied into the page cache first. Packs
//! are written once and seldom read, so the cache gains nothing from them; and that copy was
//! half the server's CPU (most of it the first touch of each new page: a virtual machine whose
//! host takes freed memory back pays that touch again for every page). A direct write returns
//! when the disk has the block, so the blocks are written by [`WRITERS`] other threads while
//! the upload goes on filling the next ([`BLOCKS`] per upload, kept for the next uploads once
//! emptied).
//! The last block is padded to the alignment, then the file cut to its size. Where `O_DIRECT`
//! is refused (at open, or `EINVAL` at a write), the rest of the upload goes through the page
//! cache, with [`write_behind`].

use std::io::ErrorKind;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// The size of a block, the unit of the spool's writes.
const SPOOL_BLOCK: usize = 1 << 20;
/// What `O_DIRECT` asks aligned (the buffer, each write's offset and length): the largest
/// logical block size a disk has.
const DIRECT_ALIGN: usize = 4096;
/// Threads writing an upload's blocks: a direct write waits for the disk, and the disk takes
/// more at once (1 GiB in 1 MiB direct writes: 2.5 s from two writers, 1.8 s from four).
const WRITERS: usize = 2;
/// Blocks per upload: one filling while the others wait for, or are in, the disk.
const BLOCKS: usize = 4;
/// Emptied blocks kept for the next uploads (each `SPOOL_BLOCK`): fresh memory costs its first
/// touch, which the blocks were made to save.
const POOL: usize = 16;

static SPARE: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// `SPOOL_BLOCK` bytes aligned at `start` of `mem`, `held` of them filled (none: given away).
#[derive(Default)]
struct Block {
    mem: Vec<u8>,
    start: usize,
    held: usize,
}

impl Block {
    fn take() -> Self {
        let spare = SPARE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        spare.unwrap_or_else(|| {
            let mem = vec![0u8; SPOOL_BLOCK + DIRECT_ALIGN];
            let start = aligned(&mem);
            Self {
                mem,
                start,
                held: 0,
            }
        })
    }

    fn give_back(mut self) {
        if self.mem.is_empty() {
            return;
        }
        self.held = 0;
        // A test hands over a block out of alignment; the pool keeps only aligned ones.
        self.start = aligned(&self.mem);
        let mut spare = SPARE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spare.len() < POOL {
            spare.push(self);
        }
    }

    fn is_full(&self) -> bool {
        self.held == SPOOL_BLOCK
    }

    /// Takes as much of `bytes` as fits; returns the rest.
    fn fill<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let n = (SPOOL_BLOCK - self.held).min(bytes.len());
        let at = self.start + self.held;
        self.mem[at..at + n].copy_from_slice(&bytes[..n]);
        self.held += n;
        &bytes[n..]
    }
}

/// Where the aligned block starts in `mem` (safe code finds it within the spare bytes).
fn aligned(mem: &[u8]) -> usize {
    mem.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN)
}

/// The disk's side: the file, and whether it is still written direct.
struct Disk {
    file: std::fs::File,
    direct: AtomicBool,
}

impl Disk {
    /// Writes the held bytes of `block` at `offset` (a partial block only ends the file:
    /// padded when direct, the padding cut off by [`SpoolFile::finish`]).
    fn write(&self, offset: u64, block: &mut Block) -> std::io::Result<()> {
        let len = if self.direct.load(Ordering::Relaxed) {
            let padded = block.held.next_multiple_of(DIRECT_ALIGN);
            block.mem[block.start + block.held..block.start + padded].fill(0);
            padded
        } else {
            block.held
        };
        let bytes = &block.mem[block.start..block.start + len];
        let mut done = 0;
        let mut fell_back = false;
        while done < len {
            match self.file.write_at(&bytes[done..], offset + done as u64) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // This file system took `O_DIRECT` but refuses direct writes: the file goes
                // through the page cache from now on, and this write is tried again (once).
                // Either writer may see it first, or write an unpadded last block while the
                // other has not cleared the flag yet: each clears it (again, harmlessly).
                // A padded last block is then written whole, padding too: cut off at the end.
                Err(e) if e.kind() == ErrorKind::InvalidInput && !fell_back => {
                    fell_back = true;
                    self.direct.store(false, Ordering::Relaxed);
                    let flags = rustix::fs::fcntl_getfl(&self.file)?;
                    if flags.contains(rustix::fs::OFlags::DIRECT) {
                        rustix::fs::fcntl_setfl(&self.file, flags - rustix::fs::OFlags::DIRECT)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        block.held = 0;
        if !self.direct.load(Ordering::Relaxed) {
            write_behind(&self.file, offset, len as u64);
        }
        Ok(())
    }
}

/// An upload's spool file (see the module's documentation).
pub(crate) struct SpoolFile {
    filling: Block,
    /// Where `filling` goes in the file: at the end, the upload's size.
    offset: u64,
    /// Blocks taken from the pool for this upload.
    blocks: usize,
    /// Full blocks to the disk's threads (`None` once the last is sent), and emptied ones back.
    full: Option<SyncSender<(u64, Block)>>,
    emptied: Receiver<Block>,
    disk: Arc<Disk>,
    writers: Vec<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl SpoolFile {
    /// Makes the file at `path` (which must not exist), written with `O_DIRECT` if it can be.
    /// The flag is set once the file is made: Linux checks it after `O_CREAT` has made the
    /// file, so an open with it that fails on a file system without direct writes would leave
    /// the file behind (and `create_new` would then refuse it).
    pub(crate) fn create(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        let direct = rustix::fs::fcntl_getfl(&file).is_ok_and(|flags| {
            rustix::fs::fcntl_setfl(&file, flags | rustix::fs::OFlags::DIRECT).is_ok()
        });
        Self::over(file, direct, Block::take())
    }

    fn over(file: std::fs::File, direct: bool, first: Block) -> std::io::Result<Self> {
        let (full, to_disk) = std::sync::mpsc::sync_channel::<(u64, Block)>(BLOCKS);
        let (back, emptied) = std::sync::mpsc::sync_channel::<Block>(BLOCKS);
        let to_disk = Arc::new(Mutex::new(to_disk));
        let disk = Arc::new(Disk {
            file,
            direct: AtomicBool::new(direct),
        });
        let mut writers = Vec::with_capacity(WRITERS);
        for _ in 0..WRITERS {
            let (to_disk, back, disk) = (to_disk.clone(), back.clone(), disk.clone());
            let writer = std::thread::Builder::new().name("spool-disk".into()).spawn(
                move || -> std::io::Result<()> {
                    loop {
                        let next = to_disk
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok((offset, mut block)) = next else {
                            return Ok(());
                        };
                        disk.write(offset, &mut block)?;
                        // The filling side is gone (it failed): the block goes to the pool.
                        if let Err(unsent) = back.send(block) {
                            unsent.0.give_back();
                        }
                    }
                },
            );
            match writer {
                Ok(writer) => writers.push(writer),
                // Fewer threads still write every block; none is an error.
                Err(e) if writers.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(Self {
            filling: first,
            offset: 0,
            blocks: 1,
            full: Some(full),
            emptied,
            disk,
            writers,
        })
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            bytes = self.filling.fill(bytes);
            if self.filling.is_full() {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    /// Sends the block being filled to the disk's threads and takes an empty one.
    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = if self.blocks < BLOCKS {
            self.blocks += 1;
            Block::take()
        } else {
            match self.emptied.recv() {
                Ok(block) => block,
                Err(_) => return Err(self.disk_error()),
            }
        };
        let full = std::mem::replace(&mut self.filling, next);
        self.send(full)
    }

    fn send(&mut self, block: Block) -> std::io::Result<()> {
        let offset = self.offset;
        self.offset += block.held as u64;
        let sent = self
            .full
            .as_ref()
            .map(|to_disk| to_disk.send((offset, block)));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.disk_error()),
        }
    }

    /// Waits for the disk's threads to end; the first error of theirs.
    fn join(&mut self) -> std::io::Result<()> {
        self.full = None;
        let mut outcome = Ok(());
        for writer in self.writers.drain(..) {
            let ended = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a spool's disk thread panicked")));
            if outcome.is_ok() {
                outcome = ended;
            }
        }
        outcome
    }

    /// Why the disk's threads stopped taking blocks.
    fn disk_error(&mut self) -> std::io::Error {
        match self.join() {
            Err(e) => e,
            Ok(()) => std::io::Error::other("the spool's disk threads stopped"),
        }
    }

    /// Writes what is held, cuts the file to the bytes pushed and waits for the disk; returns
    /// whether every block went direct.
    pub(crate) fn finish(mut self) -> std::io::Result<bool> {
        if self.filling.held > 0 {
            let last = std::mem::take(&mut self.filling);
            self.send(last)?;
        }
        self.join()?;
        let (file, size) = (&self.disk.file, self.offset);
        // The last block went padded to the alignment.
        if file.metadata()?.len() != size {
            file.set_len(size)?;
        }
        file.sync_all()?;
        Ok(self.disk.direct.load(Ordering::Relaxed))
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        // Ends the disk's threads (after the blocks they have), and keeps the blocks for others.
        let _ = self.join();
        std::mem::take(&mut self.filling).give_back();
        while let Ok(block) = self.emptied.try_recv() {
            block.give_back();
        }
    }
}

/// Starts writing `len` bytes of `file` from `offset` to the disk, without waiting (when the
/// spool goes through the page cache). The `sync_all` that ends an upload (and reports any
/// write error) then waits for its tail, not for all of it: the disk works while the upload
/// goes on. Linux's `POSIX_FADV_DONTNEED` starts the writeback of dirty pages, as
/// PostgreSQL's `pg_flush_data` relies on (pages already clean are dropped from the cache,
/// those still being written stay); a failure costs only that overlap, so it is ignored.
fn write_behind(file: &std::fs::File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `O_DIRECT`, as `OpenOptionsExt::custom_flags` takes it.
    fn direct_flag() -> i32 {
        i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0)
    }

    /// Bytes that differ at every offset, so a block written twice or out of place shows.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from((i * 31 + i / 4099) % 251).unwrap_or(0))
            .collect()
    }

    fn spool_through(file: &mut SpoolFile, bytes: &[u8]) {
        // Pieces of an odd size, as a body arrives: blocks fill across them.
        for piece in bytes.chunks(7919) {
            file.push(piece).expect("push");
        }
    }

    #[test]
    fn an_upload_of_any_length_is_spooled_byte_for_byte_past_the_page_cache() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for len in [
            0,
            1,
            DIRECT_ALIGN - 1,
            DIRECT_ALIGN,
            DIRECT_ALIGN + 1,
            SPOOL_BLOCK - 1,
            SPOOL_BLOCK,
            SPOOL_BLOCK + 5,
            7 * SPOOL_BLOCK + 123,
        ] {
            let path = dir.path().join(format!("upload-{len}"));
            let mut file = SpoolFile::create(&path).expect("create");
            let bytes = pattern(len);
            spool_through(&mut file, &bytes);
            // The temporary directory's file system (ext4 here and in CI) takes direct writes;
            // without them this test would only check the fallback.
            let direct = file.finish().expect("finish");
            assert!(direct, "{len}: no O_DIRECT in {}", dir.path().display());
            assert_eq!(std::fs::read(&path).expect("read"), bytes, "{len} bytes");
        }
    }

    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache_instead() {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = tempfile::tempdir().expect("temporary directory");
        for len in [2 * SPOOL_BLOCK + 77, 100] {
            let path = dir.path().join(format!("upload-{len}"));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(direct_flag())
                .open(&path)
                .expect("open");
            // A block out of alignment: the kernel refuses the direct write (EINVAL), as a file
            // system that opens files for direct writes but will not take them does. The
            // blocks that follow are aligned, and go through the cache all the same.
            let mut first = Block::take();
            first.start = (first.start + 1) % DIRECT_ALIGN;
            let mut spool = SpoolFile::over(file, true, first).expect("spool");
            let bytes = pattern(len);
            spool_through(&mut spool, &bytes);
            let direct = spool.finish().expect("finish");
            assert!(!direct, "the refused write was not noticed");
            assert_eq!(std::fs::read(&path).expect("read"), bytes, "{len} bytes");
        }
    }

    #[test]
    fn a_failing_disk_fails_the_upload_with_its_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("upload");
        std::fs::write(&path, b"").expect("file");
        // Opened read-only: every write fails, as a full or broken disk's do.
        let file = std::fs::File::open(&path).expect("open");
        let mut spool = SpoolFile::over(file, false, Block::take()).expect("spool");
        let bytes = pattern(5 * SPOOL_BLOCK);
        let failed = bytes.chunks(7919).find_map(|piece| spool.push(piece).err());
        let error = failed.expect("a write to a read-only file failed the upload");
        assert_eq!(error.raw_os_error(), Some(9), "EBADF: {error}");
    }
}
