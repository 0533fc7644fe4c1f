//! squashfs 4.0 images (as made by mksquashfs): superblock fields, compressor options, data
//! blocks and fragment blocks per file, the inode, directory, fragment, export, id and xattr
//! tables, both as raw metadata blocks in the image and decompressed.
//!
//! The raw image gets one [`Layout`]; each decompressed metadata table is a derived stream
//! with its own layout ([`Table`]), so that a difference inside a compressed metadata block
//! can be explained field by field (an inode's mtime, a directory entry's name). File content
//! is read through a [`DataReader`] ([`Image::data_reader`]), which decompresses one block at
//! a time; its raw block and fragment ranges let callers compare stored bytes first.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use crate::io::{ReadAt, Source, read_exact_at, read_vec_at};
use crate::layout::{
    Decode, Field, Layout, Role, Structure, Timestamp, Value, component, printable,
};
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result};

const SUPERBLOCK: u64 = 96;
const METABLOCK: usize = 8192;
const ABSENT: u64 = u64::MAX;
const UNCOMPRESSED_BLOCK: u32 = 1 << 24;

/// Compressors by squashfs id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Lzma,
    Lzo,
    Xz,
    Lz4,
    Zstd,
    Unknown(u16),
}

impl Compression {
    fn from_id(id: u16) -> Self {
        match id {
            1 => Compression::Gzip,
            2 => Compression::Lzma,
            3 => Compression::Lzo,
            4 => Compression::Xz,
            5 => Compression::Lz4,
            6 => Compression::Zstd,
            n => Compression::Unknown(n),
        }
    }

    pub fn name(self) -> String {
        match self {
            Compression::Gzip => "gzip".into(),
            Compression::Lzma => "lzma".into(),
            Compression::Lzo => "lzo".into(),
            Compression::Xz => "xz".into(),
            Compression::Lz4 => "lz4".into(),
            Compression::Zstd => "zstd".into(),
            Compression::Unknown(n) => format!("unknown compressor {n}"),
        }
    }

    /// Decompresses one block, refusing more than `limit` bytes of output.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::corrupt(format!("squashfs {} block: {e}", self.name()))
        };
        let mut out = Vec::new();
        match self {
            Compression::Gzip => {
                flate2::read::ZlibDecoder::new(data)
                    .take(limit as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(&e))?;
            }
            Compression::Xz => out = xz_block(data, limit).map_err(|e| bad(&e))?,
            Compression::Zstd => {
                out = zstd::bulk::decompress(data, limit).map_err(|e| bad(&e))?;
            }
            Compression::Lz4 => {
                out = vec![0; limit];
                let n = lz4_flex::block::decompress_into(data, &mut out).map_err(|e| bad(&e))?;
                out.truncate(n);
            }
            other => {
                return Err(Error::unsupported(format!(
                    "squashfs compressor {} is not supported (gzip, xz, zstd and lz4 are)",
                    other.name()
                )));
            }
        }
        if out.len() > limit {
            return Err(bad(&format!("decompresses to more than {limit} bytes")));
        }
        Ok(out)
    }
}

/// Decompresses one xz block in a single pass into a buffer of the expected size. The
/// integrity check is skipped: both sides are compared byte for byte anyway, and a damaged
/// block still fails to decode.
fn xz_block(data: &[u8], limit: usize) -> std::result::Result<Vec<u8>, String> {
    use liblzma::stream::{Action, IGNORE_CHECK, Status, Stream};
    // A block's dictionary never needs more than a few MiB; refuse hostile headers.
    let mut s = Stream::new_stream_decoder(64 << 20, IGNORE_CHECK).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(limit + 1);
    loop {
        let (before_in, before_out) = (s.total_in(), out.len());
        let input = data.get(before_in as usize..).unwrap_or_default();
        let status = s
            .process_vec(input, &mut out, Action::Finish)
            .map_err(|e| e.to_string())?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        if out.len() > limit {
            return Err(format!("decompresses to more than {limit} bytes"));
        }
        if s.total_in() == before_in && out.len() == before_out {
            return Err("truncated or corrupt xz block".into());
        }
    }
}

/// Where a regular file's data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    pub blocks_start: u64,
    /// Raw block size words: bit 24 set means stored uncompressed; 0 means a sparse block.
    pub block_sizes: Vec<u32>,
    /// `(fragment index, offset in the decompressed fragment block)` of the tail.
    pub fragment: Option<(u32, u32)>,
    pub file_size: u64,
    pub block_size: u32,
}

impl FileData {
    /// Image byte range and "stored uncompressed" flag of each full block.
    pub fn block_ranges(&self) -> Vec<(std::ops::Range<u64>, bool)> {
        let mut pos = self.blocks_start;
        self.block_sizes
            .iter()
            .map(|&w| {
                let len = u64::from(w & !UNCOMPRESSED_BLOCK);
                let r = pos..pos.saturating_add(len);
                pos = r.end;
                (r, w & UNCOMPRESSED_BLOCK != 0)
            })
            .collect()
    }

    /// Length of the tail stored in a fragment.
    pub fn tail_len(&self) -> u64 {
        if self.fragment.is_some() {
            self.file_size % u64::from(self.block_size.max(1))
        } else {
            0
        }
    }
}

/// A fragment table entry: a block that holds the tails of several files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub start: u64,
    /// Raw size word (bit 24: stored uncompressed).
    pub size: u32,
}

impl Fragment {
    pub fn range(&self) -> std::ops::Range<u64> {
        self.start
            ..self
                .start
                .saturating_add(u64::from(self.size & !UNCOMPRESSED_BLOCK))
    }
}

/// A decompressed metadata table: a derived stream with its own layout.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub data: Arc<Vec<u8>>,
    pub layout: Layout,
}

/// A parsed image.
#[derive(Debug)]
pub struct Image {
    pub compression: Compression,
    pub block_size: u32,
    pub mkfs_time: u32,
    pub bytes_used: u64,
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub tables: Vec<Table>,
    pub fragments: Vec<Fragment>,
    pub notes: Vec<String>,
}

struct Sb {
    inode_count: u32,
    block_size: u32,
    frag_count: u32,
    flags: u16,
    id_count: u16,
    root: u64,
    bytes_used: u64,
    id_table: u64,
    xattr_table: u64,
    inode_table: u64,
    dir_table: u64,
    frag_table: u64,
    export_table: u64,
}

/// A table read as a sequence of metadata blocks.
struct MetaTable {
    data: Vec<u8>,
    /// Block start relative to the table start -> offset in `data`.
    blocks: HashMap<u64, usize>,
    /// `(layout index of the payload region, decompressed range)` per block, for naming.
    spans: Vec<(usize, std::ops::Range<usize>)>,
}

pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<Image> {
    let mut b = [0u8; SUPERBLOCK as usize];
    read_exact_at(src, 0, &mut b).ctx(|| "squashfs superblock".into())?;
    if &b[..4] != b"hsqs" {
        return Err(Error::corrupt(
            "squashfs: missing hsqs magic (only little-endian squashfs 4.0 is supported)",
        ));
    }
    let (major, minor) = (crate::le::u16(&b, 28), crate::le::u16(&b, 30));
    if major != 4 {
        return Err(Error::unsupported(format!(
            "squashfs version {major}.{minor} is not supported (4.0 is)"
        )));
    }
    let sb = Sb {
        inode_count: crate::le::u32(&b, 4),
        block_size: crate::le::u32(&b, 12),
        frag_count: crate::le::u32(&b, 16),
        flags: crate::le::u16(&b, 24),
        id_count: crate::le::u16(&b, 26),
        root: crate::le::u64(&b, 32),
        bytes_used: crate::le::u64(&b, 40),
        id_table: crate::le::u64(&b, 48),
        xattr_table: crate::le::u64(&b, 56),
        inode_table: crate::le::u64(&b, 64),
        dir_table: crate::le::u64(&b, 72),
        frag_table: crate::le::u64(&b, 80),
        export_table: crate::le::u64(&b, 88),
    };
    if !(4096..=(1 << 20)).contains(&sb.block_size) || !sb.block_size.is_power_of_two() {
        return Err(Error::corrupt(format!(
            "squashfs superblock: block size {} is not valid",
            sb.block_size
        )));
    }
    if sb.inode_count as usize > limits.max_entries {
        return Err(Error::limit(format!(
            "squashfs superblock: {} inodes exceed the limit of {}",
            sb.inode_count, limits.max_entries
        )));
    }
    if sb.inode_table >= sb.dir_table || sb.dir_table > src.size() {
        return Err(Error::corrupt(format!(
            "squashfs superblock: inode table at {:#x} and directory table at {:#x} are not in order inside the image ({:#x} bytes)",
            sb.inode_table,
            sb.dir_table,
            src.size()
        )));
    }
    let comp = Compression::from_id(crate::le::u16(&b, 20));
    let mut img = Image {
        compression: comp,
        block_size: sb.block_size,
        mkfs_time: crate::le::u32(&b, 8),
        bytes_used: sb.bytes_used,
        entries: Vec::new(),
        layout: Layout::new(),
        tables: Vec::new(),
        fragments: Vec::new(),
        notes: Vec::new(),
    };
    superblock_layout(&mut img.layout);
    let mut r = Reader {
        src,
        comp,
        limits,
        meta_bytes: 0,
    };
    if sb.flags & 0x0400 != 0 {
        let (data, next) = r.metablock(SUPERBLOCK, "compressor options", &mut img.layout)?;
        let mut l = Layout::new();
        let s = l.structure("compressor options", 0, data.len() as u64);
        match comp {
            Compression::Xz => {
                s.field("dictionary size", 0, 4, Decode::U32Le, Role::Size)
                    .field("executable filters", 4, 4, Decode::Hex32Le, Role::Flags);
            }
            Compression::Gzip => {
                s.field("compression level", 0, 4, Decode::U32Le, Role::Data)
                    .field("window size", 4, 2, Decode::U16Le, Role::Size)
                    .field("strategies", 6, 2, Decode::Hex16Le, Role::Flags);
            }
            Compression::Zstd => {
                s.field("compression level", 0, 4, Decode::U32Le, Role::Data);
            }
            _ => {
                s.field("options", 0, data.len() as u32, Decode::Bytes, Role::Data);
            }
        }
        img.tables.push(Table {
            name: "compressor options (decompressed)".into(),
            data: Arc::new(data),
            layout: l,
        });
        let _ = next;
    }

    // Index-based tables first: their first block bounds the directory table.
    let frag_index = r.index(
        sb.frag_table,
        u64::from(sb.frag_count) * 16,
        "fragment table",
        &mut img.layout,
    );
    let id_index = r.index(
        sb.id_table,
        u64::from(sb.id_count) * 4,
        "id table",
        &mut img.layout,
    );
    let export_index = r.index(
        sb.export_table,
        u64::from(sb.inode_count) * 8,
        "export table",
        &mut img.layout,
    );
    let (xattr_kv_start, xattr_ids, xattr_index) =
        r.xattr_header(sb.xattr_table, &mut img.layout, &mut img.notes);
    let mut bounds: Vec<u64> = [
        sb.frag_table,
        sb.id_table,
        sb.export_table,
        sb.xattr_table,
        xattr_kv_start,
        sb.bytes_used,
    ]
    .into_iter()
    .chain(frag_index.iter().copied())
    .chain(id_index.iter().copied())
    .chain(export_index.iter().copied())
    .filter(|&p| p != ABSENT && p > sb.dir_table)
    .collect();
    bounds.sort_unstable();
    let dir_end = bounds
        .first()
        .copied()
        .unwrap_or(src.size())
        .min(src.size());

    let inodes = r.sequential(sb.inode_table, sb.dir_table, "inode table", &mut img.layout)?;
    let dirs = r.sequential(sb.dir_table, dir_end, "directory table", &mut img.layout)?;
    let ids = r.indexed(
        &id_index,
        u64::from(sb.id_count) * 4,
        "id table",
        &mut img.layout,
        &mut img.notes,
    );
    let frags = r.indexed(
        &frag_index,
        u64::from(sb.frag_count) * 16,
        "fragment table",
        &mut img.layout,
        &mut img.notes,
    );
    let export = r.indexed(
        &export_index,
        u64::from(sb.inode_count) * 8,
        "export table",
        &mut img.layout,
        &mut img.notes,
    );
    let xattr_ids_data = r.indexed(
        &xattr_index,
        u64::from(xattr_ids) * 16,
        "xattr id table",
        &mut img.layout,
        &mut img.notes,
    );
    let xattr_kv = if xattr_kv_start != ABSENT
        && sb.xattr_table != ABSENT
        && xattr_kv_start < sb.xattr_table
    {
        match r.sequential(
            xattr_kv_start,
            sb.xattr_table.min(src.size()),
            "xattr table",
            &mut img.layout,
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                img.notes.push(e.message);
                None
            }
        }
    } else {
        None
    };

    for i in 0..sb.frag_count as usize {
        let Some(e) = frags.get(i * 16..i * 16 + 16) else {
            break;
        };
        img.fragments.push(Fragment {
            start: crate::le::u64(e, 0),
            size: crate::le::u32(e, 8),
        });
    }
    let id_list: Vec<u32> = ids.chunks_exact(4).map(|c| crate::le::u32(c, 0)).collect();

    let fragment_count = img.fragments.len();
    // One entry and one inode structure per inode (hard links add a few entries): sized up
    // front, these big vectors never double (a doubling holds old and new at once, the peak of
    // the whole comparison). Bounded by what the inode table read can hold (>= 16 bytes each).
    let inodes_expected = (sb.inode_count as usize)
        .min(inodes.data.len() / 16)
        .min(limits.max_entries);
    // A little room for hard links; what is left is returned by the caller's shrink_to_fit.
    img.entries
        .reserve_exact(inodes_expected + inodes_expected / 16);
    let mut walk = Walk {
        img: &mut img,
        sb: &sb,
        limits,
        inodes: &inodes,
        dirs: &dirs,
        ids: &id_list,
        xattr_ids: &xattr_ids_data,
        xattr_kv: xattr_kv.as_ref(),
        inode_layout: Layout::with_capacity(inodes_expected),
        dir_layout: Layout::new(),
        xattr_layout: Layout::new(),
        visited_dirs: HashSet::new(),
        inode_paths: BTreeMap::new(),
        dir_paths: BTreeMap::new(),
        data_seen: HashSet::new(),
        // Sized by the fragment table actually read, never by the superblock's claim.
        frag_users: vec![Vec::new(); fragment_count],
    };
    walk.run();
    let Walk {
        inode_layout,
        dir_layout,
        xattr_layout,
        inode_paths,
        dir_paths,
        frag_users,
        ..
    } = walk;

    name_blocks(
        &mut img.layout,
        &inodes.spans,
        &inode_paths,
        |i| path_after(&inode_layout, i, INODE_OF),
        "inodes of",
    );
    name_blocks(
        &mut img.layout,
        &dirs.spans,
        &dir_paths,
        |i| path_after(&dir_layout, i, FIRST_DIR_HEADER_OF),
        "directory listings of",
    );
    drop((inode_paths, dir_paths));
    for (i, f) in img.fragments.clone().iter().enumerate() {
        let users = &frag_users[i.min(frag_users.len().saturating_sub(1))];
        let who = match users.len() {
            0 => "no file".to_string(),
            1 => users[0].clone(),
            n => format!("{} and {} more", users[0], n - 1),
        };
        let role = if f.size & UNCOMPRESSED_BLOCK != 0 {
            Role::Content
        } else {
            Role::Compressed
        };
        let r = f.range();
        img.layout.region(
            format!("fragment block #{i} (tails of {who})"),
            r.start,
            r.end - r.start,
            role,
        );
    }
    let padded = sb.bytes_used.div_ceil(4096) * 4096;
    if src.size() > sb.bytes_used {
        img.layout.region(
            "padding to 4 KiB after bytes used",
            sb.bytes_used,
            padded.min(src.size()) - sb.bytes_used,
            Role::Padding,
        );
    }

    img.tables.push(Table {
        name: "inode table (decompressed)".into(),
        data: Arc::new(inodes.data),
        layout: inode_layout,
    });
    img.tables.push(Table {
        name: "directory table (decompressed)".into(),
        data: Arc::new(dirs.data),
        layout: dir_layout,
    });
    img.tables.push(Table {
        name: "fragment table (decompressed)".into(),
        layout: array_layout("fragment table entry", &frags, 16, FRAGMENT_ENTRY),
        data: Arc::new(frags),
    });
    img.tables.push(Table {
        name: "id table (decompressed)".into(),
        layout: array_layout("id table entry", &ids, 4, ID_ENTRY),
        data: Arc::new(ids),
    });
    if !export.is_empty() {
        img.tables.push(Table {
            name: "export table (decompressed)".into(),
            layout: array_layout("export table entry for inode", &export, 8, EXPORT_ENTRY),
            data: Arc::new(export),
        });
    }
    if !xattr_ids_data.is_empty() {
        img.tables.push(Table {
            name: "xattr id table (decompressed)".into(),
            layout: array_layout("xattr id entry", &xattr_ids_data, 16, XATTR_ID_ENTRY),
            data: Arc::new(xattr_ids_data),
        });
    }
    if let Some(kv) = xattr_kv {
        img.tables.push(Table {
            name: "xattr table (decompressed)".into(),
            data: Arc::new(kv.data),
            layout: xattr_layout,
        });
    }
    Ok(img)
}

