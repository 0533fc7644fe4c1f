//! HFS+ as written by xorriso into hybrid ISOs (grub-mkrescue adds one for Macs): the volume
//! headers and the catalog B-tree (file and folder records with their five dates, thread
//! records, index records, free space). Only the layout is produced: the files are the same
//! as the ISO 9660 tree's, so the ISO parser provides the members.

use std::collections::HashMap;

use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{Decode, Field, Layout, Role, Structure};
use crate::{Error, Limits, Result};

/// The GPT partition type of HFS+ (48465300-0000-11AA-AA11-00306543ECAC), as stored.
pub const GPT_TYPE: [u8; 16] = [
    0x00, 0x53, 0x46, 0x48, 0x00, 0x00, 0xaa, 0x11, 0xaa, 0x11, 0x00, 0x30, 0x65, 0x43, 0xec, 0xac,
];

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn f(name: &'static str, offset: u32, len: u32, decode: Decode, role: Role) -> Field {
    Field {
        name: name.into(),
        offset,
        len,
        decode,
        role,
    }
}

/// Whether an HFS+ volume header is at `base + 1024`.
pub fn detect(src: &dyn ReadAt, base: u64) -> bool {
    let mut sig = [0u8; 2];
    read_exact_at(src, base + 1024, &mut sig).is_ok() && (&sig == b"H+" || &sig == b"HX")
}

/// The layout of the HFS+ volume starting at `base` (partition start), `len` bytes long.
pub fn layout(
    src: &dyn ReadAt,
    base: u64,
    len: u64,
    limits: &Limits,
) -> Result<(Layout, Vec<String>)> {
    let mut l = Layout::new();
    let mut notes = Vec::new();
    let mut vh = [0u8; 512];
    read_exact_at(src, base + 1024, &mut vh)
        .map_err(|e| Error::corrupt(format!("HFS+ volume header: {e}")))?;
    volume_header(&mut l, base + 1024, "HFS+ volume header");
    if len >= 2048 {
        let alt = base + len - 1024;
        let mut sig = [0u8; 2];
        if read_exact_at(src, alt, &mut sig).is_ok() && &sig == b"H+" {
            volume_header(&mut l, alt, "HFS+ alternate volume header");
        }
    }
    let bs = u64::from(be32(&vh, 40));
    if !(512..=65536).contains(&bs) || !bs.is_power_of_two() {
        return Err(Error::corrupt(format!(
            "HFS+ volume header: block size {bs} is not valid"
        )));
    }
    let extents = |fork: usize| -> Vec<(u64, u64)> {
        (0..8)
            .map(|i| {
                (
                    u64::from(be32(&vh, fork + 16 + i * 8)),
                    u64::from(be32(&vh, fork + 20 + i * 8)),
                )
            })
            .filter(|&(_, n)| n > 0)
            .map(|(s, n)| (base + s * bs, n * bs))
            .collect()
    };
    for (fork, name) in [
        (112usize, "HFS+ allocation file (block bitmap)"),
        (192, "HFS+ extents overflow file"),
        (352, "HFS+ attributes file"),
        (432, "HFS+ startup file"),
    ] {
        for (s, n) in extents(fork) {
            l.region(name, s, n, Role::Data);
        }
    }
    let cat = extents(272);
    if let Err(e) = catalog(src, &cat, limits, &mut l) {
        notes.push(e.message);
    }
    // Boot blocks before the volume header and the rest of the first and last blocks.
    l.fill_gaps(
        base..base + bs.max(2048).min(len),
        "HFS+ reserved bytes around the volume header",
        Role::Padding,
    );
    if len >= bs.max(2048) {
        let last = base + len - bs.max(2048);
        l.fill_gaps(
            last..base + len,
            "HFS+ reserved bytes around the alternate volume header",
            Role::Padding,
        );
    }
    Ok((l, notes))
}

