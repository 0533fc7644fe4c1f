//! The master boot record: boot code, disk signature and the four primary partition entries.

use crate::layout::{Decode, Layout, Role};

/// One primary partition entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub status: u8,
    pub kind: u8,
    pub first_lba: u32,
    pub sectors: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mbr {
    pub disk_signature: u32,
    pub partitions: [Partition; 4],
}

impl Mbr {
    /// Reads an MBR from the first sector; `None` without the 0x55AA signature.
    pub fn parse(sector: &[u8]) -> Option<Self> {
        if sector.len() < 512 || sector[510..512] != [0x55, 0xaa] {
            return None;
        }
        let mut partitions = [Partition::default(); 4];
        for (i, p) in partitions.iter_mut().enumerate() {
            let e = &sector[446 + 16 * i..462 + 16 * i];
            *p = Partition {
                status: e[0],
                kind: e[4],
                first_lba: crate::le::u32(e, 8),
                sectors: crate::le::u32(e, 12),
            };
        }
        Some(Self {
            disk_signature: crate::le::u32(sector, 440),
            partitions,
        })
    }

    /// Adds the MBR's structures at `base` (the start of the disk).
    pub fn layout(&self, l: &mut Layout, base: u64) {
        l.region("MBR boot code", base, 440, Role::Data);
        l.structure("MBR", base + 440, 6)
            .field("disk signature", 0, 4, Decode::Hex32Le, Role::Identifier)
            .field("reserved", 4, 2, Decode::Bytes, Role::Padding);
        for i in 0..4u32 {
            l.structure(
                format!("MBR partition entry {}", i + 1),
                base + 446 + 16 * u64::from(i),
                16,
            )
            .field("status", 0, 1, Decode::U8, Role::Flags)
            .field("first sector (CHS)", 1, 3, Decode::Bytes, Role::Pointer)
            .field("partition type", 4, 1, Decode::U8, Role::Data)
            .field("last sector (CHS)", 5, 3, Decode::Bytes, Role::Pointer)
            .field("first sector (LBA)", 8, 4, Decode::U32Le, Role::Pointer)
            .field("number of sectors", 12, 4, Decode::U32Le, Role::Size);
        }
        l.structure("MBR", base + 510, 2).field(
            "boot signature",
            0,
            2,
            Decode::Hex16Le,
            Role::Data,
        );
    }
}