fn superblock_layout(l: &mut Layout) {
    l.structure("squashfs superblock", 0, SUPERBLOCK)
        .field("magic", 0, 4, Decode::Ascii, Role::Data)
        .field("inode count", 4, 4, Decode::U32Le, Role::Count)
        .field(
            "modification time (mkfs time)",
            8,
            4,
            Decode::UnixTime32Le,
            Role::Time,
        )
        .field("block size", 12, 4, Decode::U32Le, Role::Size)
        .field("fragment count", 16, 4, Decode::U32Le, Role::Count)
        .field("compression id", 20, 2, Decode::U16Le, Role::Data)
        .field("block log", 22, 2, Decode::U16Le, Role::Size)
        .field("flags", 24, 2, Decode::Hex16Le, Role::Flags)
        .field("id count", 26, 2, Decode::U16Le, Role::Count)
        .field("version major", 28, 2, Decode::U16Le, Role::Data)
        .field("version minor", 30, 2, Decode::U16Le, Role::Data)
        .field("root inode reference", 32, 8, Decode::U64Le, Role::Pointer)
        .field("bytes used", 40, 8, Decode::U64Le, Role::Size)
        .field("id table start", 48, 8, Decode::U64Le, Role::Pointer)
        .field("xattr id table start", 56, 8, Decode::U64Le, Role::Pointer)
        .field("inode table start", 64, 8, Decode::U64Le, Role::Pointer)
        .field("directory table start", 72, 8, Decode::U64Le, Role::Pointer)
        .field("fragment table start", 80, 8, Decode::U64Le, Role::Pointer)
        .field("export table start", 88, 8, Decode::U64Le, Role::Pointer);
}

static FRAGMENT_ENTRY: &[Field] = &[
    Field::fixed("start", 0, 8, Decode::U64Le, Role::Pointer),
    Field::fixed(
        "size (bit 24: uncompressed)",
        8,
        4,
        Decode::Hex32Le,
        Role::Size,
    ),
    Field::fixed("unused", 12, 4, Decode::Bytes, Role::Padding),
];
static ID_ENTRY: &[Field] = &[Field::fixed("id", 0, 4, Decode::U32Le, Role::Owner)];
static EXPORT_ENTRY: &[Field] = &[Field::fixed(
    "inode reference",
    0,
    8,
    Decode::U64Le,
    Role::Pointer,
)];
static XATTR_ID_ENTRY: &[Field] = &[
    Field::fixed("key/value reference", 0, 8, Decode::U64Le, Role::Pointer),
    Field::fixed("count", 8, 4, Decode::U32Le, Role::Count),
    Field::fixed("size", 12, 4, Decode::U32Le, Role::Size),
];

fn array_layout(name: &str, data: &[u8], width: usize, fields: &'static [Field]) -> Layout {
    let mut l = Layout::new();
    for i in 0..data.len() / width {
        let label = if name.ends_with("inode") {
            format!("{name} {}", i + 1)
        } else {
            format!("{name} #{i}")
        };
        l.push(Structure::with_fields(
            label,
            (i * width) as u64,
            width as u64,
            fields,
        ));
    }
    l
}

/// Name prefixes of the table structures that `name_blocks` reads the paths back from.
const INODE_OF: &str = "inode of ";
const FIRST_DIR_HEADER_OF: &str = "directory header #1 of ";

/// The path in the name of structure `i` of `l`, after `prefix`.
fn path_after<'a>(l: &'a Layout, i: u32, prefix: &str) -> &'a str {
    l.structures
        .get(i as usize)
        .and_then(|s| s.name.strip_prefix(prefix))
        .unwrap_or_default()
}

