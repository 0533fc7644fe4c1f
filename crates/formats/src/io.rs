//! Byte sources: shareable positional reads (`ReadAt`), windows onto a part of another source,
//! spooling of non-seekable streams, and a `Read + Seek` cursor over any source.
//!
//! Everything in this crate reads through these types so that memory use never depends on the
//! size of an image: sources are read in bounded pieces, and a stream that cannot seek (a
//! decompressor) is spooled to an anonymous temporary file once it outgrows a small buffer.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A byte source that can be read at any offset from any thread.
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> u64;
    /// Reads up to `buf.len()` bytes at `offset`; returns 0 at or beyond the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// A shared byte source.
pub type Source = Arc<dyn ReadAt>;

/// Fills `buf` from `offset` or fails with `UnexpectedEof`.
pub fn read_exact_at(src: &dyn ReadAt, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match src.read_at(offset, buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("read past end of data at offset {offset:#x}"),
                ));
            }
            Ok(n) => {
                offset += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `len` bytes at `offset` into a new vector, refusing lengths above `limit`.
pub fn read_vec_at(src: &dyn ReadAt, offset: u64, len: u64, limit: u64) -> io::Result<Vec<u8>> {
    if len > limit {
        return Err(io::Error::other(format!(
            "refusing to read {len} bytes at {offset:#x} (limit {limit})"
        )));
    }
    let end = offset
        .checked_add(len)
        .ok_or_else(|| io::Error::other("offset overflow"))?;
    if end > src.size() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{len} bytes at {offset:#x} run past the end ({:#x})",
                src.size()
            ),
        ));
    }
    let mut v = vec![0; len as usize];
    read_exact_at(src, offset, &mut v)?;
    Ok(v)
}

/// A file on disk.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        FileExt::read_at(&self.file, &mut buf[..n], offset)
    }
}

/// Bytes held in memory.
pub struct MemSource(pub Vec<u8>);

impl ReadAt for MemSource {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= self.0.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}

impl ReadAt for std::sync::Arc<Vec<u8>> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= self.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl ReadAt for File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

/// A view of a list of byte ranges of another source, concatenated (a file's extents).
pub struct Window {
    inner: Source,
    extents: Vec<Range<u64>>,
    /// Start of each extent in window coordinates.
    starts: Vec<u64>,
    len: u64,
}

impl Window {
    /// Ranges past the end of `inner` are clipped, so a hostile extent list cannot make the
    /// window longer than its source.
    pub fn new(inner: Source, extents: &[Range<u64>]) -> Self {
        let size = inner.size();
        let mut out = Vec::with_capacity(extents.len());
        let mut starts = Vec::with_capacity(extents.len());
        let mut len = 0u64;
        for r in extents {
            let s = r.start.min(size);
            let e = r.end.min(size).max(s);
            if e > s {
                starts.push(len);
                out.push(s..e);
                len += e - s;
            }
        }
        Self {
            inner,
            extents: out,
            starts,
            len,
        }
    }

    pub fn extents(&self) -> &[Range<u64>] {
        &self.extents
    }
}

impl ReadAt for Window {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let i = self.starts.partition_point(|&s| s <= offset) - 1;
        let within = offset - self.starts[i];
        let ext = &self.extents[i];
        let avail = (ext.end - ext.start - within).min(buf.len() as u64) as usize;
        self.inner.read_at(ext.start + within, &mut buf[..avail])
    }
}

/// Size below which a spooled stream stays in memory.
pub const SPOOL_MEMORY: usize = 8 << 20;

/// Bytes that every spool of one comparison may take together: streams nest and run in
/// parallel, so one stream's limit alone does not bound the disk. Clones share the count.
/// Spent bytes are not given back when a spool is dropped: the budget bounds the work too.
#[derive(Clone, Debug)]
pub struct SpoolBudget {
    total: u64,
    used: Arc<AtomicU64>,
}

impl SpoolBudget {
    /// The default total: 8 GiB.
    pub const DEFAULT: u64 = 8 << 30;

