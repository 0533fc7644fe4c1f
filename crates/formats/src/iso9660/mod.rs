//! ISO 9660 images as written by xorriso and genisoimage: the system area of a hybrid image
//! (MBR and GPT), every volume descriptor field by field, the L and M path tables, directory
//! records (with Rock Ridge via [`susp`]), the Joliet tree, the El Torito boot catalog and the
//! boot info tables patched into boot images ([`eltorito`]).
//!
//! Entries are the Rock Ridge (or plain ISO 9660) tree; the Joliet tree contributes only
//! layout, since it points at the same file contents.

pub mod eltorito;
pub mod susp;

use std::collections::{HashMap, HashSet};

use crate::gpt::Gpt;
use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{Decode, Field, Layout, Role, Structure, Value, component};
use crate::mbr::Mbr;
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result};

/// Logical sector size of the volume descriptor area.
pub const SECTOR: u64 = 2048;
const SYSTEM_AREA: u64 = 16 * SECTOR;
/// Volume descriptors read before giving up on finding a terminator.
const MAX_DESCRIPTORS: u64 = 64;

/// A parsed image.
#[derive(Debug, Default)]
pub struct Image {
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub notes: Vec<String>,
    pub block_size: u64,
    /// Size of the ISO 9660 volume in blocks, from the primary volume descriptor.
    pub volume_blocks: u64,
    pub boot_images: Vec<eltorito::BootImage>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    Primary,
    Joliet,
}

/// The block of the El Torito boot catalog when `src` is an ISO 9660 image with an El Torito
/// boot record volume descriptor; `None` for anything else (not ISO 9660, or not bootable).
/// Reads only the volume descriptors: a cheap check before booting or burning an image.
pub fn el_torito_catalog(src: &dyn ReadAt) -> Result<Option<u32>> {
    for i in 0..MAX_DESCRIPTORS {
        let at = SYSTEM_AREA + i * SECTOR;
        if at + SECTOR > src.size() {
            return Ok(None);
        }
        let mut vd = vec![0u8; SECTOR as usize];
        read_exact_at(src, at, &mut vd)
            .ctx(|| format!("volume descriptor at sector {}", 16 + i))?;
        // Not ISO 9660, or the set's terminator (type 255): no boot record.
        if &vd[1..6] != b"CD001" || vd[0] == 255 {
            return Ok(None);
        }
        if vd[0] == 0 && vd[7..30] == *b"EL TORITO SPECIFICATION" {
            return Ok(Some(crate::le::u32(&vd, 71)));
        }
    }
    Ok(None)
}

