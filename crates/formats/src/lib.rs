//! `isoforge-formats`: read-only parsers of untrusted images and archives, built for explaining
//! differences byte by byte.
//!
//! Every parser reads through a [`io::Source`] (positional reads; [`io::Cursor`] and
//! [`io::SeekSource`] bridge to and from `Read + Seek`), never loads a whole image, and obeys
//! explicit [`Limits`] on counts and sizes, so truncated, corrupt or hostile input yields an
//! [`Error`] (or a partial result with notes), never a panic or unbounded memory. Nothing is
//! ever written to disk except anonymous spool files for decompressed streams.
//!
//! A parser produces two things:
//! - a list of [`Entry`]s (the members: path, kind, metadata, where the content is), and
//! - a [`layout::Layout`]: every structure it read, with byte offsets and field decoders, in the
//!   coordinates of the parsed stream. Derived streams (decompressed metadata) get their own
//!   layouts.
//!
//! Modules, one per format: [`iso9660`] (with Rock Ridge, Joliet, El Torito), [`mbr`] and
//! [`gpt`] (the system area of a hybrid ISO), [`apm`] and [`hfsplus`] (the Mac side of
//! grub-mkrescue hybrids), [`squashfs`], [`fat`], [`cpio`], [`tar`], [`ar`],
//! [`compress`] (gzip/xz/zstd/lz4 detection, header layouts, streaming decoders).

pub mod apm;
pub mod ar;
pub mod compress;
pub mod cpio;
pub mod fat;
pub mod gpt;
pub mod hfsplus;
pub mod io;
pub mod iso9660;
pub mod layout;
pub mod mbr;
pub mod squashfs;
pub mod tar;

use std::borrow::Cow;
use std::ops::Range;

pub use layout::{Decode, Field, Layout, Role, Structure, Timestamp, Value};

/// What went wrong, for callers that react differently (a truncated image still gets a
/// partial report; an unsupported compressor is named).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Io,
    Truncated,
    Corrupt,
    Limit,
    Unsupported,
}

/// A parse error: one line naming the structure, what is wrong and, where useful, what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limit, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
}

/// Adds what was being read to an I/O error.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ErrorKind::Truncated
            } else {
                ErrorKind::Io
            };
            let hint = if kind == ErrorKind::Truncated {
                " (image truncated?)"
            } else {
                ""
            };
            Error::new(kind, format!("{}: {e}{hint}", what()))
        })
    }
}

/// Bounds on what a parser will accept, so that hostile headers cannot make it allocate or
/// loop without bound.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Members per container.
    pub max_entries: usize,
    /// Directory nesting.
    pub max_depth: usize,
    /// Metadata bytes held in memory per image (decompressed squashfs tables, directories).
    pub max_metadata: u64,
    /// Bytes produced by one decompressed stream.
    pub max_decompressed: u64,
    /// Structures in one layout.
    pub max_structures: usize,
    /// Bytes in one name or symlink target.
    pub max_name: usize,
    /// Decompressed bytes of all streams together (shared by clones of these limits).
    pub spool_budget: io::SpoolBudget,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 2_000_000,
            max_depth: 128,
            max_metadata: 512 << 20,
            max_decompressed: 32 << 30,
            max_structures: 8_000_000,
            max_name: 4096,
            spool_budget: io::SpoolBudget::default(),
        }
    }
}

/// The kind of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    /// A hard link to another member, recorded as such (tar).
    HardLink,
    Other,
}

impl EntryKind {
    /// From the type bits of a Unix mode.
    pub fn from_mode(mode: u32) -> Self {
        match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            0o020000 => EntryKind::CharDevice,
            0o060000 => EntryKind::BlockDevice,
            0o010000 => EntryKind::Fifo,
            0o140000 => EntryKind::Socket,
            _ => EntryKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "directory",
            EntryKind::Symlink => "symlink",
            EntryKind::CharDevice => "character device",
            EntryKind::BlockDevice => "block device",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::HardLink => "hard link",
            EntryKind::Other => "other",
        }
    }
}

/// One metadata item of a member (mode, owner, a timestamp, a symlink target...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub name: Cow<'static, str>,
    pub value: Value,
    pub role: Role,
}

impl Meta {
    pub fn new(name: impl Into<Cow<'static, str>>, value: Value, role: Role) -> Self {
        Self {
            name: name.into(),
            value,
            role,
        }
    }
}

/// Where a member's bytes are.
#[derive(Clone, Debug, Default)]
pub enum Content {
    /// No content (directories, devices, symlinks whose target is metadata).
    #[default]
    None,
    /// Stored as is in these ranges of the container stream, in order.
    Extents(Vec<Range<u64>>),
    /// Stored in squashfs data blocks and fragments.
    Squashfs(Box<squashfs::FileData>),
}

/// A member of a container.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Absolute path inside the container, components joined with `/`, each made printable
    /// with [`layout::component`].
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub meta: Vec<Meta>,
    pub content: Content,
}

/// Formats recognised by [`detect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Iso9660,
    Squashfs,
    Fat,
    Cpio,
    Tar,
    Ar,
    Compressed(compress::Codec),
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Iso9660 => "ISO 9660 image",
            Format::Squashfs => "squashfs image",
            Format::Fat => "FAT file system",
            Format::Cpio => "cpio archive",
            Format::Tar => "tar archive",
            Format::Ar => "ar archive",
            Format::Compressed(c) => c.name(),
            Format::Unknown => "data",
        }
    }
}

/// Recognises a format from its magic numbers.
pub fn detect(src: &dyn io::ReadAt) -> Format {
    let mut head = [0u8; 512];
    let n = read_upto(src, 0, &mut head);
    let head = &head[..n];
    if head.starts_with(b"hsqs") {
        return Format::Squashfs;
    }
    if let Some(c) = compress::detect(head) {
        return Format::Compressed(c);
    }
    if head.starts_with(b"!<arch>\n") {
        return Format::Ar;
    }
    if cpio::detect(head) {
        return Format::Cpio;
    }
    if tar::detect(head) {
        return Format::Tar;
    }
    let mut cd = [0u8; 6];
    if read_upto(src, 16 * 2048, &mut cd) == 6 && &cd[1..6] == b"CD001" {
        return Format::Iso9660;
    }
    if fat::detect(head) {
        return Format::Fat;
    }
    Format::Unknown
}

/// Reads as much as is available (up to `buf.len()`), ignoring errors; for magic sniffing.
fn read_upto(src: &dyn io::ReadAt, offset: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(offset + done as u64, &mut buf[done..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    done
}

/// A one-extent list (a member stored contiguously).
pub(crate) fn extent(r: Range<u64>) -> Vec<Range<u64>> {
    vec![r]
}

/// Little-endian integer readers over slices; callers check lengths first.
pub(crate) mod le {
    pub fn u16(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    pub fn u32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub fn u64(b: &[u8], at: usize) -> u64 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(x)
    }
}
