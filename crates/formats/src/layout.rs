//! Layouts: where each on-disk structure and field of a parsed image lives, and how to decode it.
//!
//! A [`Layout`] is a list of named byte spans ([`Structure`]s) in the coordinates of one byte
//! stream, each split into [`Field`]s that know how to decode their bytes into a [`Value`].
//! Spans may nest (a boot info table inside a boot image's content); the innermost span that
//! holds a byte is the one that explains it. Parsers fill layouts; the diff engine uses them to
//! attribute differing bytes and to decode both sides' values.

use std::borrow::Cow;
use std::fmt;

/// What a field means, so that reports and hints can reason about it without knowing the
/// format (a time that is later than SOURCE_DATE_EPOCH, a random serial, a pointer that moved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Anything without a more specific meaning.
    Data,
    /// A timestamp.
    Time,
    /// A value that identifies an instance and is often random: UUID, GUID, volume serial.
    Identifier,
    /// Permission and type bits.
    Mode,
    /// A numeric owner (uid, gid) or an owner name.
    Owner,
    /// A byte count or length.
    Size,
    /// A location of other data (offset, block number, LBA, inode reference).
    Pointer,
    /// A count of items.
    Count,
    /// A checksum or CRC over other bytes.
    Checksum,
    /// A name or path.
    Name,
    /// Flag bits.
    Flags,
    /// File content or other payload bytes.
    Content,
    /// Compressed bytes: a difference inside is explained by the decompressed stream.
    Compressed,
    /// Padding or unused bytes.
    Padding,
}

/// How to decode a field's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Shown as hex.
    Bytes,
    U8,
    U16Le,
    U16Be,
    U32Le,
    U32Be,
    U64Le,
    I16Le,
    /// ISO 9660 both-byte-order 16-bit (little-endian half first).
    U16Both,
    /// ISO 9660 both-byte-order 32-bit.
    U32Both,
    /// A 32-bit value shown as 0x%08x (serials, flags).
    Hex32Le,
    Hex16Le,
    /// Printable ASCII text, trailing spaces and NULs trimmed.
    Ascii,
    /// UCS-2 big-endian text (Joliet).
    Ucs2Be,
    /// UTF-16 little-endian text (GPT partition names, FAT long names).
    Utf16Le,
    /// ISO 9660 7-byte directory record date.
    IsoDate7,
    /// ISO 9660 17-byte volume descriptor date.
    IsoDate17,
    /// Seconds since the Unix epoch, unsigned 32-bit little-endian.
    UnixTime32Le,
    /// Seconds since the Unix epoch, signed 64-bit little-endian.
    UnixTime64Le,
    /// FAT date (days).
    FatDate,
    /// FAT time (two-second resolution).
    FatTime,
    /// Mixed-endian GUID as used by GPT.
    Guid,
    /// ASCII octal number (tar, ar mode, cpio odc).
    Octal,
    /// ASCII octal Unix time (tar, cpio odc).
    OctalTime,
    /// ASCII decimal number (ar).
    Decimal,
    /// ASCII decimal Unix time (ar).
    DecimalTime,
    /// ASCII hexadecimal number (cpio newc).
    HexAscii,
    /// ASCII hexadecimal Unix time (cpio newc).
    HexAsciiTime,
    /// ASCII hexadecimal file mode (cpio newc).
    HexAsciiMode,
    /// ASCII octal file mode (tar, cpio odc, ar).
    OctalMode,
    /// 16-bit little-endian permission bits (squashfs).
    ModeU16Le,
    /// 32-bit little-endian mode (Rock Ridge PX, both-endian).
    ModeU32Both,
    /// 16-bit big-endian mode (HFS+).
    ModeU16Be,
    /// HFS+ date: big-endian seconds since 1904-01-01.
    HfsDate,
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(u64),
    Signed(i64),
    /// A number best shown in hex, with its width in digits.
    Hex(u64, u8),
    Text(String),
    Bytes(Vec<u8>),
    Time(Timestamp),
    /// A time of day without a date (FAT time fields), in seconds.
    TimeOfDay(u32),
    /// A date field that is all zeros or otherwise "not specified".
    Unset,
    /// A type+permission mode.
    Mode(u32),
    Guid([u8; 16]),
    /// Bytes that could not be decoded as the field says, shown raw.
    Invalid(Vec<u8>),
}

