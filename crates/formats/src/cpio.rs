//! cpio archives (newc `070701`, crc `070702`, odc `070707`), including the concatenated
//! archives of a Linux initramfs: after a `TRAILER!!!` and zero padding, another archive may
//! follow, or a compressed stream holding more archives (it becomes a pseudo-member named
//! `[compressed segment N (codec)]` that the caller decompresses).

use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{Decode, Layout, Role, Value, component};
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result, compress};

const NEWC_LEN: u64 = 110;
const ODC_LEN: u64 = 76;

/// Whether `head` starts with a cpio magic this module reads.
pub fn detect(head: &[u8]) -> bool {
    head.starts_with(b"070701") || head.starts_with(b"070702") || head.starts_with(b"070707")
}

/// A parsed (possibly concatenated) cpio archive.
#[derive(Debug, Default)]
pub struct Archive {
    /// Members in archive order; paths repeated across concatenated archives get ` (#2)`...
    pub entries: Vec<Entry>,
    pub layout: Layout,
    /// Problems that ended parsing early; the entries before them are valid.
    pub notes: Vec<String>,
    /// Number of archives read.
    pub archives: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Newc,
    Odc,
}

/// Parses every archive in `src`. Fails only if the first header is unreadable.
pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<Archive> {
    let mut a = Archive::default();
    let size = src.size();
    let mut pos = 0u64;
    let mut seen = std::collections::HashMap::<String, u32>::new();
    let mut segment = 0u32;
    loop {
        // Between archives: zero padding, then another archive, a compressed stream, or junk.
        let pad_start = pos;
        pos = skip_zeros(src, pos);
        if pos > pad_start {
            a.layout.region(
                format!("zero padding after cpio archive #{}", a.archives),
                pad_start,
                pos - pad_start,
                Role::Padding,
            );
        }
        if pos >= size {
            break;
        }
        let mut magic = [0u8; 6];
        if read_exact_at(src, pos, &mut magic).is_err() {
            a.notes.push(format!(
                "{} trailing bytes at {pos:#x} are not a cpio header",
                size - pos
            ));
            a.layout.region(
                "trailing data after cpio archives",
                pos,
                size - pos,
                Role::Data,
            );
            break;
        }
        if !detect(&magic) {
            let mut head = [0u8; 16];
            let n = head.len().min((size - pos) as usize);
            let _ = read_exact_at(src, pos, &mut head[..n]);
            if let Some(codec) = compress::detect(&head[..n]) {
                segment += 1;
                let name = format!("[compressed segment {segment} ({})]", codec.name());
                a.layout.content(
                    format!("{name} data"),
                    pos,
                    size - pos,
                    Some(a.entries.len() as u32),
                );
                a.entries.push(Entry {
                    path: format!("/{name}"),
                    kind: EntryKind::File,
                    size: size - pos,
                    meta: Vec::new(),
                    content: Content::Extents(crate::extent(pos..size)),
                });
            } else if a.archives == 0 {
                return Err(Error::corrupt(format!(
                    "cpio: no cpio magic at offset {pos:#x}"
                )));
            } else {
                a.notes.push(format!(
                    "data at {pos:#x} after cpio archive #{} is not cpio",
                    a.archives
                ));
                a.layout.region(
                    "trailing data after cpio archives",
                    pos,
                    size - pos,
                    Role::Data,
                );
            }
            break;
        }
        a.archives += 1;
        match parse_one(src, pos, limits, &mut a, &mut seen) {
            Ok(end) => pos = end,
            Err(e) if a.entries.is_empty() && a.archives == 1 => return Err(e),
            Err(e) => {
                a.notes.push(e.message);
                break;
            }
        }
    }
    Ok(a)
}

fn skip_zeros(src: &dyn ReadAt, mut pos: u64) -> u64 {
    let mut buf = [0u8; 4096];
    loop {
        let n = match src.read_at(pos, &mut buf) {
            Ok(0) | Err(_) => return pos,
            Ok(n) => n,
        };
        match buf[..n].iter().position(|&b| b != 0) {
            Some(i) => return pos + i as u64,
            None => pos += n as u64,
        }
    }
}