fn volume_header(l: &mut Layout, at: u64, name: &str) {
    let mut fields = vec![
        f("signature", 0, 2, Decode::Ascii, Role::Data),
        f("version", 2, 2, Decode::U16Be, Role::Data),
        f("attributes", 4, 4, Decode::U32Be, Role::Flags),
        f("last mounted version", 8, 4, Decode::Ascii, Role::Name),
        f("journal info block", 12, 4, Decode::U32Be, Role::Pointer),
        f("creation date", 16, 4, Decode::HfsDate, Role::Time),
        f("modification date", 20, 4, Decode::HfsDate, Role::Time),
        f("backup date", 24, 4, Decode::HfsDate, Role::Time),
        f("checked date", 28, 4, Decode::HfsDate, Role::Time),
        f("file count", 32, 4, Decode::U32Be, Role::Count),
        f("folder count", 36, 4, Decode::U32Be, Role::Count),
        f("block size", 40, 4, Decode::U32Be, Role::Size),
        f("total blocks", 44, 4, Decode::U32Be, Role::Size),
        f("free blocks", 48, 4, Decode::U32Be, Role::Size),
        f("next allocation", 52, 4, Decode::U32Be, Role::Pointer),
        f("resource clump size", 56, 4, Decode::U32Be, Role::Size),
        f("data clump size", 60, 4, Decode::U32Be, Role::Size),
        f("next catalog id", 64, 4, Decode::U32Be, Role::Count),
        f("write count", 68, 4, Decode::U32Be, Role::Count),
        f("encodings bitmap", 72, 8, Decode::Bytes, Role::Flags),
        f(
            "Finder info (boot blessing, volume id)",
            80,
            32,
            Decode::Bytes,
            Role::Identifier,
        ),
    ];
    for (i, fork) in [
        "allocation file",
        "extents file",
        "catalog file",
        "attributes file",
        "startup file",
    ]
    .iter()
    .enumerate()
    {
        let o = 112 + 80 * i as u32;
        let _ = fork;
        let names: [&'static str; 4] = match i {
            0 => [
                "allocation file size",
                "allocation file clump size",
                "allocation file blocks",
                "allocation file extents",
            ],
            1 => [
                "extents file size",
                "extents file clump size",
                "extents file blocks",
                "extents file extents",
            ],
            2 => [
                "catalog file size",
                "catalog file clump size",
                "catalog file blocks",
                "catalog file extents",
            ],
            3 => [
                "attributes file size",
                "attributes file clump size",
                "attributes file blocks",
                "attributes file extents",
            ],
            _ => [
                "startup file size",
                "startup file clump size",
                "startup file blocks",
                "startup file extents",
            ],
        };
        fields.push(f(names[0], o, 8, Decode::Bytes, Role::Size));
        fields.push(f(names[1], o + 8, 4, Decode::U32Be, Role::Size));
        fields.push(f(names[2], o + 12, 4, Decode::U32Be, Role::Size));
        fields.push(f(names[3], o + 16, 64, Decode::Bytes, Role::Pointer));
    }
    l.push(Structure::with_fields(name, at, 512, fields));
}

/// Node index -> image offset through the catalog file's extents.
fn node_offset(cat: &[(u64, u64)], node: u64, size: u64) -> Option<u64> {
    let mut pos = node.checked_mul(size)?;
    for &(s, n) in cat {
        if pos + size <= n {
            return Some(s + pos);
        }
        pos = pos.checked_sub(n)?;
    }
    None
}

struct Record {
    at: u64,
    len: u64,
    kind: i16,
    parent: u32,
    name: String,
    /// For file and folder records: their catalog node id.
    cnid: u32,
}

