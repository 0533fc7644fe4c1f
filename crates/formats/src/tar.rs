//! tar archives: v7, ustar, GNU (long names `L`/`K`, base-256 numbers) and pax extended
//! headers (`x` per member, `g` global), with every header field in the layout.

use std::collections::HashMap;

use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{Decode, Layout, Role, Timestamp, Value, component, printable};
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result};

const BLOCK: u64 = 512;

/// Whether `head` (at least 512 bytes) is a tar header: ustar magic or a valid checksum.
pub fn detect(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    head[0] != 0 && checksum_ok(&head[..512])
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    stored == sum
}

/// A tar numeric field: octal ASCII, or GNU base-256 when the high bit is set.
fn number(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let mut v: u64 = u64::from(b[0] & 0x3f);
        for &c in &b[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    crate::layout::ascii_num(b, 8)
}

#[derive(Debug, Default)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub notes: Vec<String>,
}

pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<Archive> {
    let mut a = Archive::default();
    let size = src.size();
    let mut pos = 0u64;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax: HashMap<String, Vec<u8>> = HashMap::new();
    let mut global: HashMap<String, Vec<u8>> = HashMap::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut pending: Vec<usize> = Vec::new(); // layout structures waiting for the member's path
    while pos + BLOCK <= size {
        if a.entries.len() >= limits.max_entries || a.layout.len() >= limits.max_structures {
            a.notes.push(format!(
                "tar: stopped after {} members (limit)",
                a.entries.len()
            ));
            break;
        }
        let mut h = [0u8; 512];
        read_exact_at(src, pos, &mut h).ctx(|| format!("tar header at {pos:#x}"))?;
        if h.iter().all(|&b| b == 0) {
            a.layout
                .region("end-of-archive zero blocks", pos, size - pos, Role::Padding);
            pos = size;
            break;
        }
        if !checksum_ok(&h) {
            let msg = format!("tar: header at {pos:#x} has a bad checksum; stopping there");
            if a.entries.is_empty() && pending.is_empty() {
                return Err(Error::corrupt(msg));
            }
            a.notes.push(msg);
            break;
        }
        let typeflag = h[156];
        let hsize = number(&h[124..136]).ok_or_else(|| {
            Error::corrupt(format!(
                "tar header at {pos:#x}: size field is not a number"
            ))
        })?;
        let data = pos + BLOCK;
        let padded = hsize
            .div_ceil(BLOCK)
            .checked_mul(BLOCK)
            .ok_or_else(|| Error::corrupt("tar: size overflow"))?;
        if data.checked_add(padded).is_none_or(|e| e > size) {
            let msg = format!(
                "tar member at {pos:#x}: {hsize} bytes of data run past the end of the archive"
            );
            if a.entries.is_empty() {
                return Err(Error::new(crate::ErrorKind::Truncated, msg));
            }
            a.notes.push(msg);
            break;
        }
        match typeflag {
            b'L' | b'K' | b'x' | b'g' => {
                let body = read_vec_at(src, data, hsize, limits.max_name as u64 * 16)
                    .ctx(|| format!("tar extended header at {pos:#x}"))?;
                let what = match typeflag {
                    b'L' => "GNU long name",
                    b'K' => "GNU long link name",
                    b'x' => "pax extended header",
                    _ => "pax global header",
                };
                pending.push(a.layout.len());
                header_layout(&mut a.layout, pos, &format!("{what} header"));
                pending.push(a.layout.len());
                let mut s = a.layout.structure(format!("{what} data"), data, padded);
                match typeflag {
                    b'L' | b'K' => {
                        let name = body.split(|&c| c == 0).next().unwrap_or(&[]).to_vec();
                        s = s.field(what, 0, hsize as u32, Decode::Ascii, Role::Name);
                        if typeflag == b'L' {
                            long_name = Some(name);
                        } else {
                            long_link = Some(name);
                        }
                    }
                    _ => {
                        let target = if typeflag == b'x' {
                            &mut pax
                        } else {
                            &mut global
                        };
                        for (off, len, key, value) in pax_records(&body) {
                            let role = pax_role(&key);
                            s = s.field(
                                format!("pax record {key}"),
                                off as u32,
                                len as u32,
                                Decode::Ascii,
                                role,
                            );
                            target.insert(key, value);
                        }
                    }
                }
                pos = data + padded;
                continue;
            }
            _ => {}
        }
        let get = |k: &str| pax.get(k).or_else(|| global.get(k));
        let name = match (get("path"), long_name.take()) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l,
            (None, None) => {
                let n = cstr(&h[0..100]);
                let prefix = cstr(&h[345..500]);
                if &h[257..263] == b"ustar\0" && !prefix.is_empty() {
                    [prefix, b"/", n].concat()
                } else {
                    n.to_vec()
                }
            }
        };
        let link = match (get("linkpath"), long_link.take()) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l,
            (None, None) => cstr(&h[157..257]).to_vec(),
        };
        let pax_num =
            |k: &str| get(k).and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let size_v = pax_num("size").unwrap_or(hsize);
        let mode = number(&h[100..108]).unwrap_or(0) as u32;
        let uid = pax_num("uid").or_else(|| number(&h[108..116])).unwrap_or(0);
        let gid = pax_num("gid").or_else(|| number(&h[116..124])).unwrap_or(0);
        let mtime = get("mtime")
            .and_then(|v| pax_time(v))
            .unwrap_or_else(|| Timestamp::secs(number(&h[136..148]).unwrap_or(0) as i64));
        let mut path = tar_path(&name);
        let n = seen.entry(path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            path = format!("{path} (#{n})");
        }
        for i in pending.drain(..) {
            let s = &mut a.layout.structures[i];
            s.name = format!("{} of {path}", s.name);
        }
        header_layout(&mut a.layout, pos, &format!("tar header of {path}"));
        let kind = match typeflag {
            b'0' | 0 | b'7' | b'S' => EntryKind::File,
            b'1' => EntryKind::HardLink,
            b'2' => EntryKind::Symlink,
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'5' => EntryKind::Dir,
            b'6' => EntryKind::Fifo,
            _ => EntryKind::Other,
        };
        let type_bits = match kind {
            EntryKind::Dir => 0o040000,
            EntryKind::Symlink => 0o120000,
            EntryKind::CharDevice => 0o020000,
            EntryKind::BlockDevice => 0o060000,
            EntryKind::Fifo => 0o010000,
            _ => 0o100000,
        };
        let mut meta = vec![
            Meta::new("mode", Value::Mode(type_bits | (mode & 0o7777)), Role::Mode),
            Meta::new("uid", Value::Int(uid), Role::Owner),
            Meta::new("gid", Value::Int(gid), Role::Owner),
            Meta::new(
                "owner name",
                Value::Text(text(
                    get("uname").map(|v| &v[..]).unwrap_or(cstr(&h[265..297])),
                )),
                Role::Owner,
            ),
            Meta::new(
                "group name",
                Value::Text(text(
                    get("gname").map(|v| &v[..]).unwrap_or(cstr(&h[297..329])),
                )),
                Role::Owner,
            ),
            Meta::new("mtime", Value::Time(mtime), Role::Time),
        ];
        for k in ["atime", "ctime"] {
            if let Some(t) = pax.get(k).and_then(|v| pax_time(v)) {
                meta.push(Meta::new(k, Value::Time(t), Role::Time));
            }
        }
        match kind {
            EntryKind::Symlink => meta.push(Meta::new(
                "symlink target",
                Value::Text(printable(&link)),
                Role::Name,
            )),
            EntryKind::HardLink => meta.push(Meta::new(
                "hard link target",
                Value::Text(tar_path(&link)),
                Role::Name,
            )),
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let maj = number(&h[329..337]).unwrap_or(0);
                let min = number(&h[337..345]).unwrap_or(0);
                meta.push(Meta::new(
                    "device",
                    Value::Text(format!("{maj}:{min}")),
                    Role::Data,
                ));
            }
            _ => {}
        }
        let mut content = Content::None;
        let stored = if matches!(kind, EntryKind::File | EntryKind::Other) {
            hsize
        } else {
            0
        };
        if stored > 0 {
            a.layout.content(
                format!("content of {path}"),
                data,
                stored,
                Some(a.entries.len() as u32),
            );
            content = Content::Extents(crate::extent(data..data + stored));
        }
        if padded > stored {
            a.layout.region(
                format!("padding after content of {path}"),
                data + stored,
                padded - stored,
                Role::Padding,
            );
        }
        a.entries.push(Entry {
            path,
            kind,
            size: size_v,
            meta,
            content,
        });
        pax.clear();
        pos = data + padded;
    }
    if pos < size {
        a.notes.push(format!(
            "tar: {} bytes after the last complete header were not read",
            size - pos
        ));
    }
    Ok(a)
}