/// A point in time: seconds since the epoch plus optional sub-second part and UTC offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub unix: i64,
    /// Nanoseconds, when the format records them.
    pub nanos: Option<u32>,
    /// Offset from UTC in minutes, when the format records it.
    pub utc_offset_min: Option<i16>,
}

impl Timestamp {
    pub fn secs(unix: i64) -> Self {
        Self {
            unix,
            nanos: None,
            utc_offset_min: None,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp(self.unix) {
            Ok(t) => {
                write!(
                    f,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )?;
                if let Some(n) = self.nanos.filter(|&n| n != 0) {
                    if n % 10_000_000 == 0 {
                        write!(f, ".{:02}", n / 10_000_000)?;
                    } else {
                        write!(f, ".{n:09}")?;
                    }
                }
                write!(f, " UTC")?;
                if let Some(o) = self.utc_offset_min.filter(|&o| o != 0) {
                    write!(
                        f,
                        " (recorded with offset {:+03}:{:02})",
                        o / 60,
                        (o % 60).abs()
                    )?;
                }
                Ok(())
            }
            Err(_) => write!(f, "@{}", self.unix),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::Hex(v, w) => write!(f, "0x{v:0w$x}", w = *w as usize),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Bytes(b) | Value::Invalid(b) => {
                if matches!(self, Value::Invalid(_)) {
                    f.write_str("invalid ")?;
                }
                write_hex(f, b)
            }
            Value::Time(t) => write!(f, "{t}"),
            Value::TimeOfDay(s) => write!(f, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
            Value::Unset => f.write_str("(not set)"),
            Value::Mode(m) => write!(f, "{} ({:04o})", mode_string(*m), m & 0o7777),
            Value::Guid(g) => write!(f, "{}", guid_string(g)),
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    const SHOWN: usize = 32;
    for x in b.iter().take(SHOWN) {
        write!(f, "{x:02x}")?;
    }
    if b.len() > SHOWN {
        write!(f, "… ({} bytes)", b.len())?;
    }
    Ok(())
}

/// `ls -l` style rendering of a Unix mode.
pub fn mode_string(m: u32) -> String {
    let t = match m & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        0o100000 => '-',
        _ => '?',
    };
    let mut s = String::with_capacity(10);
    // Permission bits alone (squashfs stores type separately) get no type character.
    if m & 0o170000 != 0 {
        s.push(t);
    }
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let set = m & bit != 0;
        let special = match i {
            2 => m & 0o4000 != 0,
            5 => m & 0o2000 != 0,
            8 => m & 0o1000 != 0,
            _ => false,
        };
        s.push(match (set, special, i) {
            (true, true, 8) => 't',
            (false, true, 8) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => *c,
            (false, false, _) => '-',
        });
    }
    s
}

/// Canonical text form of a mixed-endian (GPT) GUID.
pub fn guid_string(g: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Makes a name printable: control characters, `\` and invalid UTF-8 become escapes.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path component made safe to join with `/`: a `/` inside a name is escaped, so a hostile
/// name can never look like more than one component.
pub fn component(bytes: &[u8]) -> String {
    printable(bytes).replace('/', "\\x2f")
}

impl Decode {
    /// Decodes `b` (the field's bytes). Never panics: wrong lengths give [`Value::Invalid`].
    pub fn decode(self, b: &[u8]) -> Value {
        self.try_decode(b)
            .unwrap_or_else(|| Value::Invalid(b.to_vec()))
    }

    fn try_decode(self, b: &[u8]) -> Option<Value> {
        let le = |n: usize| -> Option<u64> {
            let s = b.get(..n)?;
            Some(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        };
        let be = |n: usize| -> Option<u64> {
            let s = b.get(..n)?;
            Some(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        };
        Some(match self {
            Decode::Bytes => Value::Bytes(b.to_vec()),
            Decode::U8 => Value::Int(u64::from(*b.first()?)),
            Decode::U16Le | Decode::U16Both => Value::Int(le(2)?),
            Decode::U16Be => Value::Int(be(2)?),
            Decode::U32Le | Decode::U32Both => Value::Int(le(4)?),
            Decode::U32Be => Value::Int(be(4)?),
            Decode::U64Le => Value::Int(le(8)?),
            Decode::I16Le => Value::Signed(i64::from(le(2)? as u16 as i16)),
            Decode::Hex32Le => Value::Hex(le(4)?, 8),
            Decode::Hex16Le => Value::Hex(le(2)?, 4),
            Decode::Ascii => {
                let t = trim_text(b);
                Value::Text(printable(t))
            }
            Decode::Ucs2Be => {
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Value::Text(
                    String::from_utf16_lossy(&units)
                        .trim_end_matches([' ', '\0'])
                        .into(),
                )
            }
            Decode::Utf16Le => {
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                Value::Text(String::from_utf16_lossy(&units[..end]))
            }
            Decode::IsoDate7 => iso_date7(b)?,
            Decode::IsoDate17 => iso_date17(b)?,
            Decode::UnixTime32Le => Value::Time(Timestamp::secs(le(4)? as i64)),
            Decode::UnixTime64Le => Value::Time(Timestamp::secs(le(8)? as i64)),
            Decode::FatDate => {
                let d = le(2)? as u16;
                if d == 0 {
                    Value::Unset
                } else {
                    Value::Time(Timestamp::secs(fat_datetime(d, 0)?))
                }
            }
            Decode::FatTime => {
                let t = le(2)? as u16;
                let (h, m, s) = (
                    u32::from(t >> 11),
                    u32::from((t >> 5) & 63),
                    u32::from(t & 31) * 2,
                );
                Value::TimeOfDay(h * 3600 + m * 60 + s)
            }
            Decode::Guid => Value::Guid(b.get(..16)?.try_into().ok()?),
            Decode::Octal => Value::Int(ascii_num(b, 8)?),
            Decode::OctalTime => Value::Time(Timestamp::secs(ascii_num(b, 8)? as i64)),
            Decode::OctalMode => Value::Mode(ascii_num(b, 8)? as u32),
            Decode::Decimal => Value::Int(ascii_num(b, 10)?),
            Decode::DecimalTime => Value::Time(Timestamp::secs(ascii_num(b, 10)? as i64)),
            Decode::HexAscii => Value::Int(ascii_num(b, 16)?),
            Decode::HexAsciiTime => Value::Time(Timestamp::secs(ascii_num(b, 16)? as i64)),
            Decode::HexAsciiMode => Value::Mode(ascii_num(b, 16)? as u32),
            Decode::ModeU16Le => Value::Mode(le(2)? as u32),
            Decode::ModeU32Both => Value::Mode(le(4)? as u32),
            Decode::ModeU16Be => Value::Mode(be(2)? as u32),
            Decode::HfsDate => match be(4)? {
                0 => Value::Unset,
                v => Value::Time(Timestamp::secs(v as i64 - 2_082_844_800)),
            },
        })
    }
}

fn trim_text(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(0, |p| p + 1);
    &b[..end]
}

/// Parses an ASCII number in `radix`, allowing surrounding spaces and NULs (tar, ar, cpio).
pub fn ascii_num(b: &[u8], radix: u32) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, radix).ok()
}

/// Seconds since the epoch of a FAT date and time.
pub fn fat_datetime(date: u16, time: u16) -> Option<i64> {
    let year = 1980 + i32::from(date >> 9);
    let month = time::Month::try_from(((date >> 5) & 15) as u8).ok()?;
    let day = (date & 31) as u8;
    let d = time::Date::from_calendar_date(year, month, day).ok()?;
    let (h, m, s) = (
        (time >> 11) as u8,
        ((time >> 5) & 63) as u8,
        ((time & 31) * 2) as u8,
    );
    let t = time::Time::from_hms(h, m, s).ok()?;
    Some(d.with_time(t).assume_utc().unix_timestamp())
}

fn civil(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Option<i64> {
    let date = time::Date::from_calendar_date(y, time::Month::try_from(mo).ok()?, d).ok()?;
    let t = time::Time::from_hms(h, mi, s).ok()?;
    Some(date.with_time(t).assume_utc().unix_timestamp())
}

fn iso_date7(b: &[u8]) -> Option<Value> {
    let b = b.get(..7)?;
    if b[..6].iter().all(|&x| x == 0) {
        return Some(Value::Unset);
    }
    let off = i16::from(b[6] as i8) * 15;
    let local = civil(1900 + i32::from(b[0]), b[1], b[2], b[3], b[4], b[5])?;
    Some(Value::Time(Timestamp {
        unix: local - i64::from(off) * 60,
        nanos: None,
        utc_offset_min: Some(off),
    }))
}

fn iso_date17(b: &[u8]) -> Option<Value> {
    let b = b.get(..17)?;
    if b[..16].iter().all(|&x| x == b'0' || x == 0) {
        return Some(Value::Unset);
    }
    let digits = std::str::from_utf8(&b[..16]).ok()?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
    let off = i16::from(b[16] as i8) * 15;
    let local = civil(
        n(0..4)? as i32,
        n(4..6)? as u8,
        n(6..8)? as u8,
        n(8..10)? as u8,
        n(10..12)? as u8,
        n(12..14)? as u8,
    )?;
    Some(Value::Time(Timestamp {
        unix: local - i64::from(off) * 60,
        nanos: Some(n(14..16)? * 10_000_000),
        utc_offset_min: Some(off),
    }))
}

/// One field of a structure, at an offset relative to the structure's start.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: Cow<'static, str>,
    pub offset: u32,
    /// Length in bytes, or [`Field::REST`].
    pub len: u32,
    pub decode: Decode,
    pub role: Role,
}

impl Field {
    /// A length meaning "to the end of the structure", so that structures of varying size
    /// (a name, a block list) can share one static field table.
    pub const REST: u32 = u32::MAX;

    /// A field for static tables.
    pub const fn fixed(
        name: &'static str,
        offset: u32,
        len: u32,
        decode: Decode,
        role: Role,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            offset,
            len,
            decode,
            role,
        }
    }
}

/// A named span of bytes: an on-disk structure, a member's content, or an opaque region.
#[derive(Clone, Debug)]
pub struct Structure {
    pub name: String,
    pub start: u64,
    pub len: u64,
    /// Owned, or a static table shared by every structure of a kind (big tables stay small).
    pub fields: Cow<'static, [Field]>,
    /// Set when the span holds the content of entry `member` of the parsed container, so that
    /// the diff engine can descend into that member's own layout.
    pub member: Option<u32>,
    /// The role of bytes not covered by a field (content, compressed data, padding).
    pub role: Role,
}

impl Structure {
    /// A structure whose fields were collected elsewhere.
    pub fn with_fields(
        name: impl Into<String>,
        start: u64,
        len: u64,
        fields: impl Into<Cow<'static, [Field]>>,
    ) -> Self {
        Self {
            name: name.into(),
            start,
            len,
            fields: fields.into(),
            member: None,
            role: Role::Data,
        }
    }

    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// Where `f` is: its absolute start and its length (resolving [`Field::REST`]).
    pub fn span_of(&self, f: &Field) -> (u64, u64) {
        let start = self.start.saturating_add(u64::from(f.offset));
        let len = if f.len == Field::REST {
            self.len.saturating_sub(u64::from(f.offset))
        } else {
            u64::from(f.len)
        };
        (start, len)
    }
}

/// The structures found in one byte stream.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub structures: Vec<Structure>,
}

/// Builds the fields of one structure at a time.
pub struct StructBuilder<'a> {
    layout: &'a mut Layout,
    index: usize,
}

impl Layout {
    pub fn new() -> Self {
        Self::default()
    }

    /// A layout with room for `n` structures.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            structures: Vec::with_capacity(n),
        }
    }

    /// Starts a structure at `start` of `len` bytes; add fields with the returned builder.
    pub fn structure(
        &mut self,
        name: impl Into<String>,
        start: u64,
        len: u64,
    ) -> StructBuilder<'_> {
        self.structures.push(Structure {
            name: name.into(),
            start,
            len,
            fields: Cow::Borrowed(&[]),
            member: None,
            role: Role::Data,
        });
        let index = self.structures.len() - 1;
        StructBuilder {
            layout: self,
            index,
        }
    }

    /// A span holding the content of entry `member`.
    pub fn content(&mut self, name: impl Into<String>, start: u64, len: u64, member: Option<u32>) {
        self.structure(name, start, len)
            .role(Role::Content)
            .member(member);
    }

    /// An opaque span (compressed data, padding, boot code) whose bytes have one role.
    pub fn region(&mut self, name: impl Into<String>, start: u64, len: u64, role: Role) {
        if len > 0 {
            self.structure(name, start, len).role(role);
        }
    }

    /// Drops spare capacity; layouts of large tables hold hundreds of thousands of fields.
    pub fn shrink_to_fit(&mut self) {
        self.structures.shrink_to_fit();
        for s in &mut self.structures {
            if let Cow::Owned(v) = &mut s.fields {
                v.shrink_to_fit();
            }
        }
    }

    pub fn push(&mut self, s: Structure) {
        self.structures.push(s);
    }

    pub fn len(&self) -> usize {
        self.structures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.structures.is_empty()
    }

    /// Names every part of `range` that no structure covers yet.
    pub fn fill_gaps(&mut self, range: std::ops::Range<u64>, name: &str, role: Role) {
        let mut inside: Vec<(u64, u64)> = self
            .structures
            .iter()
            .filter(|s| s.start < range.end && s.end() > range.start)
            .map(|s| (s.start.max(range.start), s.end().min(range.end)))
            .collect();
        inside.sort_unstable();
        let mut pos = range.start;
        let mut gaps = Vec::new();
        for (s, e) in inside {
            if s > pos {
                gaps.push((pos, s));
            }
            pos = pos.max(e);
        }
        if pos < range.end {
            gaps.push((pos, range.end));
        }
        for (s, e) in gaps {
            self.region(name, s, e - s, role);
        }
    }

    /// Appends another layout whose coordinates start at `offset` in this one.
    pub fn append_shifted(&mut self, other: Layout, offset: u64) {
        for mut s in other.structures {
            s.start = s.start.saturating_add(offset);
            self.structures.push(s);
        }
    }
}

impl StructBuilder<'_> {
    fn s(&mut self) -> &mut Structure {
        &mut self.layout.structures[self.index]
    }

    /// Adds a field of `len` bytes at `offset` within the structure.
    pub fn field(
        mut self,
        name: impl Into<Cow<'static, str>>,
        offset: u32,
        len: u32,
        decode: Decode,
        role: Role,
    ) -> Self {
        let name = name.into();
        self.s().fields.to_mut().push(Field {
            name,
            offset,
            len,
            decode,
            role,
        });
        self
    }

    pub fn role(mut self, role: Role) -> Self {
        self.s().role = role;
        self
    }

    pub fn member(mut self, member: Option<u32>) -> Self {
        self.s().member = member;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_decode_with_offsets() {
        // 2025-11-24 17:00:00 at UTC+1 (4 quarter hours) is 16:00:00 UTC.
        let v = Decode::IsoDate7.decode(&[125, 11, 24, 17, 0, 0, 4]);
        let Value::Time(t) = v else { panic!("{v:?}") };
        assert_eq!(t.unix, 1_764_000_000);
        let v = Decode::IsoDate17.decode(b"2025112416000012\0");
        let Value::Time(t) = v else { panic!("{v:?}") };
        assert_eq!(t.unix, 1_764_000_000);
        assert_eq!(t.to_string(), "2025-11-24 16:00:00.12 UTC");
        assert_eq!(
            Decode::IsoDate17.decode(b"0000000000000000\0"),
            Value::Unset
        );
        assert!(matches!(
            Decode::IsoDate7.decode(&[1, 13, 40, 0, 0, 0, 0]),
            Value::Invalid(_)
        ));
    }

    #[test]
    fn fat_and_ascii_fields() {
        // 2025-11-24: (45 << 9) | (11 << 5) | 24
        let v = Decode::FatDate.decode(&((45u16 << 9) | (11 << 5) | 24).to_le_bytes());
        assert_eq!(v.to_string(), "2025-11-24 00:00:00 UTC");
        assert_eq!(Decode::Octal.decode(b"0000644\0"), Value::Int(0o644));
        assert_eq!(
            Decode::HexAsciiTime.decode(b"6924CC80").to_string(),
            "2025-11-24 21:22:08 UTC"
        );
        assert_eq!(Decode::U32Le.decode(&[1, 2]), Value::Invalid(vec![1, 2]));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(component(b"../a/b\0\xff"), "..\\x2fa\\x2fb\\u{0}\\xff");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(Value::Mode(0o40755).to_string(), "drwxr-xr-x (0755)");
    }

    #[test]
    fn guid_text_form() {
        let g = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        assert_eq!(guid_string(&g), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    }
}