fn catalog(src: &dyn ReadAt, cat: &[(u64, u64)], limits: &Limits, l: &mut Layout) -> Result<()> {
    let Some(&(first, _)) = cat.first() else {
        return Ok(());
    };
    let total: u64 = cat.iter().map(|c| c.1).sum();
    let mut head = [0u8; 106];
    read_exact_at(src, first, &mut head)
        .map_err(|e| Error::corrupt(format!("HFS+ catalog header node: {e}")))?;
    let node_size = u64::from(be16(&head, 32));
    if !(512..=32768).contains(&node_size) || !node_size.is_power_of_two() {
        return Err(Error::corrupt(format!(
            "HFS+ catalog: node size {node_size} is not valid"
        )));
    }
    let nodes = (total / node_size).min(u64::from(be32(&head, 36)).max(1));
    if nodes.saturating_mul(node_size) > limits.max_metadata {
        return Err(Error::limit(
            "HFS+ catalog is larger than the metadata limit",
        ));
    }
    l.push(Structure::with_fields(
        "HFS+ catalog header node",
        first,
        106,
        vec![
            f("node descriptor", 0, 14, Decode::Bytes, Role::Pointer),
            f("tree depth", 14, 2, Decode::U16Be, Role::Count),
            f("root node", 16, 4, Decode::U32Be, Role::Pointer),
            f("leaf records", 20, 4, Decode::U32Be, Role::Count),
            f("first leaf node", 24, 4, Decode::U32Be, Role::Pointer),
            f("last leaf node", 28, 4, Decode::U32Be, Role::Pointer),
            f("node size", 32, 2, Decode::U16Be, Role::Size),
            f("max key length", 34, 2, Decode::U16Be, Role::Size),
            f("total nodes", 36, 4, Decode::U32Be, Role::Count),
            f("free nodes", 40, 4, Decode::U32Be, Role::Count),
            f("reserved", 44, 2, Decode::Bytes, Role::Padding),
            f("clump size", 46, 4, Decode::U32Be, Role::Size),
            f("B-tree type", 50, 1, Decode::U8, Role::Data),
            f("key compare type", 51, 1, Decode::U8, Role::Data),
            f("attributes", 52, 4, Decode::U32Be, Role::Flags),
            f("reserved", 56, 64 - 14, Decode::Bytes, Role::Padding),
        ],
    ));
    l.region(
        "HFS+ catalog header node (user data and map records)",
        first + 106,
        node_size - 106,
        Role::Data,
    );
    let mut records: Vec<Record> = Vec::new();
    for n in 1..nodes {
        let Some(at) = node_offset(cat, n, node_size) else {
            break;
        };
        let node = read_vec_at(src, at, node_size, node_size)
            .map_err(|e| Error::corrupt(format!("HFS+ catalog node {n}: {e}")))?;
        let kind = node[8] as i8;
        let count = usize::from(be16(&node, 10));
        if count == 0 || count * 2 + 14 > node.len() || !(kind == -1 || kind == 0) {
            l.region(
                format!("HFS+ catalog node {n} (free)"),
                at,
                node_size,
                Role::Padding,
            );
            continue;
        }
        l.structure(format!("HFS+ catalog node {n} descriptor"), at, 14)
            .field("forward link", 0, 4, Decode::U32Be, Role::Pointer)
            .field("backward link", 4, 4, Decode::U32Be, Role::Pointer)
            .field("kind", 8, 1, Decode::U8, Role::Data)
            .field("height", 9, 1, Decode::U8, Role::Count)
            .field("number of records", 10, 2, Decode::U16Be, Role::Count)
            .field("reserved", 12, 2, Decode::Bytes, Role::Padding);
        let offs: Vec<usize> = (0..=count)
            .map(|i| usize::from(be16(&node, node.len() - 2 * (i + 1))))
            .collect();
        let table = node.len() - 2 * (count + 1);
        l.region(
            format!("HFS+ catalog node {n} record offsets"),
            at + table as u64,
            2 * (count as u64 + 1),
            Role::Pointer,
        );
        let free = offs[count];
        if free < table {
            l.region(
                format!("HFS+ catalog node {n} free space"),
                at + free as u64,
                (table - free) as u64,
                Role::Padding,
            );
        }
        for i in 0..count {
            let (s, e) = (offs[i], offs[i + 1]);
            if s < 14 || e > table || s + 8 > e {
                return Err(Error::corrupt(format!(
                    "HFS+ catalog node {n}: record {i} has bad bounds {s}..{e}"
                )));
            }
            let r = &node[s..e];
            let klen = usize::from(be16(r, 0));
            let nlen = usize::from(be16(r, 6)).min((klen.saturating_sub(6)) / 2);
            let units: Vec<u16> = (0..nlen)
                .filter_map(|k| r.get(8 + 2 * k..10 + 2 * k))
                .map(|c| be16(c, 0))
                .collect();
            let name = crate::layout::component(String::from_utf16_lossy(&units).as_bytes());
            let data = 2 + klen;
            let parent = be32(r, 2);
            let rkind = if kind == -1 && data + 2 <= r.len() {
                be16(r, data) as i16
            } else {
                0
            };
            let cnid = if (rkind == 1 || rkind == 2) && data + 12 <= r.len() {
                be32(r, data + 8)
            } else {
                0
            };
            if records.len() >= limits.max_entries {
                return Err(Error::limit("HFS+ catalog has too many records"));
            }
            records.push(Record {
                at: at + s as u64,
                len: (e - s) as u64,
                kind: if kind == 0 { 0 } else { rkind },
                parent,
                name,
                cnid,
            });
        }
    }
    // Paths from the file and folder records (their keys hold parent id and name).
    let names: HashMap<u32, (u32, String)> = records
        .iter()
        .filter(|r| r.cnid != 0)
        .map(|r| (r.cnid, (r.parent, r.name.clone())))
        .collect();
    let path = |mut id: u32| -> String {
        let mut parts = Vec::new();
        for _ in 0..limits.max_depth {
            match names.get(&id) {
                Some((p, n)) if id != 2 && id != 1 => {
                    parts.push(n.clone());
                    id = *p;
                }
                _ => break,
            }
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    };
    for r in &records {
        let klen = 2 + 6 + 2 * r.name.encode_utf16().count() as u32;
        let key = [
            f("key length", 0, 2, Decode::U16Be, Role::Size),
            f("key parent id", 2, 4, Decode::U32Be, Role::Pointer),
            f(
                "key name",
                6,
                klen.saturating_sub(6),
                Decode::Bytes,
                Role::Name,
            ),
        ];
        let (name, mut fields) = match r.kind {
            0 => (
                format!("HFS+ catalog index record ({})", r.name),
                key.to_vec(),
            ),
            1 => (
                format!("HFS+ catalog folder record of {}", path(r.cnid)),
                key.to_vec(),
            ),
            2 => (
                format!("HFS+ catalog file record of {}", path(r.cnid)),
                key.to_vec(),
            ),
            3 | 4 => (
                format!("HFS+ catalog thread record of {}", path(r.parent)),
                key.to_vec(),
            ),
            k => (
                format!("HFS+ catalog record of unknown type {k}"),
                key.to_vec(),
            ),
        };
        let d = klen.min(r.len as u32);
        let dates = [
            ("creation date", 12u32),
            ("content modification date", 16),
            ("attribute modification date", 20),
            ("access date", 24),
            ("backup date", 28),
        ];
        match r.kind {
            1 | 2 => {
                fields.push(f("record type", d, 2, Decode::U16Be, Role::Data));
                fields.push(f("flags", d + 2, 2, Decode::U16Be, Role::Flags));
                fields.push(f(
                    if r.kind == 1 { "valence" } else { "reserved" },
                    d + 4,
                    4,
                    Decode::U32Be,
                    Role::Count,
                ));
                fields.push(f(
                    "catalog node id",
                    d + 8,
                    4,
                    Decode::U32Be,
                    Role::Identifier,
                ));
                for (n, o) in dates {
                    fields.push(f(n, d + o, 4, Decode::HfsDate, Role::Time));
                }
                fields.push(f("owner id", d + 32, 4, Decode::U32Be, Role::Owner));
                fields.push(f("group id", d + 36, 4, Decode::U32Be, Role::Owner));
                fields.push(f(
                    "admin and owner flags",
                    d + 40,
                    2,
                    Decode::Bytes,
                    Role::Flags,
                ));
                fields.push(f("file mode", d + 42, 2, Decode::ModeU16Be, Role::Mode));
                fields.push(f(
                    "special (link count or device)",
                    d + 44,
                    4,
                    Decode::U32Be,
                    Role::Data,
                ));
                fields.push(f(
                    "user info (Finder)",
                    d + 48,
                    16,
                    Decode::Bytes,
                    Role::Data,
                ));
                fields.push(f("finder info", d + 64, 16, Decode::Bytes, Role::Data));
                fields.push(f("text encoding", d + 80, 4, Decode::U32Be, Role::Data));
                fields.push(f("reserved", d + 84, 4, Decode::Bytes, Role::Padding));
                if r.kind == 2 {
                    fields.push(f(
                        "data fork (size, clump, blocks, extents)",
                        d + 88,
                        80,
                        Decode::Bytes,
                        Role::Pointer,
                    ));
                    fields.push(f(
                        "resource fork (size, clump, blocks, extents)",
                        d + 168,
                        80,
                        Decode::Bytes,
                        Role::Pointer,
                    ));
                }
            }
            3 | 4 => {
                fields.push(f("record type", d, 2, Decode::U16Be, Role::Data));
                fields.push(f("reserved", d + 2, 2, Decode::Bytes, Role::Padding));
                fields.push(f("parent id", d + 4, 4, Decode::U32Be, Role::Pointer));
                fields.push(f(
                    "name",
                    d + 8,
                    (r.len as u32).saturating_sub(d + 8),
                    Decode::Bytes,
                    Role::Name,
                ));
            }
            0 => fields.push(f("child node", d, 4, Decode::U32Be, Role::Pointer)),
            _ => {}
        }
        fields.retain(|x| u64::from(x.offset) + u64::from(x.len) <= r.len);
        l.push(Structure::with_fields(name, r.at, r.len, fields));
    }
    Ok(())
}