/// Parses one archive starting at `pos`; returns the offset after its trailer (and padding).
fn parse_one(
    src: &dyn ReadAt,
    mut pos: u64,
    limits: &Limits,
    a: &mut Archive,
    seen: &mut std::collections::HashMap<String, u32>,
) -> Result<u64> {
    let archive_no = a.archives;
    loop {
        if a.entries.len() >= limits.max_entries || a.layout.len() >= limits.max_structures {
            return Err(Error::limit(format!(
                "cpio: more than {} members",
                limits.max_entries
            )));
        }
        let mut magic = [0u8; 6];
        read_exact_at(src, pos, &mut magic).ctx(|| format!("cpio header at {pos:#x}"))?;
        let kind = match &magic {
            b"070701" | b"070702" => Kind::Newc,
            b"070707" => Kind::Odc,
            _ => {
                return Err(Error::corrupt(format!(
                    "cpio: bad magic at {pos:#x} (archive #{archive_no})"
                )));
            }
        };
        let hlen = if kind == Kind::Newc {
            NEWC_LEN
        } else {
            ODC_LEN
        };
        let mut h = [0u8; NEWC_LEN as usize];
        read_exact_at(src, pos, &mut h[..hlen as usize])
            .ctx(|| format!("cpio header at {pos:#x}"))?;
        let num = |r: std::ops::Range<usize>, radix| {
            crate::layout::ascii_num(&h[r.clone()], radix).ok_or_else(|| {
                Error::corrupt(format!(
                    "cpio header at {pos:#x}: field at +{} is not a number",
                    r.start
                ))
            })
        };
        let (mode, uid, gid, nlink, mtime, filesize, namesize, rdev) = match kind {
            Kind::Newc => (
                num(14..22, 16)?,
                num(22..30, 16)?,
                num(30..38, 16)?,
                num(38..46, 16)?,
                num(46..54, 16)?,
                num(54..62, 16)?,
                num(94..102, 16)?,
                (num(78..86, 16)?, num(86..94, 16)?),
            ),
            Kind::Odc => (
                num(18..24, 8)?,
                num(24..30, 8)?,
                num(30..36, 8)?,
                num(36..42, 8)?,
                num(48..59, 8)?,
                num(65..76, 8)?,
                num(59..65, 8)?,
                (num(42..48, 8)? >> 8, num(42..48, 8)? & 0xff),
            ),
        };
        if namesize == 0 || namesize > limits.max_name as u64 {
            return Err(Error::corrupt(format!(
                "cpio header at {pos:#x}: name size {namesize} out of range"
            )));
        }
        let name_raw = read_vec_at(src, pos + hlen, namesize, limits.max_name as u64)
            .ctx(|| format!("cpio name at {:#x}", pos + hlen))?;
        let name = &name_raw[..name_raw
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(name_raw.len())];
        let align = |x: u64| {
            if kind == Kind::Newc {
                x.div_ceil(4) * 4
            } else {
                x
            }
        };
        let name_end = align(pos + hlen + namesize);
        let data_start = name_end;
        let data_end = data_start
            .checked_add(filesize)
            .filter(|&e| e <= src.size())
            .ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::Truncated,
                    format!("cpio member at {pos:#x}: {filesize} bytes of data run past the end of the archive"),
                )
            })?;
        let next = align(data_end);
        if name == b"TRAILER!!!" {
            a.layout
                .structure(
                    format!("cpio trailer of archive #{archive_no}"),
                    pos,
                    next - pos,
                )
                .field("magic", 0, 6, Decode::Ascii, Role::Data)
                .field(
                    "trailer name",
                    hlen as u32,
                    namesize as u32,
                    Decode::Ascii,
                    Role::Name,
                );
            return Ok(next);
        }
        let mut path = cpio_path(name);
        let n = seen.entry(path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            path = format!("{path} (#{n})");
        }
        let member = a.entries.len() as u32;
        header_layout(&mut a.layout, kind, pos, hlen, namesize, name_end, &path);
        let ekind = EntryKind::from_mode(mode as u32);
        let mut meta = vec![
            Meta::new("mode", Value::Mode(mode as u32), Role::Mode),
            Meta::new("uid", Value::Int(uid), Role::Owner),
            Meta::new("gid", Value::Int(gid), Role::Owner),
            Meta::new(
                "mtime",
                Value::Time(crate::Timestamp::secs(mtime as i64)),
                Role::Time,
            ),
            Meta::new("link count", Value::Int(nlink), Role::Count),
        ];
        if matches!(ekind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            meta.push(Meta::new(
                "device",
                Value::Text(format!("{}:{}", rdev.0, rdev.1)),
                Role::Data,
            ));
        }
        let mut content = Content::Extents(crate::extent(data_start..data_end));
        if ekind == EntryKind::Symlink {
            let t = read_vec_at(src, data_start, filesize, limits.max_name as u64)
                .ctx(|| format!("cpio symlink target of {path}"))?;
            meta.push(Meta::new(
                "symlink target",
                Value::Text(crate::layout::printable(&t)),
                Role::Name,
            ));
            content = Content::None;
            a.layout
                .structure(format!("symlink target of {path}"), data_start, filesize)
                .field(
                    "symlink target",
                    0,
                    filesize as u32,
                    Decode::Ascii,
                    Role::Name,
                );
        } else if filesize > 0 {
            a.layout.content(
                format!("content of {path}"),
                data_start,
                filesize,
                Some(member),
            );
        }
        if next > data_end {
            a.layout.region(
                format!("padding after content of {path}"),
                data_end,
                next - data_end,
                Role::Padding,
            );
        }
        a.entries.push(Entry {
            path,
            kind: ekind,
            size: filesize,
            meta,
            content,
        });
        pos = next;
    }
}