/// Renames each metadata block's payload after the first and last item it holds.
fn name_blocks<'a>(
    l: &mut Layout,
    spans: &[(usize, std::ops::Range<usize>)],
    items: &BTreeMap<usize, u32>,
    path: impl Fn(u32) -> &'a str,
    what: &str,
) {
    for (idx, r) in spans {
        let mut inside = items.range(r.clone());
        let first = inside.next().map(|(_, &i)| path(i));
        let last = inside.next_back().map(|(_, &i)| path(i));
        if let (Some(s), Some(f)) = (l.structures.get_mut(*idx), first) {
            s.name = match last {
                Some(la) => format!("{} ({what} {f} … {la})", s.name),
                None => format!("{} ({what} {f})", s.name),
            };
        }
    }
}

struct Reader<'a> {
    src: &'a dyn ReadAt,
    comp: Compression,
    limits: &'a Limits,
    meta_bytes: u64,
}

impl Reader<'_> {
    /// Reads the metadata block at `at`; returns its data and the position after it.
    fn metablock(&mut self, at: u64, table: &str, l: &mut Layout) -> Result<(Vec<u8>, u64)> {
        let mut h = [0u8; 2];
        read_exact_at(self.src, at, &mut h)
            .ctx(|| format!("squashfs {table} block header at {at:#x}"))?;
        let h = u16::from_le_bytes(h);
        let size = u64::from(h & 0x7fff);
        let compressed = h & 0x8000 == 0;
        if size == 0 || size > METABLOCK as u64 + 64 {
            return Err(Error::corrupt(format!(
                "squashfs {table}: metadata block at {at:#x} claims {size} bytes"
            )));
        }
        let raw = read_vec_at(self.src, at + 2, size, METABLOCK as u64 + 64)
            .ctx(|| format!("squashfs {table} block at {at:#x}"))?;
        let data = if compressed {
            self.comp.decompress(&raw, METABLOCK)?
        } else {
            raw
        };
        self.meta_bytes += data.len() as u64;
        if self.meta_bytes > self.limits.max_metadata {
            return Err(Error::limit(format!(
                "squashfs: more than {} bytes of metadata",
                self.limits.max_metadata
            )));
        }
        l.structure(format!("{table} metadata block header at {at:#x}"), at, 2)
            .field(
                "stored size (bit 15: uncompressed)",
                0,
                2,
                Decode::Hex16Le,
                Role::Size,
            );
        let role = if compressed {
            Role::Compressed
        } else {
            Role::Data
        };
        l.region(
            format!("{table} metadata block at {at:#x}"),
            at + 2,
            size,
            role,
        );
        Ok((data, at + 2 + size))
    }

    /// A table stored as consecutive metadata blocks from `start` to `end`.
    fn sequential(
        &mut self,
        start: u64,
        end: u64,
        table: &str,
        l: &mut Layout,
    ) -> Result<MetaTable> {
        let mut t = MetaTable {
            data: Vec::new(),
            blocks: HashMap::new(),
            spans: Vec::new(),
        };
        let mut at = start;
        while at < end {
            let (d, next) = self.metablock(at, table, l)?;
            t.blocks.insert(at - start, t.data.len());
            t.spans
                .push((l.len() - 1, t.data.len()..t.data.len() + d.len()));
            t.data.extend_from_slice(&d);
            at = next;
        }
        Ok(t)
    }

    /// Reads the u64 index of a table of `bytes` bytes at `at`, adding it to the layout.
    fn index(&mut self, at: u64, bytes: u64, table: &str, l: &mut Layout) -> Vec<u64> {
        if at == ABSENT || bytes == 0 || bytes > self.limits.max_metadata {
            return Vec::new();
        }
        let n = bytes.div_ceil(METABLOCK as u64);
        let Ok(raw) = read_vec_at(self.src, at, n * 8, self.limits.max_metadata) else {
            return Vec::new();
        };
        let mut s = l.structure(format!("{table} index"), at, n * 8);
        for i in 0..n as u32 {
            s = s.field(
                format!("location of {table} block {i}"),
                i * 8,
                8,
                Decode::U64Le,
                Role::Pointer,
            );
        }
        raw.chunks_exact(8).map(|c| crate::le::u64(c, 0)).collect()
    }

    /// A table stored as metadata blocks listed by an index, truncated to `bytes`.
    fn indexed(
        &mut self,
        index: &[u64],
        bytes: u64,
        table: &str,
        l: &mut Layout,
        notes: &mut Vec<String>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for &at in index {
            match self.metablock(at, table, l) {
                Ok((d, _)) => out.extend_from_slice(&d),
                Err(e) => {
                    notes.push(e.message);
                    break;
                }
            }
        }
        out.truncate(bytes as usize);
        out
    }

    /// The xattr id table header: `(key/value table start, id count, index)`.
    fn xattr_header(
        &mut self,
        at: u64,
        l: &mut Layout,
        notes: &mut Vec<String>,
    ) -> (u64, u32, Vec<u64>) {
        if at == ABSENT {
            return (ABSENT, 0, Vec::new());
        }
        let mut h = [0u8; 16];
        if read_exact_at(self.src, at, &mut h).is_err() {
            notes.push(format!(
                "squashfs: xattr id table header at {at:#x} is outside the image"
            ));
            return (ABSENT, 0, Vec::new());
        }
        l.structure("xattr id table header", at, 16)
            .field("key/value table start", 0, 8, Decode::U64Le, Role::Pointer)
            .field("xattr id count", 8, 4, Decode::U32Le, Role::Count)
            .field("unused", 12, 4, Decode::Bytes, Role::Padding);
        let count = crate::le::u32(&h, 8);
        let index = self.index(at + 16, u64::from(count) * 16, "xattr id table", l);
        (crate::le::u64(&h, 0), count, index)
    }
}

struct Walk<'a> {
    img: &'a mut Image,
    sb: &'a Sb,
    limits: &'a Limits,
    inodes: &'a MetaTable,
    dirs: &'a MetaTable,
    ids: &'a [u32],
    xattr_ids: &'a [u8],
    xattr_kv: Option<&'a MetaTable>,
    inode_layout: Layout,
    dir_layout: Layout,
    xattr_layout: Layout,
    visited_dirs: HashSet<usize>,
    /// Where each inode starts → its structure in `inode_layout` (whose name holds the path;
    /// no second copy of every path is kept while parsing).
    inode_paths: BTreeMap<usize, u32>,
    /// Where each non-empty listing starts → its first header in `dir_layout`.
    dir_paths: BTreeMap<usize, u32>,
    data_seen: HashSet<u64>,
    frag_users: Vec<Vec<String>>,
}

/// What the walk needs from a directory inode.
struct DirInfo {
    block: u32,
    offset: u16,
    size: u32,
}