/// Parses `src` as an ISO 9660 image.
pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<Image> {
    let mut img = Image {
        block_size: SECTOR,
        ..Image::default()
    };
    let mut sys = vec![0u8; SYSTEM_AREA.min(src.size()) as usize];
    read_exact_at(src, 0, &mut sys).ctx(|| "ISO 9660 system area".into())?;
    system_area(src, &sys, limits, &mut img);

    // Volume descriptors.
    let mut pvd: Option<Vec<u8>> = None;
    let mut joliet: Option<Vec<u8>> = None;
    let mut catalog: Option<u32> = None;
    for i in 0..MAX_DESCRIPTORS {
        let at = SYSTEM_AREA + i * SECTOR;
        let mut vd = vec![0u8; SECTOR as usize];
        read_exact_at(src, at, &mut vd)
            .ctx(|| format!("volume descriptor at sector {}", 16 + i))?;
        if &vd[1..6] != b"CD001" {
            img.notes.push(format!(
                "sector {} has no CD001 identifier; volume descriptor set ends there",
                16 + i
            ));
            break;
        }
        match vd[0] {
            0 => {
                let el_torito = vd[7..30] == *b"EL TORITO SPECIFICATION";
                let name = if el_torito {
                    "El Torito boot record volume descriptor"
                } else {
                    "boot record volume descriptor"
                };
                let mut s = img
                    .layout
                    .structure(name, at, SECTOR)
                    .field("type", 0, 1, Decode::U8, Role::Data)
                    .field("standard identifier", 1, 5, Decode::Ascii, Role::Data)
                    .field("version", 6, 1, Decode::U8, Role::Data)
                    .field("boot system identifier", 7, 32, Decode::Ascii, Role::Name)
                    .field("boot identifier", 39, 32, Decode::Ascii, Role::Name);
                if el_torito {
                    s = s
                        .field("boot catalog block", 71, 4, Decode::U32Le, Role::Pointer)
                        .field("unused", 75, 1973, Decode::Bytes, Role::Padding);
                    catalog = Some(crate::le::u32(&vd, 71));
                } else {
                    s = s.field("boot system use", 71, 1977, Decode::Bytes, Role::Data);
                }
            }
            1 => {
                vd_layout(&mut img.layout, at, "primary volume descriptor", false);
                pvd.get_or_insert(vd);
            }
            2 => {
                let esc = &vd[88..120];
                let is_joliet = esc
                    .windows(3)
                    .any(|w| w == b"%/@" || w == b"%/C" || w == b"%/E");
                let name = if is_joliet {
                    "Joliet supplementary volume descriptor"
                } else {
                    "supplementary volume descriptor"
                };
                vd_layout(&mut img.layout, at, name, is_joliet);
                if is_joliet {
                    joliet.get_or_insert(vd);
                }
            }
            255 => {
                img.layout
                    .structure("volume descriptor set terminator", at, SECTOR)
                    .field("type", 0, 1, Decode::U8, Role::Data)
                    .field("standard identifier", 1, 5, Decode::Ascii, Role::Data)
                    .field("version", 6, 1, Decode::U8, Role::Data)
                    .field("reserved", 7, 2041, Decode::Bytes, Role::Padding);
                break;
            }
            t => {
                img.layout
                    .structure(format!("volume descriptor of type {t}"), at, SECTOR)
                    .field("type", 0, 1, Decode::U8, Role::Data)
                    .field("standard identifier", 1, 5, Decode::Ascii, Role::Data)
                    .field("data", 6, 2042, Decode::Bytes, Role::Data);
            }
        }
    }
    let pvd = pvd.ok_or_else(|| Error::corrupt("ISO 9660: no primary volume descriptor"))?;
    let bs = u64::from(crate::le::u16(&pvd, 128));
    if !(512..=SECTOR).contains(&bs) || !bs.is_power_of_two() {
        return Err(Error::corrupt(format!(
            "ISO 9660 primary volume descriptor: logical block size {bs} is not supported"
        )));
    }
    img.block_size = bs;
    img.volume_blocks = u64::from(crate::le::u32(&pvd, 80));

    let mut walker = Walker {
        src,
        limits,
        bs,
        visited: HashSet::new(),
        meta_bytes: 0,
        skip: 0,
        ce_blocks: HashSet::new(),
    };
    walker.path_tables(&pvd, "", &mut img);
    walker.walk(&pvd[156..190], Tree::Primary, &mut img);
    if let Some(j) = &joliet {
        walker.visited.clear();
        walker.path_tables(j, "Joliet ", &mut img);
        walker.walk(&j[156..190], Tree::Joliet, &mut img);
    }
    let mut ce: Vec<u64> = walker.ce_blocks.iter().copied().collect();
    ce.sort_unstable();
    for b in ce {
        let at = b * bs;
        img.layout.fill_gaps(
            at..(at + bs).min(src.size()),
            "unused bytes of a Rock Ridge continuation block",
            Role::Padding,
        );
    }
    if let Some(lba) = catalog {
        eltorito::catalog(src, lba, &sys, &mut img);
    }
    appended_partitions(src, &sys, limits, &mut img);
    trailing_areas(src, &mut img);
    Ok(img)
}

