//! FAT12/16/32 file systems (EFI system partitions): the boot sector field by field (volume
//! serial, label), FSInfo and backup boot sector (FAT32), the allocation tables (attributed per
//! cluster chain), directory entries including long-name entries and their dates, file clusters
//! and free space.

use std::collections::HashSet;
use std::ops::Range;

use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{
    Decode, Field, Layout, Role, Structure, Timestamp, Value, component, fat_datetime,
};
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result};

/// Whether `head` (the first sector) looks like a FAT boot sector.
pub fn detect(head: &[u8]) -> bool {
    Bpb::parse(head).is_some()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

#[derive(Clone, Debug)]
struct Bpb {
    bps: u64,
    spc: u64,
    reserved: u64,
    fats: u64,
    root_entries: u64,
    fat_sectors: u64,
    root_cluster: u32,
    fsinfo: u64,
    backup: u64,
    kind: FatType,
    clusters: u32,
}

impl Bpb {
    fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 512 || b[510..512] != [0x55, 0xaa] {
            return None;
        }
        let bps = u64::from(crate::le::u16(b, 11));
        let spc = u64::from(b[13]);
        let reserved = u64::from(crate::le::u16(b, 14));
        let fats = u64::from(b[16]);
        let root_entries = u64::from(crate::le::u16(b, 17));
        let t16 = u64::from(crate::le::u16(b, 19));
        let media = b[21];
        let f16 = u64::from(crate::le::u16(b, 22));
        let t32 = u64::from(crate::le::u32(b, 32));
        if !matches!(bps, 512 | 1024 | 2048 | 4096)
            || spc == 0
            || !spc.is_power_of_two()
            || reserved == 0
            || !(1..=4).contains(&fats)
            || !(media == 0xf0 || media >= 0xf8)
            || b[0] != 0xeb && b[0] != 0xe9
        {
            return None;
        }
        let total_sectors = if t16 != 0 { t16 } else { t32 };
        let fat_sectors = if f16 != 0 {
            f16
        } else {
            u64::from(crate::le::u32(b, 36))
        };
        if total_sectors == 0 || fat_sectors == 0 {
            return None;
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let data_start = reserved + fats * fat_sectors + root_sectors;
        let clusters = total_sectors.checked_sub(data_start)? / spc;
        let kind = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        if kind == FatType::Fat32 && f16 != 0 {
            return None;
        }
        Some(Self {
            bps,
            spc,
            reserved,
            fats,
            root_entries,
            fat_sectors,
            root_cluster: crate::le::u32(b, 44),
            fsinfo: u64::from(crate::le::u16(b, 48)),
            backup: u64::from(crate::le::u16(b, 50)),
            kind,
            clusters: u32::try_from(clusters).ok()?,
        })
    }

    fn cluster_bytes(&self) -> u64 {
        self.bps * self.spc
    }
    fn fat_offset(&self, i: u64) -> u64 {
        (self.reserved + i * self.fat_sectors) * self.bps
    }
    fn root_offset(&self) -> u64 {
        self.fat_offset(self.fats)
    }
    fn data_offset(&self) -> u64 {
        self.root_offset() + (self.root_entries * 32).div_ceil(self.bps) * self.bps
    }
    fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset() + u64::from(c - 2) * self.cluster_bytes()
    }
}

/// Where things are in a FAT file system, from its boot sector alone: what a tool that
/// rewrites an image in place (isoforge normalize pins the serial and the entries' dates)
/// needs, with the same checks as [`parse`].
#[derive(Clone, Debug)]
pub struct Geometry {
    bpb: Bpb,
}

/// The geometry of the FAT file system whose first sector is `boot_sector`.
pub fn geometry(boot_sector: &[u8]) -> Result<Geometry> {
    Bpb::parse(boot_sector)
        .map(|bpb| Geometry { bpb })
        .ok_or_else(|| Error::corrupt("FAT: boot sector parameters are not valid"))
}

