//! System Use Sharing Protocol entries and the Rock Ridge entries carried in them (PX, TF, NM,
//! SL, PN, CE, SP, ER, RE, CL, PL, ZF...).

use std::borrow::Cow;

use crate::layout::{Decode, Field, Role, Value};

/// What the Rock Ridge entries of one directory record say.
#[derive(Clone, Debug, Default)]
pub struct RockRidge {
    pub mode: Option<u32>,
    pub nlink: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub name: Option<Vec<u8>>,
    pub symlink: Option<Vec<u8>>,
    pub device: Option<(u32, u32)>,
    /// `(field name, time)` for each TF timestamp present.
    pub times: Vec<(&'static str, Value)>,
    /// A CE entry: continuation area `(block, offset, length)`.
    pub continuation: Option<(u32, u32, u32)>,
    /// SP "bytes to skip" (only meaningful in the root's `.` record).
    pub skip: Option<u8>,
    /// RE: this directory was relocated, hide the record.
    pub relocated: bool,
    /// CL: the real directory lives at this block.
    pub child_link: Option<u32>,
    pub seen_any: bool,
    /// The last SL component continues in the next one.
    sl_continues: bool,
}

const TF_NAMES: [&str; 7] = [
    "Rock Ridge TF creation time",
    "Rock Ridge TF modification time",
    "Rock Ridge TF access time",
    "Rock Ridge TF attributes change time",
    "Rock Ridge TF backup time",
    "Rock Ridge TF expiration time",
    "Rock Ridge TF effective time",
];

/// Parses the SUSP entries in `area` (which starts at `base` within its structure), filling
/// `rr` and appending one field per entry part to `fields`.
pub fn parse(area: &[u8], base: u32, rr: &mut RockRidge, fields: &mut Vec<Field>) {
    let mut pos = 0usize;
    while pos + 4 <= area.len() {
        let sig = [area[pos], area[pos + 1]];
        let len = area[pos + 2] as usize;
        if len < 4 || pos + len > area.len() {
            // Padding or garbage: what is left is not a valid entry.
            fields.push(field(
                "system use area (unparsed)",
                base + pos as u32,
                (area.len() - pos) as u32,
                Decode::Bytes,
                Role::Data,
            ));
            return;
        }
        let e = &area[pos..pos + len];
        let at = base + pos as u32;
        let sig_s = String::from_utf8_lossy(&sig).into_owned();
        let name = |s: &str| -> Cow<'static, str> { Cow::Owned(format!("Rock Ridge {sig_s} {s}")) };
        fields.push(Field {
            name: name("entry header"),
            offset: at,
            len: 4,
            decode: Decode::Bytes,
            role: Role::Data,
        });
        let d = &e[4..];
        let dat = at + 4;
        rr.seen_any = true;
        match &sig {
            b"PX" if d.len() >= 32 => {
                rr.mode = Some(crate::le::u32(d, 0));
                rr.nlink = Some(crate::le::u32(d, 8));
                rr.uid = Some(crate::le::u32(d, 16));
                rr.gid = Some(crate::le::u32(d, 24));
                fields.push(field(
                    "Rock Ridge PX mode",
                    dat,
                    8,
                    Decode::ModeU32Both,
                    Role::Mode,
                ));
                fields.push(field(
                    "Rock Ridge PX link count",
                    dat + 8,
                    8,
                    Decode::U32Both,
                    Role::Count,
                ));
                fields.push(field(
                    "Rock Ridge PX uid",
                    dat + 16,
                    8,
                    Decode::U32Both,
                    Role::Owner,
                ));
                fields.push(field(
                    "Rock Ridge PX gid",
                    dat + 24,
                    8,
                    Decode::U32Both,
                    Role::Owner,
                ));
                if d.len() >= 40 {
                    fields.push(field(
                        "Rock Ridge PX inode number",
                        dat + 32,
                        8,
                        Decode::U32Both,
                        Role::Identifier,
                    ));
                }
            }
            b"TF" if !d.is_empty() => {
                let flags = d[0];
                let long = flags & 0x80 != 0;
                let w = if long { 17 } else { 7 };
                let dec = if long {
                    Decode::IsoDate17
                } else {
                    Decode::IsoDate7
                };
                fields.push(field(
                    "Rock Ridge TF flags",
                    dat,
                    1,
                    Decode::U8,
                    Role::Flags,
                ));
                let mut p = 1usize;
                for (bit, n) in TF_NAMES.iter().enumerate() {
                    if flags & (1 << bit) != 0 && p + w <= d.len() {
                        fields.push(field(n, dat + p as u32, w as u32, dec, Role::Time));
                        rr.times.push((n, dec.decode(&d[p..p + w])));
                        p += w;
                    }
                }
            }
            b"NM" if !d.is_empty() => {
                fields.push(field(
                    "Rock Ridge NM flags",
                    dat,
                    1,
                    Decode::U8,
                    Role::Flags,
                ));
                fields.push(field(
                    "Rock Ridge NM name",
                    dat + 1,
                    (d.len() - 1) as u32,
                    Decode::Ascii,
                    Role::Name,
                ));
                let flags = d[0];
                let part: &[u8] = match flags & 6 {
                    2 => b".",
                    4 => b"..",
                    _ => &d[1..],
                };
                rr.name.get_or_insert_with(Vec::new).extend_from_slice(part);
            }
            b"SL" if !d.is_empty() => {
                fields.push(field(
                    "Rock Ridge SL flags",
                    dat,
                    1,
                    Decode::U8,
                    Role::Flags,
                ));
                fields.push(field(
                    "Rock Ridge SL symlink target",
                    dat + 1,
                    (d.len() - 1) as u32,
                    Decode::Bytes,
                    Role::Name,
                ));
                let target = rr.symlink.get_or_insert_with(Vec::new);
                let mut p = 1usize;
                while p + 2 <= d.len() {
                    let cflags = d[p];
                    let clen = d[p + 1] as usize;
                    let Some(c) = d.get(p + 2..p + 2 + clen) else {
                        break;
                    };
                    if cflags & 8 != 0 {
                        target.push(b'/');
                    } else {
                        // A new component is separated by '/' unless the previous one was
                        // continued (split across entries) or was the root.
                        if !target.is_empty() && !target.ends_with(b"/") && !rr.sl_continues {
                            target.push(b'/');
                        }
                        target.extend_from_slice(match cflags & 6 {
                            2 => b".",
                            4 => b"..",
                            _ => c,
                        });
                    }
                    rr.sl_continues = cflags & 1 != 0;
                    p += 2 + clen;
                }
            }
            b"PN" if d.len() >= 16 => {
                rr.device = Some((crate::le::u32(d, 0), crate::le::u32(d, 8)));
                fields.push(field(
                    "Rock Ridge PN device high",
                    dat,
                    8,
                    Decode::U32Both,
                    Role::Data,
                ));
                fields.push(field(
                    "Rock Ridge PN device low",
                    dat + 8,
                    8,
                    Decode::U32Both,
                    Role::Data,
                ));
            }
            b"CE" if d.len() >= 24 => {
                rr.continuation = Some((
                    crate::le::u32(d, 0),
                    crate::le::u32(d, 8),
                    crate::le::u32(d, 16),
                ));
                fields.push(field(
                    "Rock Ridge CE continuation block",
                    dat,
                    8,
                    Decode::U32Both,
                    Role::Pointer,
                ));
                fields.push(field(
                    "Rock Ridge CE continuation offset",
                    dat + 8,
                    8,
                    Decode::U32Both,
                    Role::Pointer,
                ));
                fields.push(field(
                    "Rock Ridge CE continuation length",
                    dat + 16,
                    8,
                    Decode::U32Both,
                    Role::Size,
                ));
            }
            b"SP" if d.len() >= 3 => {
                rr.skip = Some(d[2]);
                fields.push(field(
                    "SUSP SP check bytes",
                    dat,
                    2,
                    Decode::Bytes,
                    Role::Data,
                ));
                fields.push(field(
                    "SUSP SP bytes skipped",
                    dat + 2,
                    1,
                    Decode::U8,
                    Role::Size,
                ));
            }
            b"ER" if d.len() >= 4 => {
                let (li, ld, ls) = (d[0] as u32, d[1] as u32, d[2] as u32);
                fields.push(field(
                    "SUSP ER lengths and version",
                    dat,
                    4,
                    Decode::Bytes,
                    Role::Data,
                ));
                fields.push(field(
                    "SUSP ER extension identifier",
                    dat + 4,
                    li,
                    Decode::Ascii,
                    Role::Name,
                ));
                fields.push(field(
                    "SUSP ER extension descriptor",
                    dat + 4 + li,
                    ld,
                    Decode::Ascii,
                    Role::Data,
                ));
                fields.push(field(
                    "SUSP ER extension source",
                    dat + 4 + li + ld,
                    ls,
                    Decode::Ascii,
                    Role::Data,
                ));
            }
            b"RE" => rr.relocated = true,
            b"CL" if d.len() >= 8 => {
                rr.child_link = Some(crate::le::u32(d, 0));
                fields.push(field(
                    "Rock Ridge CL child directory block",
                    dat,
                    8,
                    Decode::U32Both,
                    Role::Pointer,
                ));
            }
            b"PL" if d.len() >= 8 => {
                fields.push(field(
                    "Rock Ridge PL parent directory block",
                    dat,
                    8,
                    Decode::U32Both,
                    Role::Pointer,
                ));
            }
            b"ST" => return,
            _ => {
                if !d.is_empty() {
                    fields.push(Field {
                        name: name("data"),
                        offset: dat,
                        len: d.len() as u32,
                        decode: Decode::Bytes,
                        role: Role::Data,
                    });
                }
            }
        }
        pos += len;
    }
    if pos < area.len() {
        fields.push(field(
            "system use area padding",
            base + pos as u32,
            (area.len() - pos) as u32,
            Decode::Bytes,
            Role::Padding,
        ));
    }
}

fn field(name: &'static str, offset: u32, len: u32, decode: Decode, role: Role) -> Field {
    Field {
        name: Cow::Borrowed(name),
        offset,
        len,
        decode,
        role,
    }
}

/// Meta items of a record's Rock Ridge data.
pub fn times_meta(rr: &RockRidge) -> Vec<crate::Meta> {
    rr.times
        .iter()
        .map(|(n, v)| crate::Meta::new(*n, v.clone(), Role::Time))
        .collect()
}