impl Walk<'_> {
    fn run(&mut self) {
        let mut stack: Vec<(String, u64, usize)> = vec![("/".into(), self.sb.root, 0)];
        while let Some((path, iref, depth)) = stack.pop() {
            if let Err(e) = self.visit(&path, iref, depth, &mut stack) {
                self.img.notes.push(e.message);
                if e.kind == crate::ErrorKind::Limit {
                    return;
                }
            }
        }
    }

    fn inode_pos(&self, iref: u64) -> Result<usize> {
        let block = iref >> 16;
        let off = (iref & 0xffff) as usize;
        let base = self.inodes.blocks.get(&block).ok_or_else(|| {
            Error::corrupt(format!(
                "squashfs: inode reference {iref:#x} points at no inode table block"
            ))
        })?;
        Ok(base + off)
    }

    fn visit(
        &mut self,
        path: &str,
        iref: u64,
        depth: usize,
        stack: &mut Vec<(String, u64, usize)>,
    ) -> Result<()> {
        if self.img.entries.len() >= self.limits.max_entries
            || self.inode_layout.len() >= self.limits.max_structures
        {
            return Err(Error::limit(format!(
                "squashfs: more than {} entries",
                self.limits.max_entries
            )));
        }
        let pos = self.inode_pos(iref)?;
        let d = &self.inodes.data;
        let need = |n: usize| -> Result<&[u8]> {
            d.get(pos..pos + n).ok_or_else(|| {
                Error::corrupt(format!(
                    "squashfs: inode of {path} at {pos:#x} runs past the inode table"
                ))
            })
        };
        let h = need(16)?;
        let itype = crate::le::u16(h, 0);
        let perm = u32::from(crate::le::u16(h, 2));
        let uid = self.id(crate::le::u16(h, 4), path)?;
        let gid = self.id(crate::le::u16(h, 6), path)?;
        let mtime = crate::le::u32(h, 8);
        // Shared static tables; only the rare variable inodes get owned field lists.
        let mut fields: Cow<'static, [Field]> = Cow::Borrowed(match itype {
            1 => DIR_INODE,
            8 => LDIR_INODE,
            2 => FILE_INODE,
            9 => LFILE_INODE,
            3 | 10 => SYMLINK_INODE,
            4 | 5 => DEV_INODE,
            11 | 12 => LDEV_INODE,
            6 | 7 => IPC_INODE,
            _ => LIPC_INODE,
        });
        let type_bits = match itype {
            1 | 8 => 0o040000,
            2 | 9 => 0o100000,
            3 | 10 => 0o120000,
            4 | 11 => 0o060000,
            5 | 12 => 0o020000,
            6 | 13 => 0o010000,
            7 | 14 => 0o140000,
            _ => {
                return Err(Error::corrupt(format!(
                    "squashfs: inode of {path} has unknown type {itype}"
                )));
            }
        };
        let mode = type_bits | perm;
        let mut meta = Vec::with_capacity(7);
        meta.extend([
            Meta::new("mode", Value::Mode(mode), Role::Mode),
            Meta::new("uid", Value::Int(u64::from(uid)), Role::Owner),
            Meta::new("gid", Value::Int(u64::from(gid)), Role::Owner),
            Meta::new(
                "mtime",
                Value::Time(Timestamp::secs(i64::from(mtime))),
                Role::Time,
            ),
        ]);
        let mut content = Content::None;
        let mut size = 0u64;
        let mut xattr = u32::MAX;
        let mut dir: Option<DirInfo> = None;
        let len: usize;
        match itype {
            1 => {
                let b = need(32)?;
                dir = Some(DirInfo {
                    block: crate::le::u32(b, 16),
                    offset: crate::le::u16(b, 26),
                    size: u32::from(crate::le::u16(b, 24)),
                });
                meta.push(Meta::new(
                    "link count",
                    Value::Int(u64::from(crate::le::u32(b, 20))),
                    Role::Count,
                ));
                len = 32;
            }
            8 => {
                let b = need(40)?;
                dir = Some(DirInfo {
                    block: crate::le::u32(b, 24),
                    offset: crate::le::u16(b, 34),
                    size: crate::le::u32(b, 20),
                });
                meta.push(Meta::new(
                    "link count",
                    Value::Int(u64::from(crate::le::u32(b, 16))),
                    Role::Count,
                ));
                xattr = crate::le::u32(b, 36);
                let mut p = 40usize;
                for _ in 0..crate::le::u16(b, 32) {
                    let e = d.get(pos + p..pos + p + 12).ok_or_else(|| {
                        Error::corrupt(format!(
                            "squashfs: directory index of {path} runs past the inode table"
                        ))
                    })?;
                    let nlen = crate::le::u32(e, 8) as usize + 1;
                    if nlen > 256 {
                        return Err(Error::corrupt(format!(
                            "squashfs: directory index of {path} has a name of {nlen} bytes"
                        )));
                    }
                    fields.to_mut().push(f(
                        "directory index entry",
                        p as u32,
                        (12 + nlen) as u32,
                        Decode::Bytes,
                        Role::Pointer,
                    ));
                    p += 12 + nlen;
                }
                len = p;
            }
            2 | 9 => {
                let (start, frag, foff, fsize, hdr) = if itype == 2 {
                    let b = need(32)?;
                    meta.push(Meta::new("link count", Value::Int(1), Role::Count));
                    (
                        u64::from(crate::le::u32(b, 16)),
                        crate::le::u32(b, 20),
                        crate::le::u32(b, 24),
                        u64::from(crate::le::u32(b, 28)),
                        32,
                    )
                } else {
                    let b = need(56)?;
                    meta.push(Meta::new(
                        "link count",
                        Value::Int(u64::from(crate::le::u32(b, 40))),
                        Role::Count,
                    ));
                    xattr = crate::le::u32(b, 52);
                    (
                        crate::le::u64(b, 16),
                        crate::le::u32(b, 44),
                        crate::le::u32(b, 48),
                        crate::le::u64(b, 24),
                        56,
                    )
                };
                let bs = u64::from(self.sb.block_size);
                let has_frag = frag != u32::MAX;
                let nblocks = if has_frag {
                    fsize / bs
                } else {
                    fsize.div_ceil(bs)
                };
                let list_len = nblocks.checked_mul(4).filter(|&l| (pos + hdr) as u64 + l <= d.len() as u64).ok_or_else(|| {
                    Error::corrupt(format!("squashfs: {path} claims {fsize} bytes, whose block list runs past the inode table"))
                })?;
                let list = &d[pos + hdr..pos + hdr + list_len as usize];
                let block_sizes: Vec<u32> =
                    list.chunks_exact(4).map(|c| crate::le::u32(c, 0)).collect();
                len = hdr + list_len as usize;
                if has_frag && frag >= self.sb.frag_count {
                    return Err(Error::corrupt(format!(
                        "squashfs: {path} uses fragment {frag} of {}",
                        self.sb.frag_count
                    )));
                }
                let data = FileData {
                    blocks_start: start,
                    block_sizes,
                    fragment: has_frag.then_some((frag, foff)),
                    file_size: fsize,
                    block_size: self.sb.block_size,
                };
                self.data_layout(path, &data);
                size = fsize;
                content = Content::Squashfs(Box::new(data));
            }
            3 | 10 => {
                let b = need(24)?;
                let tlen = crate::le::u32(b, 20) as usize;
                if tlen > self.limits.max_name {
                    return Err(Error::corrupt(format!(
                        "squashfs: symlink {path} has a target of {tlen} bytes"
                    )));
                }
                let t = d.get(pos + 24..pos + 24 + tlen).ok_or_else(|| {
                    Error::corrupt(format!(
                        "squashfs: symlink target of {path} runs past the inode table"
                    ))
                })?;
                if itype == 10 {
                    // The xattr index follows the target: this table is not static.
                    let v = fields.to_mut();
                    v.pop();
                    v.push(f(
                        "symlink target",
                        24,
                        tlen as u32,
                        Decode::Ascii,
                        Role::Name,
                    ));
                }
                meta.push(Meta::new(
                    "link count",
                    Value::Int(u64::from(crate::le::u32(b, 16))),
                    Role::Count,
                ));
                meta.push(Meta::new(
                    "symlink target",
                    Value::Text(printable(t)),
                    Role::Name,
                ));
                len = 24 + tlen + if itype == 10 { 4 } else { 0 };
                if itype == 10 {
                    let x = d.get(pos + 24 + tlen..pos + len).ok_or_else(|| {
                        Error::corrupt(format!("squashfs: inode of {path} truncated"))
                    })?;
                    xattr = crate::le::u32(x, 0);
                    fields.to_mut().push(f(
                        "xattr index",
                        24 + tlen as u32,
                        4,
                        Decode::Hex32Le,
                        Role::Pointer,
                    ));
                }
            }
            4 | 5 | 11 | 12 => {
                let b = need(24)?;
                let dev = crate::le::u32(b, 20);
                meta.push(Meta::new(
                    "device",
                    Value::Text(format!(
                        "{}:{}",
                        (dev >> 8) & 0xfff,
                        (dev & 0xff) | ((dev >> 12) & 0xfff00)
                    )),
                    Role::Data,
                ));
                len = if itype > 10 { 28 } else { 24 };
                if itype > 10 {
                    xattr = crate::le::u32(need(28)?, 24);
                }
            }
            _ => {
                need(20)?;
                len = if itype > 7 { 24 } else { 20 };
                if itype > 7 {
                    xattr = crate::le::u32(need(24)?, 20);
                }
            }
        }
        if xattr != u32::MAX {
            meta.extend(self.xattrs(xattr, path));
        }
        // Also the set of inodes already laid out (hard links share one).
        if let std::collections::btree_map::Entry::Vacant(v) = self.inode_paths.entry(pos) {
            v.insert(self.inode_layout.len() as u32);
            self.inode_layout.push(Structure::with_fields(
                format!("{INODE_OF}{path}"),
                pos as u64,
                len as u64,
                fields,
            ));
        }
        let kind = EntryKind::from_mode(mode);
        // One entry per inode is kept for the whole comparison: no spare capacity.
        meta.shrink_to_fit();
        self.img.entries.push(Entry {
            path: path.to_string(),
            kind,
            size,
            meta,
            content,
        });
        if let Some(di) = dir {
            if depth >= self.limits.max_depth {
                return Err(Error::limit(format!(
                    "squashfs: {path} is nested deeper than {}",
                    self.limits.max_depth
                )));
            }
            self.listing(path, &di, depth, stack)?;
        }
        Ok(())
    }

    fn id(&self, idx: u16, path: &str) -> Result<u32> {
        self.ids.get(usize::from(idx)).copied().ok_or_else(|| {
            Error::corrupt(format!(
                "squashfs: {path} uses id index {idx} but the id table has {}",
                self.ids.len()
            ))
        })
    }

    /// Adds the file's data blocks to the image layout (once per distinct block list).
    fn data_layout(&mut self, path: &str, data: &FileData) {
        if let Some((frag, _)) = data.fragment {
            if let Some(u) = self.frag_users.get_mut(frag as usize) {
                if u.len() < 4 {
                    u.push(path.to_string());
                } else {
                    u.push(String::new());
                    u.truncate(5);
                }
            }
        }
        if data.block_sizes.is_empty() || !self.data_seen.insert(data.blocks_start) {
            return;
        }
        for (k, (r, raw)) in data.block_ranges().into_iter().enumerate() {
            if r.end > r.start {
                let role = if raw { Role::Content } else { Role::Compressed };
                self.img.layout.region(
                    format!("data block {k} of {path}"),
                    r.start,
                    r.end - r.start,
                    role,
                );
                if self.img.layout.len() >= self.limits.max_structures {
                    return;
                }
            }
        }
    }

    fn xattrs(&mut self, idx: u32, path: &str) -> Vec<Meta> {
        let mut out = Vec::new();
        let Some(e) = self
            .xattr_ids
            .get(idx as usize * 16..idx as usize * 16 + 16)
        else {
            self.img.notes.push(format!(
                "squashfs: {path} uses xattr id {idx} which does not exist"
            ));
            return out;
        };
        let Some(kv) = self.xattr_kv else { return out };
        let xref = crate::le::u64(e, 0);
        let count = crate::le::u32(e, 8);
        let Some(base) = kv.blocks.get(&(xref >> 16)) else {
            return out;
        };
        let mut p = base + (xref & 0xffff) as usize;
        for _ in 0..count.min(1024) {
            let Some(h) = kv.data.get(p..p + 4) else {
                break;
            };
            let typ = crate::le::u16(h, 0);
            let nlen = usize::from(crate::le::u16(h, 2));
            let Some(name) = kv.data.get(p + 4..p + 4 + nlen) else {
                break;
            };
            let Some(vs) = kv.data.get(p + 4 + nlen..p + 8 + nlen) else {
                break;
            };
            let vlen = crate::le::u32(vs, 0) as usize;
            let prefix = match typ & 0xff {
                0 => "user.",
                1 => "trusted.",
                2 => "security.",
                _ => "unknown.",
            };
            let full = format!("{prefix}{}", printable(name));
            let vstart = p + 8 + nlen;
            let value = if typ & 0x100 != 0 {
                Value::Text("(out-of-line value)".into())
            } else {
                match kv.data.get(vstart..vstart + vlen) {
                    Some(v) => match std::str::from_utf8(v) {
                        Ok(t) if !t.chars().any(char::is_control) => Value::Text(t.to_string()),
                        _ => Value::Bytes(v.to_vec()),
                    },
                    None => break,
                }
            };
            self.xattr_layout
                .structure(
                    format!("xattr {full} of {path}"),
                    p as u64,
                    (8 + nlen + vlen) as u64,
                )
                .field("type", 0, 2, Decode::U16Le, Role::Data)
                .field("name size", 2, 2, Decode::U16Le, Role::Size)
                .field("name", 4, nlen as u32, Decode::Ascii, Role::Name)
                .field("value size", 4 + nlen as u32, 4, Decode::U32Le, Role::Size)
                .field(
                    "value",
                    8 + nlen as u32,
                    vlen as u32,
                    Decode::Bytes,
                    Role::Data,
                );
            out.push(Meta::new(format!("xattr {full}"), value, Role::Data));
            p = vstart + vlen;
        }
        out
    }

    fn listing(
        &mut self,
        path: &str,
        di: &DirInfo,
        depth: usize,
        stack: &mut Vec<(String, u64, usize)>,
    ) -> Result<()> {
        let size = (di.size as usize).saturating_sub(3);
        let Some(base) = self.dirs.blocks.get(&u64::from(di.block)) else {
            return Err(Error::corrupt(format!(
                "squashfs: directory {path} points at no directory table block"
            )));
        };
        let start = base + usize::from(di.offset);
        // Empty directories point wherever the next listing starts; only real listings count.
        if size > 0 && !self.visited_dirs.insert(start) {
            return Err(Error::corrupt(format!(
                "squashfs: directory {path} repeats a listing already read (loop); skipped"
            )));
        }
        let d = &self.dirs.data;
        let end = start + size;
        if end > d.len() {
            return Err(Error::corrupt(format!(
                "squashfs: listing of {path} runs past the directory table"
            )));
        }
        let mut p = start;
        let mut children = Vec::new();
        let mut header_no = 0;
        while p + 12 <= end {
            let count = crate::le::u32(d, p) as usize + 1;
            let block = crate::le::u32(d, p + 4);
            header_no += 1;
            if header_no == 1 {
                self.dir_paths.insert(start, self.dir_layout.len() as u32);
            }
            self.dir_layout.push(Structure::with_fields(
                format!("directory header #{header_no} of {path}"),
                p as u64,
                12,
                DIR_HEADER,
            ));
            if count > 256 {
                return Err(Error::corrupt(format!(
                    "squashfs: directory {path} has a header with {count} entries (at most 256)"
                )));
            }
            p += 12;
            for _ in 0..count {
                let e = d.get(p..p + 8).filter(|_| p + 8 <= end).ok_or_else(|| {
                    Error::corrupt(format!("squashfs: listing of {path} is truncated"))
                })?;
                let off = crate::le::u16(e, 0);
                let nlen = usize::from(crate::le::u16(e, 6)) + 1;
                let name = d
                    .get(p + 8..p + 8 + nlen)
                    .filter(|_| p + 8 + nlen <= end)
                    .ok_or_else(|| {
                        Error::corrupt(format!("squashfs: a name in {path} runs past its listing"))
                    })?;
                let child = if path == "/" {
                    format!("/{}", component(name))
                } else {
                    format!("{path}/{}", component(name))
                };
                self.dir_layout.push(Structure::with_fields(
                    format!("directory entry of {child}"),
                    p as u64,
                    (8 + nlen) as u64,
                    DIR_ENTRY,
                ));
                children.push((child, (u64::from(block) << 16) | u64::from(off)));
                p += 8 + nlen;
            }
        }
        // Reverse so that the stack yields children in listing order.
        for (child, iref) in children.into_iter().rev() {
            stack.push((child, iref, depth + 1));
        }
        Ok(())
    }
}

