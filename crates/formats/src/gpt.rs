//! The GUID partition table: primary and backup headers and their partition entry arrays.

use crate::io::{ReadAt, read_exact_at};
use crate::layout::{Decode, Layout, Role};
use crate::{Error, Limits, Result};

pub const SECTOR: u64 = 512;

/// One partition entry in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub type_guid: [u8; 16],
    pub first_lba: u64,
    pub last_lba: u64,
    pub name: String,
}

/// A GPT header and the entries it points to.
#[derive(Clone, Debug)]
pub struct Gpt {
    pub header_lba: u64,
    pub alternate_lba: u64,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub partitions: Vec<Partition>,
}

impl Gpt {
    /// Reads the header at `lba` (512-byte sectors) if it carries the `EFI PART` signature.
    pub fn read(src: &dyn ReadAt, lba: u64, limits: &Limits) -> Result<Option<Self>> {
        let mut h = [0u8; 92];
        let Some(off) = lba.checked_mul(SECTOR) else {
            return Ok(None);
        };
        if read_exact_at(src, off, &mut h).is_err() || &h[..8] != b"EFI PART" {
            return Ok(None);
        }
        let entries_lba = crate::le::u64(&h, 72);
        let entry_count = crate::le::u32(&h, 80);
        let entry_size = crate::le::u32(&h, 84);
        if !(128..=4096).contains(&entry_size)
            || entry_count as usize > limits.max_entries.min(65_536)
        {
            return Err(Error::corrupt(format!(
                "GPT header at LBA {lba}: {entry_count} entries of {entry_size} bytes is not plausible"
            )));
        }
        let mut partitions = Vec::new();
        let mut e = vec![0u8; entry_size as usize];
        for i in 0..entry_count {
            let at = entries_lba
                .checked_mul(SECTOR)
                .and_then(|b| b.checked_add(u64::from(i) * u64::from(entry_size)))
                .ok_or_else(|| Error::corrupt("GPT entry array offset overflows"))?;
            if read_exact_at(src, at, &mut e).is_err() {
                break;
            }
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let name = match Decode::Utf16Le.decode(&e[56..128]) {
                crate::Value::Text(t) => t,
                _ => String::new(),
            };
            partitions.push(Partition {
                index: i + 1,
                type_guid: e[..16].try_into().unwrap_or_default(),
                first_lba: crate::le::u64(&e, 32),
                last_lba: crate::le::u64(&e, 40),
                name,
            });
        }
        Ok(Some(Self {
            header_lba: lba,
            alternate_lba: crate::le::u64(&h, 32),
            entries_lba,
            entry_count,
            entry_size,
            partitions,
        }))
    }

    /// Adds this header and its entry array (used entries field by field, unused slots as one
    /// span) to `l`. `which` is "primary" or "backup".
    pub fn layout(&self, l: &mut Layout, which: &str) {
        l.structure(
            format!("GPT {which} header"),
            self.header_lba.saturating_mul(SECTOR),
            92,
        )
        .field("signature", 0, 8, Decode::Ascii, Role::Data)
        .field("revision", 8, 4, Decode::Hex32Le, Role::Data)
        .field("header size", 12, 4, Decode::U32Le, Role::Size)
        .field("header CRC32", 16, 4, Decode::Hex32Le, Role::Checksum)
        .field("reserved", 20, 4, Decode::Bytes, Role::Padding)
        .field("current LBA", 24, 8, Decode::U64Le, Role::Pointer)
        .field("backup LBA", 32, 8, Decode::U64Le, Role::Pointer)
        .field("first usable LBA", 40, 8, Decode::U64Le, Role::Pointer)
        .field("last usable LBA", 48, 8, Decode::U64Le, Role::Pointer)
        .field("disk GUID", 56, 16, Decode::Guid, Role::Identifier)
        .field("partition entries LBA", 72, 8, Decode::U64Le, Role::Pointer)
        .field(
            "number of partition entries",
            80,
            4,
            Decode::U32Le,
            Role::Count,
        )
        .field("size of partition entry", 84, 4, Decode::U32Le, Role::Size)
        .field(
            "partition entries CRC32",
            88,
            4,
            Decode::Hex32Le,
            Role::Checksum,
        );
        l.region(
            format!("GPT {which} header reserved bytes"),
            self.header_lba.saturating_mul(SECTOR).saturating_add(92),
            SECTOR - 92,
            Role::Padding,
        );
        let base = self.entries_lba.saturating_mul(SECTOR);
        let es = u64::from(self.entry_size);
        let mut next_unused = 0u64;
        for p in &self.partitions {
            let i = u64::from(p.index - 1);
            if i > next_unused {
                l.region(
                    format!("GPT {which} unused entries {}..{}", next_unused + 1, i),
                    base.saturating_add(next_unused * es),
                    (i - next_unused) * es,
                    Role::Padding,
                );
            }
            let label = if p.name.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.name)
            };
            l.structure(
                format!("GPT {which} partition entry {}{label}", p.index),
                base.saturating_add(i * es),
                es,
            )
            .field("partition type GUID", 0, 16, Decode::Guid, Role::Data)
            .field(
                "unique partition GUID",
                16,
                16,
                Decode::Guid,
                Role::Identifier,
            )
            .field("first LBA", 32, 8, Decode::U64Le, Role::Pointer)
            .field("last LBA", 40, 8, Decode::U64Le, Role::Pointer)
            .field("attribute flags", 48, 8, Decode::Bytes, Role::Flags)
            .field(
                "partition name",
                56,
                (es - 56).min(72) as u32,
                Decode::Utf16Le,
                Role::Name,
            );
            next_unused = i + 1;
        }
        let total = u64::from(self.entry_count);
        if total > next_unused {
            l.region(
                format!("GPT {which} unused entries {}..{}", next_unused + 1, total),
                base.saturating_add(next_unused * es),
                (total - next_unused) * es,
                Role::Padding,
            );
        }
    }

    /// Byte range of the entry array.
    pub fn entries_range(&self) -> std::ops::Range<u64> {
        let s = self.entries_lba.saturating_mul(SECTOR);
        s..s.saturating_add(u64::from(self.entry_count) * u64::from(self.entry_size))
    }
}
