//! The Apple partition map: the driver descriptor map in block 0 and the partition entries
//! after it (xorriso writes one for HFS+ hybrids, with 2048-byte blocks).

use crate::io::{ReadAt, read_exact_at};
use crate::layout::{Decode, Layout, Role};

/// A partition entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub kind: String,
    /// Byte range in the image.
    pub start: u64,
    pub len: u64,
}

/// Reads the map if block 0 starts with `ER`; adds its structures to `l`.
pub fn parse(src: &dyn ReadAt, l: &mut Layout) -> Vec<Partition> {
    let mut ddm = [0u8; 8];
    if read_exact_at(src, 0, &mut ddm).is_err() || &ddm[..2] != b"ER" {
        return Vec::new();
    }
    let bs = u64::from(u16::from_be_bytes([ddm[2], ddm[3]]));
    if !(512..=4096).contains(&bs) || !bs.is_power_of_two() {
        return Vec::new();
    }
    l.structure("APM driver descriptor map", 0, 8)
        .field("signature", 0, 2, Decode::Ascii, Role::Data)
        .field("block size", 2, 2, Decode::U16Be, Role::Size)
        .field("block count", 4, 4, Decode::U32Be, Role::Size);
    let mut out = Vec::new();
    let mut count = 1u64;
    let mut i = 1u64;
    while i <= count && i <= 64 {
        let at = i * bs;
        let mut e = [0u8; 136];
        if read_exact_at(src, at, &mut e).is_err() || &e[..2] != b"PM" {
            break;
        }
        let be32 = |o: usize| u64::from(u32::from_be_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]));
        count = be32(4);
        let text = |r: std::ops::Range<usize>| match Decode::Ascii.decode(&e[r]) {
            crate::Value::Text(t) => t,
            _ => String::new(),
        };
        let (name, kind) = (text(16..48), text(48..80));
        l.structure(format!("APM partition entry {i} ({name})"), at, 136)
            .field("signature", 0, 2, Decode::Ascii, Role::Data)
            .field("reserved", 2, 2, Decode::Bytes, Role::Padding)
            .field("number of map entries", 4, 4, Decode::U32Be, Role::Count)
            .field("first block", 8, 4, Decode::U32Be, Role::Pointer)
            .field("block count", 12, 4, Decode::U32Be, Role::Size)
            .field("name", 16, 32, Decode::Ascii, Role::Name)
            .field("type", 48, 32, Decode::Ascii, Role::Name)
            .field("data start", 80, 4, Decode::U32Be, Role::Pointer)
            .field("data blocks", 84, 4, Decode::U32Be, Role::Size)
            .field("status", 88, 4, Decode::U32Be, Role::Flags)
            .field("boot code start", 92, 4, Decode::U32Be, Role::Pointer)
            .field("boot code size", 96, 4, Decode::U32Be, Role::Size)
            .field("boot load address", 100, 8, Decode::Bytes, Role::Pointer)
            .field("boot entry", 108, 8, Decode::Bytes, Role::Pointer)
            .field("boot checksum", 116, 4, Decode::U32Be, Role::Checksum)
            .field("processor", 120, 16, Decode::Ascii, Role::Name);
        l.region(
            format!("APM partition entry {i} reserved bytes"),
            at + 136,
            512 - 136,
            Role::Padding,
        );
        out.push(Partition {
            name,
            kind,
            start: be32(8) * bs,
            len: be32(12) * bs,
        });
        i += 1;
    }
    out
}