/// The fixed part of every inode, then the fields of one inode type.
macro_rules! inode_table {
    ($($f:expr),* $(,)?) => {
        &[
            Field::fixed("inode type", 0, 2, Decode::U16Le, Role::Data),
            Field::fixed("permissions", 2, 2, Decode::ModeU16Le, Role::Mode),
            Field::fixed("uid index", 4, 2, Decode::U16Le, Role::Owner),
            Field::fixed("gid index", 6, 2, Decode::U16Le, Role::Owner),
            Field::fixed("mtime", 8, 4, Decode::UnixTime32Le, Role::Time),
            Field::fixed("inode number", 12, 4, Decode::U32Le, Role::Identifier),
            $($f),*
        ]
    };
}

static DIR_INODE: &[Field] = inode_table![
    Field::fixed("directory block index", 16, 4, Decode::U32Le, Role::Pointer),
    Field::fixed("link count", 20, 4, Decode::U32Le, Role::Count),
    Field::fixed("directory size", 24, 2, Decode::U16Le, Role::Size),
    Field::fixed(
        "directory block offset",
        26,
        2,
        Decode::U16Le,
        Role::Pointer
    ),
    Field::fixed(
        "parent inode number",
        28,
        4,
        Decode::U32Le,
        Role::Identifier
    ),
];
static LDIR_INODE: &[Field] = inode_table![
    Field::fixed("link count", 16, 4, Decode::U32Le, Role::Count),
    Field::fixed("directory size", 20, 4, Decode::U32Le, Role::Size),
    Field::fixed("directory block index", 24, 4, Decode::U32Le, Role::Pointer),
    Field::fixed(
        "parent inode number",
        28,
        4,
        Decode::U32Le,
        Role::Identifier
    ),
    Field::fixed("index count", 32, 2, Decode::U16Le, Role::Count),
    Field::fixed(
        "directory block offset",
        34,
        2,
        Decode::U16Le,
        Role::Pointer
    ),
    Field::fixed("xattr index", 36, 4, Decode::Hex32Le, Role::Pointer),
];
static FILE_INODE: &[Field] = inode_table![
    Field::fixed("blocks start", 16, 4, Decode::U32Le, Role::Pointer),
    Field::fixed("fragment index", 20, 4, Decode::Hex32Le, Role::Pointer),
    Field::fixed("fragment offset", 24, 4, Decode::U32Le, Role::Pointer),
    Field::fixed("file size", 28, 4, Decode::U32Le, Role::Size),
    Field::fixed(
        "data block sizes",
        32,
        Field::REST,
        Decode::Bytes,
        Role::Size
    ),
];
static LFILE_INODE: &[Field] = inode_table![
    Field::fixed("blocks start", 16, 8, Decode::U64Le, Role::Pointer),
    Field::fixed("file size", 24, 8, Decode::U64Le, Role::Size),
    Field::fixed("sparse bytes", 32, 8, Decode::U64Le, Role::Size),
    Field::fixed("link count", 40, 4, Decode::U32Le, Role::Count),
    Field::fixed("fragment index", 44, 4, Decode::Hex32Le, Role::Pointer),
    Field::fixed("fragment offset", 48, 4, Decode::U32Le, Role::Pointer),
    Field::fixed("xattr index", 52, 4, Decode::Hex32Le, Role::Pointer),
    Field::fixed(
        "data block sizes",
        56,
        Field::REST,
        Decode::Bytes,
        Role::Size
    ),
];
static SYMLINK_INODE: &[Field] = inode_table![
    Field::fixed("link count", 16, 4, Decode::U32Le, Role::Count),
    Field::fixed("target size", 20, 4, Decode::U32Le, Role::Size),
    Field::fixed("symlink target", 24, Field::REST, Decode::Ascii, Role::Name),
];
static DEV_INODE: &[Field] = inode_table![
    Field::fixed("link count", 16, 4, Decode::U32Le, Role::Count),
    Field::fixed("device number", 20, 4, Decode::Hex32Le, Role::Data),
];
static LDEV_INODE: &[Field] = inode_table![
    Field::fixed("link count", 16, 4, Decode::U32Le, Role::Count),
    Field::fixed("device number", 20, 4, Decode::Hex32Le, Role::Data),
    Field::fixed("xattr index", 24, 4, Decode::Hex32Le, Role::Pointer),
];
static IPC_INODE: &[Field] = inode_table![Field::fixed(
    "link count",
    16,
    4,
    Decode::U32Le,
    Role::Count
)];
static LIPC_INODE: &[Field] = inode_table![
    Field::fixed("link count", 16, 4, Decode::U32Le, Role::Count),
    Field::fixed("xattr index", 20, 4, Decode::Hex32Le, Role::Pointer),
];
static DIR_HEADER: &[Field] = &[
    Field::fixed("entry count - 1", 0, 4, Decode::U32Le, Role::Count),
    Field::fixed("inode table block", 4, 4, Decode::U32Le, Role::Pointer),
    Field::fixed("base inode number", 8, 4, Decode::U32Le, Role::Identifier),
];
static DIR_ENTRY: &[Field] = &[
    Field::fixed("inode offset in block", 0, 2, Decode::U16Le, Role::Pointer),
    Field::fixed("inode number delta", 2, 2, Decode::I16Le, Role::Identifier),
    Field::fixed("type", 4, 2, Decode::U16Le, Role::Data),
    Field::fixed("name size - 1", 6, 2, Decode::U16Le, Role::Size),
    Field::fixed("name", 8, Field::REST, Decode::Ascii, Role::Name),
];