fn system_area(src: &dyn ReadAt, sys: &[u8], limits: &Limits, img: &mut Image) {
    let Some(mbr) = Mbr::parse(sys) else { return };
    mbr.layout(&mut img.layout, 0);
    let mut hfs: Vec<(u64, u64)> = Vec::new();
    for p in crate::apm::parse(src, &mut img.layout) {
        if p.kind == "Apple_HFS" {
            hfs.push((p.start, p.len));
        }
    }
    match Gpt::read(src, 1, limits) {
        Ok(Some(gpt)) => {
            gpt.layout(&mut img.layout, "primary");
            for p in gpt
                .partitions
                .iter()
                .filter(|p| p.type_guid == crate::hfsplus::GPT_TYPE)
            {
                let s = p.first_lba.saturating_mul(512);
                hfs.push((
                    s,
                    p.last_lba
                        .saturating_add(1)
                        .saturating_mul(512)
                        .saturating_sub(s),
                ));
            }
            match Gpt::read(src, gpt.alternate_lba, limits) {
                Ok(Some(backup)) if backup.header_lba != 1 => {
                    backup.layout(&mut img.layout, "backup")
                }
                Ok(_) => img.notes.push(format!(
                    "GPT backup header not found at LBA {}",
                    gpt.alternate_lba
                )),
                Err(e) => img.notes.push(e.message),
            }
        }
        Ok(None) => {}
        Err(e) => img.notes.push(e.message),
    }
    img.layout.fill_gaps(
        0..SYSTEM_AREA.min(src.size()),
        "system area bytes not used by MBR, GPT or APM",
        Role::Padding,
    );
    hfs.sort_unstable();
    hfs.dedup_by_key(|h| h.0);
    for (start, len) in hfs {
        if crate::hfsplus::detect(src, start) {
            match crate::hfsplus::layout(src, start, len, limits) {
                Ok((l, notes)) => {
                    img.layout.structures.extend(l.structures);
                    img.notes.extend(notes);
                }
                Err(e) => img.notes.push(e.message),
            }
        }
    }
}

/// Partitions that lie after the ISO 9660 volume (xorriso `-append_partition`) become
/// pseudo-members so that their content is compared.
fn appended_partitions(src: &dyn ReadAt, sys: &[u8], limits: &Limits, img: &mut Image) {
    let vol_end = img.volume_blocks.saturating_mul(img.block_size);
    let mut ranges: Vec<(String, u64, u64)> = Vec::new();
    if let Ok(Some(gpt)) = Gpt::read(src, 1, limits) {
        for p in &gpt.partitions {
            let s = p.first_lba.saturating_mul(512);
            let e = p.last_lba.saturating_add(1).saturating_mul(512);
            ranges.push((
                format!("[appended partition {} ({})]", p.index, p.name),
                s,
                e,
            ));
        }
    } else if let Some(mbr) = Mbr::parse(sys) {
        for (i, p) in mbr.partitions.iter().enumerate() {
            if p.kind != 0 && p.kind != 0xee {
                let s = u64::from(p.first_lba) * 512;
                ranges.push((
                    format!("[appended partition {}]", i + 1),
                    s,
                    s + u64::from(p.sectors) * 512,
                ));
            }
        }
    }
    let starts: HashSet<u64> = img
        .entries
        .iter()
        .filter_map(|e| match &e.content {
            Content::Extents(x) => x.first().map(|r| r.start),
            _ => None,
        })
        .collect();
    for (name, s, e) in ranges {
        let e = e.min(src.size());
        if s < vol_end || e <= s || starts.contains(&s) {
            continue;
        }
        let member = img.entries.len() as u32;
        img.layout
            .content(format!("content of /{name}"), s, e - s, Some(member));
        img.entries.push(Entry {
            path: format!("/{name}"),
            kind: EntryKind::File,
            size: e - s,
            meta: Vec::new(),
            content: Content::Extents(crate::extent(s..e)),
        });
    }
}

/// Names the padding xorriso writes after the last file (`-padding`, 300 KiB by default) and
/// whatever follows the volume.
fn trailing_areas(src: &dyn ReadAt, img: &mut Image) {
    let vol_end = img
        .volume_blocks
        .saturating_mul(img.block_size)
        .min(src.size());
    let used_end = img
        .layout
        .structures
        .iter()
        .filter(|s| s.end() <= vol_end && s.start < vol_end.saturating_sub(64 << 10))
        .map(Structure::end)
        .max()
        .unwrap_or(0);
    let used_end = used_end.div_ceil(img.block_size) * img.block_size;
    if used_end < vol_end {
        img.layout.region(
            "padding at the end of the ISO 9660 volume",
            used_end,
            vol_end - used_end,
            Role::Padding,
        );
    }
    if src.size() > vol_end {
        img.layout.region(
            "data after the ISO 9660 volume",
            vol_end,
            src.size() - vol_end,
            Role::Data,
        );
    }
}