fn header_layout(
    l: &mut Layout,
    kind: Kind,
    pos: u64,
    hlen: u64,
    namesize: u64,
    name_end: u64,
    path: &str,
) {
    let mut s = l.structure(format!("cpio header of {path}"), pos, name_end - pos);
    let fields: &[(&'static str, u32, u32, Decode, Role)] = match kind {
        Kind::Newc => &[
            ("magic", 0, 6, Decode::Ascii, Role::Data),
            ("inode number", 6, 8, Decode::HexAscii, Role::Identifier),
            ("mode", 14, 8, Decode::HexAsciiMode, Role::Mode),
            ("uid", 22, 8, Decode::HexAscii, Role::Owner),
            ("gid", 30, 8, Decode::HexAscii, Role::Owner),
            ("link count", 38, 8, Decode::HexAscii, Role::Count),
            ("mtime", 46, 8, Decode::HexAsciiTime, Role::Time),
            ("file size", 54, 8, Decode::HexAscii, Role::Size),
            ("device major", 62, 8, Decode::HexAscii, Role::Data),
            ("device minor", 70, 8, Decode::HexAscii, Role::Data),
            ("rdev major", 78, 8, Decode::HexAscii, Role::Data),
            ("rdev minor", 86, 8, Decode::HexAscii, Role::Data),
            ("name size", 94, 8, Decode::HexAscii, Role::Size),
            ("checksum", 102, 8, Decode::HexAscii, Role::Checksum),
        ],
        Kind::Odc => &[
            ("magic", 0, 6, Decode::Ascii, Role::Data),
            ("device", 6, 6, Decode::Octal, Role::Data),
            ("inode number", 12, 6, Decode::Octal, Role::Identifier),
            ("mode", 18, 6, Decode::OctalMode, Role::Mode),
            ("uid", 24, 6, Decode::Octal, Role::Owner),
            ("gid", 30, 6, Decode::Octal, Role::Owner),
            ("link count", 36, 6, Decode::Octal, Role::Count),
            ("rdev", 42, 6, Decode::Octal, Role::Data),
            ("mtime", 48, 11, Decode::OctalTime, Role::Time),
            ("name size", 59, 6, Decode::Octal, Role::Size),
            ("file size", 65, 11, Decode::Octal, Role::Size),
        ],
    };
    for &(n, o, len, d, r) in fields {
        s = s.field(n, o, len, d, r);
    }
    s = s.field(
        "name",
        hlen as u32,
        namesize as u32,
        Decode::Ascii,
        Role::Name,
    );
    let pad = name_end - pos - hlen - namesize;
    if pad > 0 {
        s.field(
            "name padding",
            (hlen + namesize) as u32,
            pad as u32,
            Decode::Bytes,
            Role::Padding,
        );
    }
}

/// `./usr/bin/x`, `usr/bin/x` and `/usr/bin/x` all become `/usr/bin/x`; `.` becomes `/`.
fn cpio_path(name: &[u8]) -> String {
    let parts: Vec<String> = name
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .map(component)
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_cannot_escape() {
        assert_eq!(cpio_path(b"."), "/");
        assert_eq!(cpio_path(b"./usr//bin/x"), "/usr/bin/x");
        // `..` stays a literal component: names are labels here, never file system paths.
        assert_eq!(cpio_path(b"../../etc/passwd"), "/../../etc/passwd");
    }
}