impl Geometry {
    pub fn kind(&self) -> FatType {
        self.bpb.kind
    }
    /// Byte offset of the volume serial in a boot sector (only meaningful after the extended
    /// boot signature 0x29, the byte before it).
    pub fn serial_offset(&self) -> usize {
        if self.bpb.kind == FatType::Fat32 {
            67
        } else {
            39
        }
    }
    /// Byte offset of the FAT32 backup boot sector, if it has one inside the reserved area.
    pub fn backup_boot_sector(&self) -> Option<u64> {
        let b = &self.bpb;
        (b.kind == FatType::Fat32 && b.backup > 0 && b.backup < b.reserved)
            .then(|| b.backup * b.bps)
    }
    /// The byte ranges of the root directory in `img` (the whole image in memory): the fixed
    /// area of FAT12/16, or the cluster chain of FAT32.
    pub fn root(&self, img: &[u8]) -> Vec<Range<u64>> {
        if self.bpb.kind == FatType::Fat32 {
            self.chain(img, self.bpb.root_cluster)
        } else {
            let len = img.len() as u64;
            let s = self.bpb.root_offset();
            let root = s.min(len)..(s + self.bpb.root_entries * 32).min(len);
            vec![root]
        }
    }
    /// The byte ranges of the clusters of the chain starting at `first`, read from the first
    /// allocation table of `img`. Bounded: it stops at the end-of-chain mark, at a cluster
    /// out of range or past the end of `img`, and at the first cluster seen twice.
    pub fn chain(&self, img: &[u8], first: u32) -> Vec<Range<u64>> {
        let b = &self.bpb;
        let len = img.len() as u64;
        let fat_start = b.fat_offset(0).min(len) as usize;
        let fat_end = (b.fat_offset(0) + b.fat_sectors * b.bps).min(len) as usize;
        let fat = &img[fat_start..fat_end];
        let eoc = match b.kind {
            FatType::Fat12 => 0xff8,
            FatType::Fat16 => 0xfff8,
            FatType::Fat32 => 0x0fff_fff8,
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut c = first;
        while c >= 2 && c < b.clusters.saturating_add(2) && seen.insert(c) {
            let s = b.cluster_offset(c);
            let e = s + b.cluster_bytes();
            if e > len {
                break;
            }
            out.push(s..e);
            c = next_cluster(b, fat, c);
            if c >= eoc {
                break;
            }
        }
        out
    }
}

/// A parsed FAT file system.
#[derive(Debug)]
pub struct FileSystem {
    pub kind: FatType,
    pub volume_serial: u32,
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub notes: Vec<String>,
}

pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<FileSystem> {
    let mut b0 = [0u8; 512];
    read_exact_at(src, 0, &mut b0).ctx(|| "FAT boot sector".into())?;
    let mut bpb = Bpb::parse(&b0)
        .ok_or_else(|| Error::corrupt("FAT: boot sector parameters are not valid"))?;
    let fat_bytes = bpb.fat_sectors * bpb.bps;
    if fat_bytes > limits.max_metadata {
        return Err(Error::limit(format!(
            "FAT: allocation table of {fat_bytes} bytes exceeds the metadata limit"
        )));
    }
    let fat = read_vec_at(src, bpb.fat_offset(0), fat_bytes, limits.max_metadata)
        .ctx(|| "FAT allocation table #1".into())?;
    // A hostile boot sector may claim billions of clusters: count only those the allocation
    // table can describe and the image can hold.
    let bits = match bpb.kind {
        FatType::Fat12 => 12,
        FatType::Fat16 => 16,
        FatType::Fat32 => 32,
    };
    let in_table = (fat_bytes * 8 / bits).saturating_sub(2);
    let in_image = src.size() / bpb.cluster_bytes() + 1;
    bpb.clusters = bpb
        .clusters
        .min(u32::try_from(in_table.min(in_image)).unwrap_or(u32::MAX));
    let serial_at = if bpb.kind == FatType::Fat32 { 67 } else { 39 };
    let mut fs = FileSystem {
        kind: bpb.kind,
        volume_serial: crate::le::u32(&b0, serial_at),
        entries: Vec::new(),
        layout: Layout::new(),
        notes: Vec::new(),
    };
    boot_sector(&mut fs.layout, 0, &bpb, "FAT boot sector");
    if bpb.bps > 512 {
        fs.layout.region(
            "FAT boot sector (rest of sector)",
            512,
            bpb.bps - 512,
            Role::Data,
        );
    }
    let mut reserved_used = vec![0u64];
    if bpb.kind == FatType::Fat32 {
        if bpb.fsinfo > 0 && bpb.fsinfo < bpb.reserved {
            let at = bpb.fsinfo * bpb.bps;
            fs.layout
                .structure("FAT32 FSInfo sector", at, 512)
                .field("lead signature", 0, 4, Decode::Hex32Le, Role::Data)
                .field("reserved", 4, 480, Decode::Bytes, Role::Padding)
                .field("structure signature", 484, 4, Decode::Hex32Le, Role::Data)
                .field("free cluster count", 488, 4, Decode::U32Le, Role::Count)
                .field(
                    "next free cluster hint",
                    492,
                    4,
                    Decode::U32Le,
                    Role::Pointer,
                )
                .field("reserved", 496, 12, Decode::Bytes, Role::Padding)
                .field("trail signature", 508, 4, Decode::Hex32Le, Role::Data);
            reserved_used.push(bpb.fsinfo);
        }
        if bpb.backup > 0 && bpb.backup < bpb.reserved {
            boot_sector(
                &mut fs.layout,
                bpb.backup * bpb.bps,
                &bpb,
                "FAT32 backup boot sector",
            );
            reserved_used.push(bpb.backup);
        }
    }
    for s in 1..bpb.reserved {
        if !reserved_used.contains(&s) {
            fs.layout.region(
                format!("FAT reserved sector {s}"),
                s * bpb.bps,
                bpb.bps,
                Role::Padding,
            );
        }
    }

    let mut w = Walker {
        src,
        limits,
        bpb: &bpb,
        fat: &fat,
        owners: vec![None; bpb.clusters as usize + 2],
        visited: HashSet::new(),
        fs: &mut fs,
        labels: vec!["(reserved)".into(), "root directory".into()],
    };
    w.walk();
    let owners = std::mem::take(&mut w.owners);
    let labels = std::mem::take(&mut w.labels);
    for i in 0..bpb.fats {
        fat_table_layout(&mut fs.layout, &bpb, i, &owners, &labels);
    }
    free_clusters(&mut fs.layout, &bpb, &fat, &owners);
    Ok(fs)
}

fn boot_sector(l: &mut Layout, at: u64, bpb: &Bpb, name: &str) {
    let mut s = l
        .structure(name, at, 512)
        .field("jump instruction", 0, 3, Decode::Bytes, Role::Data)
        .field("OEM name", 3, 8, Decode::Ascii, Role::Name)
        .field("bytes per sector", 11, 2, Decode::U16Le, Role::Size)
        .field("sectors per cluster", 13, 1, Decode::U8, Role::Size)
        .field("reserved sectors", 14, 2, Decode::U16Le, Role::Count)
        .field("number of FATs", 16, 1, Decode::U8, Role::Count)
        .field("root directory entries", 17, 2, Decode::U16Le, Role::Count)
        .field("total sectors (16-bit)", 19, 2, Decode::U16Le, Role::Size)
        .field("media descriptor", 21, 1, Decode::U8, Role::Data)
        .field("sectors per FAT (16-bit)", 22, 2, Decode::U16Le, Role::Size)
        .field("sectors per track", 24, 2, Decode::U16Le, Role::Data)
        .field("number of heads", 26, 2, Decode::U16Le, Role::Data)
        .field("hidden sectors", 28, 4, Decode::U32Le, Role::Pointer)
        .field("total sectors (32-bit)", 32, 4, Decode::U32Le, Role::Size);
    let e = if bpb.kind == FatType::Fat32 {
        s = s
            .field("sectors per FAT (32-bit)", 36, 4, Decode::U32Le, Role::Size)
            .field("extended flags", 40, 2, Decode::Hex16Le, Role::Flags)
            .field("file system version", 42, 2, Decode::U16Le, Role::Data)
            .field(
                "root directory cluster",
                44,
                4,
                Decode::U32Le,
                Role::Pointer,
            )
            .field("FSInfo sector", 48, 2, Decode::U16Le, Role::Pointer)
            .field("backup boot sector", 50, 2, Decode::U16Le, Role::Pointer)
            .field("reserved", 52, 12, Decode::Bytes, Role::Padding);
        64
    } else {
        36
    };
    s.field("drive number", e, 1, Decode::U8, Role::Data)
        .field("reserved", e + 1, 1, Decode::U8, Role::Padding)
        .field("extended boot signature", e + 2, 1, Decode::U8, Role::Data)
        .field("volume serial", e + 3, 4, Decode::Hex32Le, Role::Identifier)
        .field("volume label", e + 7, 11, Decode::Ascii, Role::Name)
        .field("file system type", e + 18, 8, Decode::Ascii, Role::Name)
        .field(
            "boot code",
            e + 26,
            510 - (e + 26),
            Decode::Bytes,
            Role::Data,
        )
        .field("boot signature", 510, 2, Decode::Hex16Le, Role::Data);
}

/// One FAT copy, with a field per run of consecutive clusters that belong to one owner.
fn fat_table_layout(l: &mut Layout, bpb: &Bpb, i: u64, owners: &[Option<u32>], labels: &[String]) {
    let at = bpb.fat_offset(i);
    let len = bpb.fat_sectors * bpb.bps;
    let byte_of = |c: u64| -> u64 {
        match bpb.kind {
            FatType::Fat12 => c * 3 / 2,
            FatType::Fat16 => c * 2,
            FatType::Fat32 => c * 4,
        }
    };
    let width = match bpb.kind {
        FatType::Fat12 => 2,
        FatType::Fat16 => 2,
        FatType::Fat32 => 4,
    };
    let n = bpb.clusters as u64 + 2;
    let mut fields = vec![Field {
        name: "reserved entries 0 and 1 (media descriptor, end-of-chain marker)".into(),
        offset: 0,
        len: byte_of(2) as u32,
        decode: Decode::Bytes,
        role: Role::Data,
    }];
    let mut c = 2u64;
    while c < n {
        let owner = owners[c as usize];
        let mut e = c + 1;
        while e < n && owners[e as usize] == owner {
            e += 1;
        }
        // A FAT12 entry shares a byte with its neighbour; runs start at the first whole byte.
        let start = byte_of(c);
        let end = (byte_of(e - 1) + width).min(len);
        let what = match owner {
            Some(o) => labels.get(o as usize).cloned().unwrap_or_default(),
            None => "free".into(),
        };
        if end > start {
            fields.push(Field {
                name: format!("entries for clusters {c}..{} ({what})", e - 1).into(),
                offset: start as u32,
                len: (end - start) as u32,
                decode: Decode::Bytes,
                role: Role::Pointer,
            });
        }
        c = e;
    }
    let used_end = byte_of(n - 1) + width;
    if used_end < len {
        fields.push(Field {
            name: "unused bytes after the last cluster entry".into(),
            offset: used_end as u32,
            len: (len - used_end) as u32,
            decode: Decode::Bytes,
            role: Role::Padding,
        });
    }
    l.push(Structure::with_fields(
        format!("FAT allocation table #{}", i + 1),
        at,
        len,
        fields,
    ));
}

fn free_clusters(l: &mut Layout, bpb: &Bpb, fat: &[u8], owners: &[Option<u32>]) {
    let n = bpb.clusters + 2;
    let mut c = 2u32;
    while c < n {
        if owners[c as usize].is_some() {
            c += 1;
            continue;
        }
        let mut e = c;
        while e < n && owners[e as usize].is_none() {
            e += 1;
        }
        let used = (c..e).any(|x| next_cluster(bpb, fat, x) != 0);
        let what = if used {
            "clusters allocated to no file"
        } else {
            "free clusters"
        };
        l.region(
            format!("{what} {c}..{}", e - 1),
            bpb.cluster_offset(c),
            u64::from(e - c) * bpb.cluster_bytes(),
            Role::Padding,
        );
        c = e;
    }
}

fn next_cluster(bpb: &Bpb, fat: &[u8], c: u32) -> u32 {
    let c = c as usize;
    match bpb.kind {
        FatType::Fat12 => {
            let off = c + c / 2;
            if off + 1 >= fat.len() {
                return 0x0fff_ffff;
            }
            let v = crate::le::u16(fat, off);
            u32::from(if c & 1 == 1 { v >> 4 } else { v & 0xfff })
        }
        FatType::Fat16 => {
            if c * 2 + 1 >= fat.len() {
                return 0x0fff_ffff;
            }
            u32::from(crate::le::u16(fat, c * 2))
        }
        FatType::Fat32 => {
            if c * 4 + 3 >= fat.len() {
                return 0x0fff_ffff;
            }
            crate::le::u32(fat, c * 4) & 0x0fff_ffff
        }
    }
}

struct Walker<'a> {
    src: &'a dyn ReadAt,
    limits: &'a Limits,
    bpb: &'a Bpb,
    fat: &'a [u8],
    /// For each cluster, the index into `labels` of what owns it.
    owners: Vec<Option<u32>>,
    visited: HashSet<u32>,
    fs: &'a mut FileSystem,
    labels: Vec<String>,
}