fn vd_layout(l: &mut Layout, at: u64, name: &str, joliet: bool) {
    let text = if joliet {
        Decode::Ucs2Be
    } else {
        Decode::Ascii
    };
    let mut s = l
        .structure(name, at, SECTOR)
        .field("type", 0, 1, Decode::U8, Role::Data)
        .field("standard identifier", 1, 5, Decode::Ascii, Role::Data)
        .field("version", 6, 1, Decode::U8, Role::Data)
        .field(
            if joliet { "volume flags" } else { "unused" },
            7,
            1,
            Decode::U8,
            Role::Flags,
        )
        .field("system identifier", 8, 32, text, Role::Name)
        .field("volume identifier", 40, 32, text, Role::Name)
        .field("unused", 72, 8, Decode::Bytes, Role::Padding)
        .field("volume space size", 80, 8, Decode::U32Both, Role::Size)
        .field(
            if joliet { "escape sequences" } else { "unused" },
            88,
            32,
            Decode::Bytes,
            Role::Data,
        )
        .field("volume set size", 120, 4, Decode::U16Both, Role::Count)
        .field(
            "volume sequence number",
            124,
            4,
            Decode::U16Both,
            Role::Count,
        )
        .field("logical block size", 128, 4, Decode::U16Both, Role::Size)
        .field("path table size", 132, 8, Decode::U32Both, Role::Size)
        .field("L path table block", 140, 4, Decode::U32Le, Role::Pointer)
        .field(
            "optional L path table block",
            144,
            4,
            Decode::U32Le,
            Role::Pointer,
        )
        .field("M path table block", 148, 4, Decode::U32Be, Role::Pointer)
        .field(
            "optional M path table block",
            152,
            4,
            Decode::U32Be,
            Role::Pointer,
        );
    for f in record_fields(34, 1, joliet) {
        s = s.field(
            format!("root directory record {}", f.name),
            156 + f.offset,
            f.len,
            f.decode,
            f.role,
        );
    }
    s.field("volume set identifier", 190, 128, text, Role::Name)
        .field("publisher identifier", 318, 128, text, Role::Name)
        .field("data preparer identifier", 446, 128, text, Role::Name)
        .field("application identifier", 574, 128, text, Role::Name)
        .field("copyright file identifier", 702, 37, text, Role::Name)
        .field("abstract file identifier", 739, 37, text, Role::Name)
        .field("bibliographic file identifier", 776, 37, text, Role::Name)
        .field(
            "volume creation date",
            813,
            17,
            Decode::IsoDate17,
            Role::Time,
        )
        .field(
            "volume modification date",
            830,
            17,
            Decode::IsoDate17,
            Role::Time,
        )
        .field(
            "volume expiration date",
            847,
            17,
            Decode::IsoDate17,
            Role::Time,
        )
        .field(
            "volume effective date",
            864,
            17,
            Decode::IsoDate17,
            Role::Time,
        )
        .field("file structure version", 881, 1, Decode::U8, Role::Data)
        .field("reserved", 882, 1, Decode::U8, Role::Padding)
        .field("application use", 883, 512, Decode::Bytes, Role::Data)
        .field("reserved", 1395, 653, Decode::Bytes, Role::Padding);
}