    pub fn new(total: u64) -> Self {
        Self {
            total,
            used: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether a spool was refused because the budget ran out.
    pub fn exceeded(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.total
    }

    /// Counts `n` more bytes; false once the total is passed.
    fn take(&self, n: u64) -> bool {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        before.saturating_add(n) <= self.total
    }
}

impl Default for SpoolBudget {
    fn default() -> Self {
        Self::new(Self::DEFAULT)
    }
}

/// Drains a non-seekable reader into a source: in memory while small, else an anonymous
/// temporary file. Fails once more than `limit` bytes arrive (a decompression bomb).
pub fn spool(reader: impl Read, limit: u64) -> io::Result<Source> {
    spool_within(reader, limit, &SpoolBudget::new(u64::MAX))
}

/// [`spool`], also charging every byte to `budget` and failing once it is spent.
pub fn spool_within(mut reader: impl Read, limit: u64, budget: &SpoolBudget) -> io::Result<Source> {
    let mut mem = Vec::new();
    let mut chunk = vec![0u8; 256 << 10];
    let mut file: Option<File> = None;
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > limit {
            return Err(io::Error::other(format!(
                "decompressed data exceeds the limit of {limit} bytes"
            )));
        }
        if !budget.take(n as u64) {
            return Err(io::Error::other(format!(
                "the total decompression budget of {} bytes is spent",
                budget.total()
            )));
        }
        match &mut file {
            Some(f) => f.write_all(&chunk[..n])?,
            None if mem.len() + n > SPOOL_MEMORY => {
                let mut f = tempfile::tempfile()?;
                f.write_all(&mem)?;
                f.write_all(&chunk[..n])?;
                mem = Vec::new();
                file = Some(f);
            }
            None => mem.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(match file {
        Some(f) => Arc::new(FileSource {
            file: f,
            len: total,
        }),
        None => Arc::new(MemSource(mem)),
    })
}

/// A `Read + Seek` cursor over a source, for parsers written against the std traits.
#[derive(Clone)]
pub struct Cursor {
    src: Source,
    pos: u64,
}

impl Cursor {
    pub fn new(src: Source) -> Self {
        Self { src, pos: 0 }
    }
    pub fn source(&self) -> &Source {
        &self.src
    }
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.src.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.src.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

/// Wraps any `Read + Seek` (for example an open file) as a source. Reads are serialised by a
/// lock, so prefer [`FileSource`] for files.
pub struct SeekSource<R> {
    inner: std::sync::Mutex<R>,
    len: u64,
}

impl<R: Read + Seek + Send> SeekSource<R> {
    pub fn new(mut inner: R) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(Self {
            inner: std::sync::Mutex::new(inner),
            len,
        })
    }
}

impl<R: Read + Seek + Send> ReadAt for SeekSource<R> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let mut r = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("poisoned reader"))?;
        r.seek(SeekFrom::Start(offset))?;
        let n = buf.len().min((self.len - offset) as usize);
        r.read(&mut buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_concatenates_and_clips_extents() {
        let src: Source = Arc::new(MemSource((0u8..100).collect()));
        let w = Window::new(src, &[10..12, 50..53, 98..200]);
        assert_eq!(w.size(), 2 + 3 + 2);
        let mut buf = [0u8; 7];
        read_exact_at(&w, 0, &mut buf).unwrap();
        assert_eq!(buf, [10, 11, 50, 51, 52, 98, 99]);
        assert_eq!(w.read_at(7, &mut buf).unwrap(), 0);
    }

    #[test]
    fn spool_budget_is_shared_by_clones() {
        let budget = SpoolBudget::new(3 << 20);
        let data = vec![7u8; 2 << 20];
        assert!(spool_within(&data[..], u64::MAX, &budget).is_ok());
        let other = budget.clone();
        assert!(!other.exceeded());
        let e = spool_within(&data[..], u64::MAX, &other).err().unwrap();
        assert!(e.to_string().contains("budget"), "{e}");
        assert!(budget.exceeded());
        assert!(spool_within(&[1u8][..], u64::MAX, &budget).is_err());
    }

    #[test]
    fn spool_moves_to_disk_and_enforces_limit() {
        let data = vec![7u8; SPOOL_MEMORY + 10];
        let s = spool(&data[..], u64::MAX).unwrap();
        assert_eq!(s.size(), data.len() as u64);
        let mut b = [0u8; 4];
        read_exact_at(&*s, SPOOL_MEMORY as u64 + 5, &mut b).unwrap();
        assert_eq!(b, [7; 4]);
        assert!(spool(&data[..], 100).is_err());
    }

    #[test]
    fn cursor_seeks_and_reads() {
        let src: Source = Arc::new(MemSource(b"hello world".to_vec()));
        let mut c = Cursor::new(src);
        c.seek(SeekFrom::Start(6)).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "world");
        assert!(c.seek(SeekFrom::Current(-100)).is_err());
    }
}