impl Walker<'_> {
    /// The clusters of a chain, bounded by the cluster count and stopping at loops.
    fn chain(&mut self, first: u32, owner: u32, what: &str) -> Vec<u32> {
        let eoc = match self.bpb.kind {
            FatType::Fat12 => 0xff8,
            FatType::Fat16 => 0xfff8,
            FatType::Fat32 => 0x0fff_fff8,
        };
        let mut v = Vec::new();
        let mut c = first;
        while c >= 2 && c < self.bpb.clusters + 2 {
            if self.owners[c as usize].is_some() {
                self.fs.notes.push(format!("FAT: cluster {c} of {what} is already used by another chain (cross-link or loop); chain cut there"));
                break;
            }
            self.owners[c as usize] = Some(owner);
            v.push(c);
            let n = next_cluster(self.bpb, self.fat, c);
            if n >= eoc || n < 2 {
                break;
            }
            c = n;
        }
        v
    }

    fn extents(&self, clusters: &[u32]) -> Vec<Range<u64>> {
        let cb = self.bpb.cluster_bytes();
        let mut out: Vec<Range<u64>> = Vec::new();
        for &c in clusters {
            let s = self.bpb.cluster_offset(c);
            match out.last_mut() {
                Some(r) if r.end == s => r.end += cb,
                _ => out.push(s..s + cb),
            }
        }
        out
    }

    fn walk(&mut self) {
        let mut stack: Vec<(String, Vec<Range<u64>>, usize)> = Vec::new();
        let root = if self.bpb.kind == FatType::Fat32 {
            let chain = self.chain(self.bpb.root_cluster, 1, "the root directory");
            self.extents(&chain)
        } else {
            let s = self.bpb.root_offset();
            crate::extent(s..s + self.bpb.root_entries * 32)
        };
        stack.push(("/".into(), root, 0));
        while let Some((path, extents, depth)) = stack.pop() {
            if depth > self.limits.max_depth {
                self.fs.notes.push(format!(
                    "FAT: {path} is nested deeper than {}",
                    self.limits.max_depth
                ));
                continue;
            }
            if let Err(e) = self.directory(&path, &extents, depth, &mut stack) {
                self.fs.notes.push(e.message);
                if e.kind == crate::ErrorKind::Limit {
                    return;
                }
            }
        }
    }

    fn directory(
        &mut self,
        dir: &str,
        extents: &[Range<u64>],
        depth: usize,
        stack: &mut Vec<(String, Vec<Range<u64>>, usize)>,
    ) -> Result<()> {
        let mut lfn: Vec<(u64, u8, [u16; 13], u8)> = Vec::new(); // (offset, seq, chars, checksum)
        let mut ended = false;
        for r in extents {
            let buf = read_vec_at(self.src, r.start, r.end - r.start, self.limits.max_metadata)
                .ctx(|| format!("FAT directory {dir}"))?;
            for (i, e) in buf.chunks_exact(32).enumerate() {
                let at = r.start + i as u64 * 32;
                if ended {
                    continue;
                }
                if e[0] == 0 {
                    let rest = r.end - at;
                    self.fs.layout.region(
                        format!("unused directory entries of {dir}"),
                        at,
                        rest,
                        Role::Padding,
                    );
                    ended = true;
                    continue;
                }
                if self.fs.entries.len() >= self.limits.max_entries
                    || self.fs.layout.len() >= self.limits.max_structures
                {
                    return Err(Error::limit(format!(
                        "FAT: more than {} entries",
                        self.limits.max_entries
                    )));
                }
                let attr = e[11];
                if e[0] == 0xe5 {
                    self.fs.layout.region(
                        format!("deleted directory entry in {dir}"),
                        at,
                        32,
                        Role::Padding,
                    );
                    lfn.clear();
                    continue;
                }
                if attr & 0x3f == 0x0f {
                    let mut chars = [0u16; 13];
                    for (k, off) in [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]
                        .iter()
                        .enumerate()
                    {
                        chars[k] = crate::le::u16(e, *off);
                    }
                    lfn.push((at, e[0], chars, e[13]));
                    continue;
                }
                let short = &e[0..11];
                let sum = short
                    .iter()
                    .fold(0u8, |s, &c| s.rotate_right(1).wrapping_add(c));
                let long = long_name(&lfn, sum);
                let name = long.unwrap_or_else(|| short_name(short, e[12]));
                let is_dot = short == b".          " || short == b"..         ";
                let path = if dir == "/" {
                    format!("/{name}")
                } else {
                    format!("{dir}/{name}")
                };
                let label = if attr & 0x08 != 0 && attr & 0x10 == 0 {
                    "volume label directory entry".to_string()
                } else if is_dot {
                    format!("directory entry '{}' of {dir}", name)
                } else {
                    format!("directory entry of {path}")
                };
                for (k, (lat, _, _, _)) in lfn.iter().enumerate() {
                    self.fs
                        .layout
                        .structure(
                            format!("long-name entry {} of {path}", lfn.len() - k),
                            *lat,
                            32,
                        )
                        .field("sequence number", 0, 1, Decode::U8, Role::Count)
                        .field("name characters 1-5", 1, 10, Decode::Utf16Le, Role::Name)
                        .field("attributes", 11, 1, Decode::U8, Role::Flags)
                        .field("type", 12, 1, Decode::U8, Role::Data)
                        .field("short name checksum", 13, 1, Decode::U8, Role::Checksum)
                        .field("name characters 6-11", 14, 12, Decode::Utf16Le, Role::Name)
                        .field(
                            "first cluster (always 0)",
                            26,
                            2,
                            Decode::U16Le,
                            Role::Pointer,
                        )
                        .field("name characters 12-13", 28, 4, Decode::Utf16Le, Role::Name);
                }
                lfn.clear();
                self.fs
                    .layout
                    .structure(label, at, 32)
                    .field("short name", 0, 11, Decode::Ascii, Role::Name)
                    .field("attributes", 11, 1, Decode::U8, Role::Flags)
                    .field("name case flags", 12, 1, Decode::U8, Role::Flags)
                    .field("creation time (10 ms units)", 13, 1, Decode::U8, Role::Time)
                    .field("creation time", 14, 2, Decode::FatTime, Role::Time)
                    .field("creation date", 16, 2, Decode::FatDate, Role::Time)
                    .field("last access date", 18, 2, Decode::FatDate, Role::Time)
                    .field(
                        "first cluster (high 16 bits)",
                        20,
                        2,
                        Decode::U16Le,
                        Role::Pointer,
                    )
                    .field("modification time", 22, 2, Decode::FatTime, Role::Time)
                    .field("modification date", 24, 2, Decode::FatDate, Role::Time)
                    .field(
                        "first cluster (low 16 bits)",
                        26,
                        2,
                        Decode::U16Le,
                        Role::Pointer,
                    )
                    .field("file size", 28, 4, Decode::U32Le, Role::Size);
                if is_dot || (attr & 0x08 != 0 && attr & 0x10 == 0) {
                    continue;
                }
                let first =
                    (u32::from(crate::le::u16(e, 20)) << 16) | u32::from(crate::le::u16(e, 26));
                let size = u64::from(crate::le::u32(e, 28));
                let member = self.fs.entries.len() as u32;
                let owner = self.labels.len() as u32;
                self.labels.push(path.clone());
                let meta = entry_meta(e);
                if attr & 0x10 != 0 {
                    let chain = if first >= 2 {
                        self.chain(first, owner, &path)
                    } else {
                        Vec::new()
                    };
                    let ext = self.extents(&chain);
                    if !self.visited.insert(first) && first >= 2 {
                        self.fs.notes.push(format!(
                            "FAT: directory {path} loops back to cluster {first}; skipped"
                        ));
                    } else {
                        stack.push((path.clone(), ext, depth + 1));
                    }
                    self.fs.entries.push(Entry {
                        path,
                        kind: EntryKind::Dir,
                        size: 0,
                        meta,
                        content: Content::None,
                    });
                    continue;
                }
                let need = size.div_ceil(self.bpb.cluster_bytes());
                let chain = if first >= 2 && size > 0 {
                    self.chain(first, owner, &path)
                } else {
                    Vec::new()
                };
                if (chain.len() as u64) < need {
                    self.fs.notes.push(format!(
                        "FAT: {path} needs {need} clusters but its chain has {}",
                        chain.len()
                    ));
                }
                let mut ext = self.extents(&chain);
                let mut left = size;
                for r in &mut ext {
                    let take = (r.end - r.start).min(left);
                    let old_end = r.end;
                    r.end = r.start + take;
                    left -= take;
                    if take > 0 {
                        self.fs.layout.content(
                            format!("content of {path}"),
                            r.start,
                            take,
                            Some(member),
                        );
                    }
                    if old_end > r.end {
                        self.fs.layout.region(
                            format!("slack after content of {path}"),
                            r.end,
                            old_end - r.end,
                            Role::Padding,
                        );
                    }
                }
                ext.retain(|r| r.end > r.start);
                self.fs.entries.push(Entry {
                    path,
                    kind: EntryKind::File,
                    size,
                    meta,
                    content: Content::Extents(ext),
                });
            }
        }
        Ok(())
    }
}