/// The fixed fields of a directory record of `len` bytes with a `name_len`-byte identifier.
fn record_fields(len: u32, name_len: u32, joliet: bool) -> Vec<Field> {
    let f = |name: &'static str, offset, len, decode, role| Field {
        name: name.into(),
        offset,
        len,
        decode,
        role,
    };
    let mut v = vec![
        f("length", 0, 1, Decode::U8, Role::Size),
        f("extended attribute length", 1, 1, Decode::U8, Role::Size),
        f("extent location", 2, 8, Decode::U32Both, Role::Pointer),
        f("data length", 10, 8, Decode::U32Both, Role::Size),
        f("recording date", 18, 7, Decode::IsoDate7, Role::Time),
        f("file flags", 25, 1, Decode::U8, Role::Flags),
        f("file unit size", 26, 1, Decode::U8, Role::Data),
        f("interleave gap size", 27, 1, Decode::U8, Role::Data),
        f(
            "volume sequence number",
            28,
            4,
            Decode::U16Both,
            Role::Count,
        ),
        f("file identifier length", 32, 1, Decode::U8, Role::Size),
    ];
    let name_dec = if joliet && name_len > 1 {
        Decode::Ucs2Be
    } else {
        Decode::Ascii
    };
    v.push(f("file identifier", 33, name_len, name_dec, Role::Name));
    if name_len % 2 == 0 && 33 + name_len < len {
        v.push(f("padding", 33 + name_len, 1, Decode::Bytes, Role::Padding));
    }
    v
}

struct Walker<'a> {
    src: &'a dyn ReadAt,
    limits: &'a Limits,
    bs: u64,
    visited: HashSet<u32>,
    meta_bytes: u64,
    /// SUSP bytes to skip at the start of each system use area (from the root's SP entry).
    skip: u8,
    /// Blocks holding Rock Ridge continuation areas.
    ce_blocks: HashSet<u64>,
}

struct Dir {
    path: String,
    extent: u32,
    /// 0 when unknown (a Rock Ridge CL target): taken from its `.` record.
    size: u32,
    depth: usize,
}

