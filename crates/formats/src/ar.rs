//! ar archives (`!<arch>`), as used by Debian packages: common, GNU (`//` name table, `/`
//! symbol table) and BSD (`#1/len`) member names, every header field in the layout.

use crate::io::{ReadAt, read_exact_at, read_vec_at};
use crate::layout::{Decode, Layout, Role, Timestamp, Value, ascii_num, component};
use crate::{Content, Context, Entry, EntryKind, Error, Limits, Meta, Result};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER: u64 = 60;

#[derive(Debug, Default)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub notes: Vec<String>,
}

pub fn parse(src: &dyn ReadAt, limits: &Limits) -> Result<Archive> {
    let mut a = Archive::default();
    let mut magic = [0u8; 8];
    read_exact_at(src, 0, &mut magic).ctx(|| "ar magic".into())?;
    if &magic != MAGIC {
        return Err(Error::corrupt("ar: missing !<arch> magic"));
    }
    a.layout
        .structure("ar global header", 0, 8)
        .field("magic", 0, 8, Decode::Ascii, Role::Data);
    let size = src.size();
    let mut pos = 8u64;
    let mut gnu_names: Vec<u8> = Vec::new();
    let mut seen = std::collections::HashMap::<String, u32>::new();
    while pos + HEADER <= size {
        if a.entries.len() >= limits.max_entries {
            a.notes.push(format!(
                "ar: stopped after {} members (limit)",
                a.entries.len()
            ));
            break;
        }
        let mut h = [0u8; HEADER as usize];
        read_exact_at(src, pos, &mut h).ctx(|| format!("ar header at {pos:#x}"))?;
        if &h[58..60] != b"`\n" {
            a.notes.push(format!(
                "ar: header at {pos:#x} has no end marker; stopping there"
            ));
            break;
        }
        let bad = |f: &str| Error::corrupt(format!("ar header at {pos:#x}: {f} is not a number"));
        let msize = ascii_num(&h[48..58], 10).ok_or_else(|| bad("size"))?;
        let data = pos + HEADER;
        let end = data
            .checked_add(msize)
            .filter(|&e| e <= size)
            .ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::Truncated,
                    format!("ar member at {pos:#x}: {msize} bytes run past the end"),
                )
            })?;
        let raw_name = &h[0..16];
        let name_str = String::from_utf8_lossy(raw_name).trim_end().to_string();
        let mut name_in_data = 0u64;
        let name: Vec<u8> = if name_str == "//" {
            gnu_names = read_vec_at(src, data, msize, limits.max_metadata)
                .ctx(|| "ar GNU name table".into())?;
            a.layout
                .region("ar GNU long name table", pos, HEADER + msize, Role::Name);
            pos = end + (end & 1);
            continue;
        } else if name_str == "/" || name_str == "/SYM64/" {
            a.layout
                .region("ar symbol table", pos, HEADER + msize, Role::Data);
            pos = end + (end & 1);
            continue;
        } else if let Some(off) = name_str
            .strip_prefix('/')
            .and_then(|n| n.parse::<usize>().ok())
        {
            let rest = gnu_names.get(off..).unwrap_or(&[]);
            let e = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            rest[..e].strip_suffix(b"/").unwrap_or(&rest[..e]).to_vec()
        } else if let Some(n) = name_str
            .strip_prefix("#1/")
            .and_then(|n| n.parse::<u64>().ok())
        {
            if n > msize || n > limits.max_name as u64 {
                return Err(Error::corrupt(format!(
                    "ar header at {pos:#x}: BSD name length {n} out of range"
                )));
            }
            name_in_data = n;
            let v =
                read_vec_at(src, data, n, limits.max_name as u64).ctx(|| "ar BSD name".into())?;
            v[..v.iter().position(|&c| c == 0).unwrap_or(v.len())].to_vec()
        } else {
            name_str
                .strip_suffix('/')
                .unwrap_or(&name_str)
                .as_bytes()
                .to_vec()
        };
        let mut path = format!("/{}", component(&name));
        let n = seen.entry(path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            path = format!("{path} (#{n})");
        }
        let mut s = a
            .layout
            .structure(format!("ar header of {path}"), pos, HEADER + name_in_data)
            .field("name", 0, 16, Decode::Ascii, Role::Name)
            .field("mtime", 16, 12, Decode::DecimalTime, Role::Time)
            .field("uid", 28, 6, Decode::Decimal, Role::Owner)
            .field("gid", 34, 6, Decode::Decimal, Role::Owner)
            .field("mode", 40, 8, Decode::OctalMode, Role::Mode)
            .field("size", 48, 10, Decode::Decimal, Role::Size)
            .field("end marker", 58, 2, Decode::Ascii, Role::Data);
        if name_in_data > 0 {
            s = s.field(
                "BSD long name",
                HEADER as u32,
                name_in_data as u32,
                Decode::Ascii,
                Role::Name,
            );
        }
        let cstart = data + name_in_data;
        let csize = end - cstart;
        if csize > 0 {
            a.layout.content(
                format!("content of {path}"),
                cstart,
                csize,
                Some(a.entries.len() as u32),
            );
        }
        if end & 1 == 1 && end < size {
            a.layout.region(
                format!("padding after content of {path}"),
                end,
                1,
                Role::Padding,
            );
        }
        let num = |r: std::ops::Range<usize>, radix| ascii_num(&h[r], radix).unwrap_or(0);
        let mode = num(40..48, 8) as u32;
        a.entries.push(Entry {
            path,
            kind: EntryKind::File,
            size: csize,
            meta: vec![
                Meta::new("mode", Value::Mode(mode), Role::Mode),
                Meta::new("uid", Value::Int(num(28..34, 10)), Role::Owner),
                Meta::new("gid", Value::Int(num(34..40, 10)), Role::Owner),
                Meta::new(
                    "mtime",
                    Value::Time(Timestamp::secs(num(16..28, 10) as i64)),
                    Role::Time,
                ),
            ],
            content: Content::Extents(crate::extent(cstart..end)),
        });
        pos = end + (end & 1);
    }
    if pos < size {
        a.notes.push(format!(
            "ar: {} trailing bytes at {pos:#x} are not a member",
            size - pos
        ));
        a.layout.region(
            "trailing data after ar members",
            pos,
            size - pos,
            Role::Data,
        );
    }
    Ok(a)
}