fn f(name: &'static str, offset: u32, len: u32, decode: Decode, role: Role) -> Field {
    Field {
        name: name.into(),
        offset,
        len,
        decode,
        role,
    }
}

impl Image {
    /// A reader of file contents from `src` (the bytes this image was parsed from).
    pub fn data_reader(&self, src: Source) -> DataReader {
        DataReader {
            src,
            comp: self.compression,
            block_size: self.block_size,
            fragments: Arc::new(self.fragments.clone()),
            cache: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

/// A decompressed block, shared between readers.
type Block = Arc<Vec<u8>>;

/// Fragment blocks kept decompressed per reader, for reading whole files that differ.
const FRAGMENT_CACHE: usize = 4;

/// Reads file contents of one image: decompresses data blocks on demand and keeps recently
/// used fragment blocks, which many small files share.
#[derive(Clone)]
pub struct DataReader {
    src: Source,
    comp: Compression,
    block_size: u32,
    fragments: Arc<Vec<Fragment>>,
    cache: Arc<Mutex<Vec<(u32, Block)>>>,
}

impl DataReader {
    pub fn source(&self) -> &Source {
        &self.src
    }

    pub fn fragment(&self, index: u32) -> Option<Fragment> {
        self.fragments.get(index as usize).copied()
    }

    /// Decompresses fragment block `index` without caching it (for callers that walk
    /// fragments in order and keep their own few blocks).
    pub fn decompress_fragment(&self, index: u32) -> std::io::Result<Vec<u8>> {
        let fr = self.fragment(index).ok_or_else(|| {
            std::io::Error::other(format!("squashfs: fragment {index} does not exist"))
        })?;
        self.load(fr.range(), fr.size & UNCOMPRESSED_BLOCK != 0)
    }

    /// The decompressed fragment block `index`.
    pub fn fragment_block(&self, index: u32) -> std::io::Result<Arc<Vec<u8>>> {
        if let Ok(c) = self.cache.lock() {
            if let Some((_, b)) = c.iter().find(|(i, _)| *i == index) {
                return Ok(b.clone());
            }
        }
        let fr = self.fragment(index).ok_or_else(|| {
            std::io::Error::other(format!("squashfs: fragment {index} does not exist"))
        })?;
        let b = Arc::new(self.load(fr.range(), fr.size & UNCOMPRESSED_BLOCK != 0)?);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= FRAGMENT_CACHE {
                c.remove(0);
            }
            c.push((index, b.clone()));
        }
        Ok(b)
    }

    fn load(&self, r: std::ops::Range<u64>, raw: bool) -> std::io::Result<Vec<u8>> {
        let bs = self.block_size as usize;
        let stored = read_vec_at(&*self.src, r.start, r.end - r.start, bs as u64 + 1024)?;
        if raw {
            Ok(stored)
        } else {
            self.comp
                .decompress(&stored, bs)
                .map_err(|e| std::io::Error::other(e.message))
        }
    }

    /// The decompressed content of a regular file as a source, one block at a time.
    pub fn open(&self, data: &FileData) -> Result<Source> {
        if let Some((i, _)) = data.fragment {
            self.fragment(i)
                .ok_or_else(|| Error::corrupt(format!("squashfs: fragment {i} does not exist")))?;
        }
        Ok(Arc::new(FileReader {
            reader: self.clone(),
            data: data.clone(),
            blocks: data.block_ranges(),
            cache: Mutex::new(None),
        }))
    }

    /// The tail of a file stored in a fragment.
    pub fn tail(&self, data: &FileData) -> std::io::Result<Vec<u8>> {
        let Some((i, off)) = data.fragment else {
            return Ok(Vec::new());
        };
        let b = self.fragment_block(i)?;
        let (s, n) = (off as usize, data.tail_len() as usize);
        b.get(s..s + n).map(<[u8]>::to_vec).ok_or_else(|| {
            std::io::Error::other("squashfs: file tail lies outside its fragment block")
        })
    }
}

struct FileReader {
    reader: DataReader,
    data: FileData,
    blocks: Vec<(std::ops::Range<u64>, bool)>,
    /// The last decompressed block: `(block number, bytes)`.
    cache: Mutex<Option<(usize, Block)>>,
}

impl FileReader {
    fn block(&self, k: usize) -> std::io::Result<Arc<Vec<u8>>> {
        if let Ok(c) = self.cache.lock() {
            if let Some((ck, b)) = &*c {
                if *ck == k {
                    return Ok(b.clone());
                }
            }
        }
        let (r, raw) = self.blocks[k].clone();
        let bytes = if r.start == r.end {
            vec![0; self.data.block_size as usize]
        } else {
            self.reader.load(r, raw)?
        };
        let b = Arc::new(bytes);
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((k, b.clone()));
        }
        Ok(b)
    }
}

impl ReadAt for FileReader {
    fn size(&self) -> u64 {
        self.data.file_size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if offset >= self.data.file_size || buf.is_empty() {
            return Ok(0);
        }
        let bs = u64::from(self.data.block_size);
        let k = (offset / bs) as usize;
        let within = (offset % bs) as usize;
        let want = (buf.len() as u64).min(self.data.file_size - offset) as usize;
        let (b, avail, start) = if k < self.blocks.len() {
            let b = self.block(k)?;
            let expect = (self.data.file_size - k as u64 * bs).min(bs) as usize;
            if b.len() < expect {
                return Err(std::io::Error::other(format!(
                    "squashfs data block {k} decompressed to {} bytes, expected {expect}",
                    b.len()
                )));
            }
            (b, expect, within)
        } else {
            let (i, off) = self
                .data
                .fragment
                .ok_or_else(|| std::io::Error::other("squashfs: file tail has no fragment"))?;
            let b = self.reader.fragment_block(i)?;
            let tail = self.data.tail_len() as usize;
            if off as usize + tail > b.len() {
                return Err(std::io::Error::other(
                    "squashfs: file tail lies outside its fragment block",
                ));
            }
            (b, tail, off as usize + within)
        };
        if within >= avail {
            return Ok(0);
        }
        let n = want.min(avail - within);
        buf[..n].copy_from_slice(&b[start..start + n]);
        Ok(n)
    }
}