impl Walker<'_> {
    fn budget(&mut self, n: u64, what: &str) -> Result<()> {
        self.meta_bytes += n;
        if self.meta_bytes > self.limits.max_metadata {
            return Err(Error::limit(format!(
                "ISO 9660: more than {} bytes of directories and path tables (at {what})",
                self.limits.max_metadata
            )));
        }
        Ok(())
    }

    fn path_tables(&mut self, vd: &[u8], prefix: &str, img: &mut Image) {
        let size = crate::le::u32(vd, 132);
        let tables = [
            (crate::le::u32(vd, 140), false, "L"),
            (crate::le::u32(vd, 144), false, "optional L"),
            (
                u32::from_be_bytes([vd[148], vd[149], vd[150], vd[151]]),
                true,
                "M",
            ),
            (
                u32::from_be_bytes([vd[152], vd[153], vd[154], vd[155]]),
                true,
                "optional M",
            ),
        ];
        let joliet = !prefix.is_empty();
        for (loc, be, which) in tables {
            if loc == 0 {
                continue;
            }
            let which = format!("{prefix}{which} path table");
            if let Err(e) = self.path_table(loc, size, be, &which, joliet, img) {
                img.notes.push(e.message);
            }
        }
    }

    fn path_table(
        &mut self,
        loc: u32,
        size: u32,
        be: bool,
        which: &str,
        joliet: bool,
        img: &mut Image,
    ) -> Result<()> {
        self.budget(u64::from(size), which)?;
        let at = u64::from(loc) * self.bs;
        let buf = read_vec_at(self.src, at, u64::from(size), self.limits.max_metadata)
            .ctx(|| which.to_string())?;
        let mut paths: Vec<String> = Vec::new();
        let mut pos = 0usize;
        let (ext_dec, par_dec) = if be {
            (Decode::U32Be, Decode::U16Be)
        } else {
            (Decode::U32Le, Decode::U16Le)
        };
        while pos + 8 <= buf.len() {
            let len_di = buf[pos] as usize;
            if len_di == 0 || pos + 8 + len_di > buf.len() {
                break;
            }
            let parent = if be {
                u16::from_be_bytes([buf[pos + 6], buf[pos + 7]])
            } else {
                crate::le::u16(&buf, pos + 6)
            };
            let id = &buf[pos + 8..pos + 8 + len_di];
            let path = if paths.is_empty() {
                "/".to_string()
            } else {
                let base = paths
                    .get(usize::from(parent).wrapping_sub(1))
                    .map_or("?", |s| s.as_str());
                let name = if joliet { ucs2_name(id) } else { iso_name(id) };
                format!("{}/{}", base.trim_end_matches('/'), name)
            };
            let rec_len = 8 + len_di + (len_di & 1);
            let mut s = img
                .layout
                .structure(
                    format!("{which} record #{} ({path})", paths.len() + 1),
                    at + pos as u64,
                    rec_len as u64,
                )
                .field("directory identifier length", 0, 1, Decode::U8, Role::Size)
                .field("extended attribute length", 1, 1, Decode::U8, Role::Size)
                .field("extent location", 2, 4, ext_dec, Role::Pointer)
                .field("parent directory number", 6, 2, par_dec, Role::Pointer)
                .field(
                    "directory identifier",
                    8,
                    len_di as u32,
                    if joliet && len_di > 1 {
                        Decode::Ucs2Be
                    } else {
                        Decode::Ascii
                    },
                    Role::Name,
                );
            if len_di & 1 == 1 {
                s = s.field(
                    "padding",
                    8 + len_di as u32,
                    1,
                    Decode::Bytes,
                    Role::Padding,
                );
            }
            paths.push(path);
            if paths.len() > self.limits.max_entries {
                return Err(Error::limit(format!(
                    "{which}: more than {} records",
                    self.limits.max_entries
                )));
            }
            pos += rec_len;
        }
        let end = at + u64::from(size);
        let sector_end = end.div_ceil(self.bs) * self.bs;
        img.layout.region(
            format!("padding after {which}"),
            end,
            sector_end - end,
            Role::Padding,
        );
        Ok(())
    }

    fn walk(&mut self, root: &[u8], tree: Tree, img: &mut Image) {
        let mut stack = vec![Dir {
            path: "/".into(),
            extent: crate::le::u32(root, 2),
            size: crate::le::u32(root, 10),
            depth: 0,
        }];
        let mut multi: HashMap<String, Vec<std::ops::Range<u64>>> = HashMap::new();
        while let Some(dir) = stack.pop() {
            if let Err(e) = self.directory(dir, tree, img, &mut stack, &mut multi) {
                img.notes.push(e.message);
                if e.kind == crate::ErrorKind::Limit {
                    return;
                }
            }
        }
    }

    fn directory(
        &mut self,
        mut dir: Dir,
        tree: Tree,
        img: &mut Image,
        stack: &mut Vec<Dir>,
        multi: &mut HashMap<String, Vec<std::ops::Range<u64>>>,
    ) -> Result<()> {
        let joliet = tree == Tree::Joliet;
        if !self.visited.insert(dir.extent) {
            return Err(Error::corrupt(format!(
                "ISO 9660: directory {} points at block {} which was already read (directory loop); skipped",
                dir.path, dir.extent
            )));
        }
        if dir.depth > self.limits.max_depth {
            return Err(Error::limit(format!(
                "ISO 9660: directory {} is nested deeper than {}",
                dir.path, self.limits.max_depth
            )));
        }
        let at = u64::from(dir.extent) * self.bs;
        if dir.size == 0 {
            // Size unknown (CL target): the `.` record knows it.
            let mut head = [0u8; 34];
            read_exact_at(self.src, at, &mut head).ctx(|| format!("directory {}", dir.path))?;
            dir.size = crate::le::u32(&head, 10);
        }
        self.budget(u64::from(dir.size), &dir.path)?;
        let buf =
            read_vec_at(self.src, at, u64::from(dir.size), self.limits.max_metadata).ctx(|| {
                format!(
                    "directory {} (block {}, {} bytes)",
                    dir.path, dir.extent, dir.size
                )
            })?;
        let label_prefix = if joliet {
            "Joliet directory record"
        } else {
            "directory record"
        };
        let mut pos = 0usize;
        while pos < buf.len() {
            if buf[pos] == 0 {
                // Records never cross a sector: the rest of this sector is unused.
                let next = ((pos as u64 / self.bs + 1) * self.bs) as usize;
                let next = next.min(buf.len());
                img.layout.region(
                    format!(
                        "unused bytes at end of {} sector of {}",
                        if joliet {
                            "Joliet directory"
                        } else {
                            "directory"
                        },
                        dir.path
                    ),
                    at + pos as u64,
                    (next - pos) as u64,
                    Role::Padding,
                );
                pos = next;
                continue;
            }
            let len = buf[pos] as usize;
            if len < 34 || pos + len > buf.len() {
                return Err(Error::corrupt(format!(
                    "ISO 9660: directory {} has a bad record length {len} at byte {pos}; rest of the directory skipped",
                    dir.path
                )));
            }
            if img.entries.len() >= self.limits.max_entries
                || img.layout.len() >= self.limits.max_structures
            {
                return Err(Error::limit(format!(
                    "ISO 9660: more than {} entries",
                    self.limits.max_entries
                )));
            }
            let rec = &buf[pos..pos + len];
            let name_len = rec[32] as usize;
            if 33 + name_len > len {
                return Err(Error::corrupt(format!(
                    "ISO 9660: record at byte {pos} of {} has a name longer than the record",
                    dir.path
                )));
            }
            let ident = &rec[33..33 + name_len];
            let is_dot = name_len == 1 && ident[0] == 0;
            let is_dotdot = name_len == 1 && ident[0] == 1;
            let mut fields = record_fields(len as u32, name_len as u32, joliet);
            let su_start = 33 + name_len + usize::from(name_len % 2 == 0);
            let mut rr = susp::RockRidge::default();
            if !joliet && su_start < len {
                let skip = if is_dot && dir.depth == 0 {
                    0
                } else {
                    usize::from(self.skip)
                };
                let s0 = (su_start + skip).min(len);
                susp::parse(&rec[s0..], s0 as u32, &mut rr, &mut fields);
                if is_dot && dir.depth == 0 {
                    if let Some(k) = rr.skip {
                        self.skip = k;
                    }
                }
            } else if su_start < len {
                fields.push(Field {
                    name: "system use area".into(),
                    offset: su_start as u32,
                    len: (len - su_start) as u32,
                    decode: Decode::Bytes,
                    role: Role::Data,
                });
            }
            let name = if joliet {
                ucs2_name(ident)
            } else if let Some(n) = &rr.name {
                component(n)
            } else {
                iso_name(ident)
            };
            let path = if dir.path == "/" {
                format!("/{name}")
            } else {
                format!("{}/{name}", dir.path)
            };
            let label = if is_dot {
                format!("{label_prefix} '.' of {}", dir.path)
            } else if is_dotdot {
                format!("{label_prefix} '..' of {}", dir.path)
            } else {
                format!("{label_prefix} of {path}")
            };
            // Continuation areas hold more SUSP entries elsewhere.
            let mut hops = 0;
            while let Some((blk, off, clen)) = rr.continuation.take() {
                hops += 1;
                if hops > 16 || u64::from(clen) > self.bs || u64::from(off) >= self.bs {
                    img.notes.push(format!(
                        "Rock Ridge continuation of {label} is implausible; ignored"
                    ));
                    break;
                }
                let cat = u64::from(blk) * self.bs + u64::from(off);
                self.ce_blocks.insert(u64::from(blk));
                let Ok(cbuf) = read_vec_at(self.src, cat, u64::from(clen), self.bs) else {
                    img.notes.push(format!(
                        "Rock Ridge continuation area of {label} is outside the image"
                    ));
                    break;
                };
                let mut cfields = Vec::new();
                susp::parse(&cbuf, 0, &mut rr, &mut cfields);
                img.layout.push(Structure::with_fields(
                    format!("Rock Ridge continuation area of {label}"),
                    cat,
                    u64::from(clen),
                    cfields,
                ));
            }
            img.layout.push(Structure::with_fields(
                label,
                at + pos as u64,
                len as u64,
                fields,
            ));
            let flags = rec[25];
            let extent = crate::le::u32(rec, 2);
            let data_len = crate::le::u32(rec, 10);
            let is_root_dot = is_dot && dir.depth == 0;
            if is_root_dot && tree == Tree::Primary {
                let mut meta = base_meta(rec, &rr);
                meta.retain(|m| m.name != "size");
                img.entries.push(Entry {
                    path: "/".into(),
                    kind: EntryKind::Dir,
                    size: 0,
                    meta,
                    content: Content::None,
                });
            }
            pos += len;
            if is_dot || is_dotdot || rr.relocated {
                continue;
            }
            let is_dir = flags & 2 != 0 || rr.child_link.is_some();
            if is_dir {
                stack.push(Dir {
                    path: path.clone(),
                    extent: rr.child_link.unwrap_or(extent),
                    size: if rr.child_link.is_some() { 0 } else { data_len },
                    depth: dir.depth + 1,
                });
            }
            if tree == Tree::Joliet {
                continue;
            }
            let start = u64::from(extent) * self.bs;
            let range = start..start + u64::from(data_len);
            if flags & 0x80 != 0 {
                // Multi-extent file: more records with the same name follow.
                multi.entry(path).or_default().push(range);
                continue;
            }
            let mut extents = multi.remove(&path).unwrap_or_default();
            extents.push(range);
            let kind = match rr.mode {
                Some(m) => EntryKind::from_mode(m),
                None if is_dir => EntryKind::Dir,
                None => EntryKind::File,
            };
            let member = img.entries.len() as u32;
            let mut meta = base_meta(rec, &rr);
            let total: u64 = extents.iter().map(|r| r.end - r.start).sum();
            let content = if kind == EntryKind::File && total > 0 {
                for r in &extents {
                    img.layout.content(
                        format!("content of {path}"),
                        r.start,
                        r.end - r.start,
                        Some(member),
                    );
                    let pad_end = r.end.div_ceil(self.bs) * self.bs;
                    img.layout.region(
                        format!("sector padding after content of {path}"),
                        r.end,
                        pad_end - r.end,
                        Role::Padding,
                    );
                }
                Content::Extents(extents)
            } else {
                Content::None
            };
            if kind != EntryKind::File {
                meta.retain(|m| m.name != "size");
            }
            img.entries.push(Entry {
                path,
                kind,
                size: total,
                meta,
                content,
            });
        }
        Ok(())
    }
}