fn entry_meta(e: &[u8]) -> Vec<Meta> {
    let t = |date: u16, time: u16, extra_cs: u8| -> Value {
        if date == 0 {
            return Value::Unset;
        }
        match fat_datetime(date, time) {
            Some(s) => Value::Time(Timestamp {
                unix: s + i64::from(extra_cs / 100),
                nanos: Some(u32::from(extra_cs % 100) * 10_000_000),
                utc_offset_min: None,
            }),
            None => Value::Invalid(e[14..18].to_vec()),
        }
    };
    vec![
        Meta::new("attributes", Value::Hex(u64::from(e[11]), 2), Role::Flags),
        Meta::new(
            "creation time",
            t(crate::le::u16(e, 16), crate::le::u16(e, 14), e[13]),
            Role::Time,
        ),
        Meta::new(
            "last access date",
            t(crate::le::u16(e, 18), 0, 0),
            Role::Time,
        ),
        Meta::new(
            "modification time",
            t(crate::le::u16(e, 24), crate::le::u16(e, 22), 0),
            Role::Time,
        ),
    ]
}

fn long_name(lfn: &[(u64, u8, [u16; 13], u8)], sum: u8) -> Option<String> {
    if lfn.is_empty() || lfn.iter().any(|l| l.3 != sum) {
        return None;
    }
    let mut parts: Vec<&(u64, u8, [u16; 13], u8)> = lfn.iter().collect();
    parts.sort_by_key(|l| l.1 & 0x1f);
    let mut units = Vec::new();
    for p in parts {
        units.extend_from_slice(&p.2);
    }
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    let s = String::from_utf16_lossy(&units[..end]);
    Some(component(s.as_bytes()))
}

fn short_name(n: &[u8], case: u8) -> String {
    let mut base: Vec<u8> = n[..8].to_vec();
    while base.last() == Some(&b' ') {
        base.pop();
    }
    let mut ext: Vec<u8> = n[8..11].to_vec();
    while ext.last() == Some(&b' ') {
        ext.pop();
    }
    if base.first() == Some(&0x05) {
        base[0] = 0xe5;
    }
    if case & 0x08 != 0 {
        base.make_ascii_lowercase();
    }
    if case & 0x10 != 0 {
        ext.make_ascii_lowercase();
    }
    if !ext.is_empty() {
        base.push(b'.');
        base.extend_from_slice(&ext);
    }
    component(&base)
}