fn header_layout(l: &mut Layout, pos: u64, name: &str) {
    let fields: &[(&'static str, u32, u32, Decode, Role)] = &[
        ("name", 0, 100, Decode::Ascii, Role::Name),
        ("mode", 100, 8, Decode::OctalMode, Role::Mode),
        ("uid", 108, 8, Decode::Octal, Role::Owner),
        ("gid", 116, 8, Decode::Octal, Role::Owner),
        ("size", 124, 12, Decode::Octal, Role::Size),
        ("mtime", 136, 12, Decode::OctalTime, Role::Time),
        ("header checksum", 148, 8, Decode::Octal, Role::Checksum),
        ("type flag", 156, 1, Decode::Ascii, Role::Data),
        ("link name", 157, 100, Decode::Ascii, Role::Name),
        ("magic", 257, 6, Decode::Ascii, Role::Data),
        ("version", 263, 2, Decode::Ascii, Role::Data),
        ("owner name", 265, 32, Decode::Ascii, Role::Owner),
        ("group name", 297, 32, Decode::Ascii, Role::Owner),
        ("device major", 329, 8, Decode::Octal, Role::Data),
        ("device minor", 337, 8, Decode::Octal, Role::Data),
        ("name prefix", 345, 155, Decode::Ascii, Role::Name),
        ("padding", 500, 12, Decode::Bytes, Role::Padding),
    ];
    let mut s = l.structure(name, pos, BLOCK);
    for &(n, o, len, d, r) in fields {
        s = s.field(n, o, len, d, r);
    }
}

/// `(offset, length, key, value)` of each `LEN key=value\n` record.
fn pax_records(body: &[u8]) -> Vec<(usize, usize, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let rest = &body[pos..];
        let Some(sp) = rest.iter().position(|&c| c == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp + 1 || len > rest.len() {
            break;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|&c| c == b'=') {
            out.push((
                pos,
                len,
                String::from_utf8_lossy(&rec[..eq]).into_owned(),
                rec[eq + 1..].to_vec(),
            ));
        }
        pos += len;
    }
    out
}

fn pax_role(key: &str) -> Role {
    match key {
        "mtime" | "atime" | "ctime" | "LIBARCHIVE.creationtime" => Role::Time,
        "uid" | "gid" | "uname" | "gname" => Role::Owner,
        "path" | "linkpath" => Role::Name,
        "size" => Role::Size,
        _ => Role::Data,
    }
}

fn pax_time(v: &[u8]) -> Option<Timestamp> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let unix = secs.parse::<i64>().ok()?;
    let nanos = if frac.is_empty() {
        None
    } else {
        let digits: String = frac.chars().take(9).collect();
        Some(format!("{digits:0<9}").parse::<u32>().ok()?)
    };
    Some(Timestamp {
        unix,
        nanos,
        utc_offset_min: None,
    })
}

fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn text(b: &[u8]) -> String {
    printable(b)
}

fn tar_path(name: &[u8]) -> String {
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
    fn numbers_octal_and_base256() {
        assert_eq!(number(b"0000644\0"), Some(0o644));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"zz"), None);
    }

    #[test]
    fn pax_records_and_times() {
        let body = b"30 mtime=1764000000.123456789\n20 path=a/b/../c.txt\n";
        let r = pax_records(body);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].2, "path");
        let t = pax_time(&r[0].3).unwrap();
        assert_eq!((t.unix, t.nanos), (1_764_000_000, Some(123_456_789)));
        // Lengths that lie are not followed.
        assert!(pax_records(b"999 path=x\n").is_empty());
    }
}