fn base_meta(rec: &[u8], rr: &susp::RockRidge) -> Vec<Meta> {
    let mut meta = vec![
        Meta::new(
            "size",
            Value::Int(u64::from(crate::le::u32(rec, 10))),
            Role::Size,
        ),
        Meta::new(
            "recording date",
            Decode::IsoDate7.decode(&rec[18..25]),
            Role::Time,
        ),
        Meta::new("file flags", Value::Int(u64::from(rec[25])), Role::Flags),
    ];
    if let Some(m) = rr.mode {
        meta.push(Meta::new("mode", Value::Mode(m), Role::Mode));
    }
    if let Some(v) = rr.uid {
        meta.push(Meta::new("uid", Value::Int(u64::from(v)), Role::Owner));
    }
    if let Some(v) = rr.gid {
        meta.push(Meta::new("gid", Value::Int(u64::from(v)), Role::Owner));
    }
    if let Some(v) = rr.nlink {
        meta.push(Meta::new(
            "link count",
            Value::Int(u64::from(v)),
            Role::Count,
        ));
    }
    if let Some(t) = &rr.symlink {
        meta.push(Meta::new(
            "symlink target",
            Value::Text(crate::layout::printable(t)),
            Role::Name,
        ));
    }
    if let Some((h, l)) = rr.device {
        meta.push(Meta::new(
            "device",
            Value::Text(format!("{h}:{l}")),
            Role::Data,
        ));
    }
    meta.extend(susp::times_meta(rr));
    meta
}

/// An ISO 9660 file identifier without its `;1` version and trailing dot.
fn iso_name(id: &[u8]) -> String {
    let id = match id.iter().rposition(|&c| c == b';') {
        Some(p) => &id[..p],
        None => id,
    };
    let id = id.strip_suffix(b".").unwrap_or(id);
    component(id)
}

fn ucs2_name(id: &[u8]) -> String {
    let units: Vec<u16> = id
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16_lossy(&units);
    let s = match s.rfind(';') {
        Some(p) => &s[..p],
        None => &s,
    };
    component(s.as_bytes())
}
