//! El Torito: the boot catalog (validation entry, initial entry, section headers and entries)
//! and what boot tools patch into boot images and the MBR: the boot info table
//! (`-boot-info-table`), GRUB2's boot info (`--grub2-boot-info`) and the GRUB2 MBR's pointer to
//! the boot image (`--grub2-mbr`).

use crate::io::{ReadAt, read_exact_at};
use crate::layout::{Decode, Role};
use crate::{Content, Entry, EntryKind};

use super::{Image, SECTOR};

/// A boot image named by the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootImage {
    /// 0 x86 BIOS, 0xef UEFI, ...
    pub platform: u8,
    pub lba: u32,
    /// In 512-byte virtual sectors.
    pub sectors: u16,
    /// The entry holding the image.
    pub member: Option<u32>,
}

fn platform_name(p: u8) -> &'static str {
    match p {
        0 => "BIOS",
        1 => "PowerPC",
        2 => "Mac",
        0xef => "UEFI",
        _ => "other platform",
    }
}

/// Parses the catalog at block `lba` and the patched boot info of its images.
pub fn catalog(src: &dyn ReadAt, lba: u32, sys: &[u8], img: &mut Image) {
    let at = u64::from(lba) * img.block_size;
    let mut cat = vec![0u8; SECTOR as usize];
    if read_exact_at(src, at, &mut cat).is_err() {
        img.notes.push(format!(
            "El Torito boot catalog at block {lba} is outside the image"
        ));
        return;
    }
    if cat[0] != 1 || cat[30..32] != [0x55, 0xaa] {
        img.notes.push(format!(
            "El Torito boot catalog at block {lba} has no valid validation entry"
        ));
        return;
    }
    let l = &mut img.layout;
    l.structure("El Torito validation entry", at, 32)
        .field("header id", 0, 1, Decode::U8, Role::Data)
        .field("platform id", 1, 1, Decode::U8, Role::Data)
        .field("reserved", 2, 2, Decode::Bytes, Role::Padding)
        .field("id string", 4, 24, Decode::Ascii, Role::Name)
        .field("checksum", 28, 2, Decode::Hex16Le, Role::Checksum)
        .field("key bytes", 30, 2, Decode::Bytes, Role::Data);
    let mut images = Vec::new();
    let mut platform = cat[1];
    let entry = |l: &mut crate::Layout, name: String, off: u64, section: bool| {
        let s = l
            .structure(name, at + off, 32)
            .field("boot indicator", 0, 1, Decode::U8, Role::Flags)
            .field("boot media type", 1, 1, Decode::U8, Role::Data)
            .field("load segment", 2, 2, Decode::Hex16Le, Role::Pointer)
            .field("system type", 4, 1, Decode::U8, Role::Data)
            .field("unused", 5, 1, Decode::U8, Role::Padding)
            .field("sector count", 6, 2, Decode::U16Le, Role::Size)
            .field("load block (RBA)", 8, 4, Decode::U32Le, Role::Pointer);
        if section {
            s.field("selection criteria type", 12, 1, Decode::U8, Role::Data)
                .field(
                    "vendor selection criteria",
                    13,
                    19,
                    Decode::Bytes,
                    Role::Data,
                );
        } else {
            s.field("unused", 12, 20, Decode::Bytes, Role::Padding);
        }
    };
    entry(
        l,
        format!(
            "El Torito initial/default entry ({})",
            platform_name(platform)
        ),
        32,
        false,
    );
    let e = &cat[32..64];
    images.push((platform, crate::le::u32(e, 8), crate::le::u16(e, 6)));
    let mut off = 64usize;
    let mut section = 0;
    while off + 32 <= cat.len() {
        let e = &cat[off..off + 32];
        match e[0] {
            0x90 | 0x91 => {
                section += 1;
                platform = e[1];
                let count = crate::le::u16(e, 2) as usize;
                l.structure(
                    format!(
                        "El Torito section header #{section} ({})",
                        platform_name(platform)
                    ),
                    at + off as u64,
                    32,
                )
                .field("header indicator", 0, 1, Decode::U8, Role::Flags)
                .field("platform id", 1, 1, Decode::U8, Role::Data)
                .field(
                    "number of section entries",
                    2,
                    2,
                    Decode::U16Le,
                    Role::Count,
                )
                .field("id string", 4, 28, Decode::Ascii, Role::Name);
                off += 32;
                for k in 0..count {
                    if off + 32 > cat.len() {
                        break;
                    }
                    let se = &cat[off..off + 32];
                    if se[0] == 0x44 {
                        l.structure(
                            format!("El Torito extension entry in section #{section}"),
                            at + off as u64,
                            32,
                        )
                        .field("extension indicator", 0, 1, Decode::U8, Role::Flags)
                        .field("flags", 1, 1, Decode::U8, Role::Flags)
                        .field(
                            "vendor unique selection criteria",
                            2,
                            30,
                            Decode::Bytes,
                            Role::Data,
                        );
                    } else {
                        entry(
                            l,
                            format!(
                                "El Torito section entry #{section}.{} ({})",
                                k + 1,
                                platform_name(platform)
                            ),
                            off as u64,
                            true,
                        );
                        images.push((platform, crate::le::u32(se, 8), crate::le::u16(se, 6)));
                    }
                    off += 32;
                }
                if e[0] == 0x91 {
                    break;
                }
            }
            _ => break,
        }
    }
    l.region(
        "unused boot catalog entries",
        at + off as u64,
        SECTOR - off as u64,
        Role::Padding,
    );

    for (platform, lba, sectors) in images {
        let start = u64::from(lba) * img.block_size;
        let member = img.entries.iter().position(|e| match &e.content {
            Content::Extents(x) => x.first().is_some_and(|r| r.start == start),
            _ => false,
        });
        let member = match member {
            Some(m) => m as u32,
            None => {
                // Not in the directory tree: compare what the catalog says is loaded.
                let len = (u64::from(sectors) * 512)
                    .max(SECTOR)
                    .min(src.size().saturating_sub(start));
                let n = img.entries.len() as u32;
                let name = format!(
                    "/[El Torito boot image {} ({})]",
                    n,
                    platform_name(platform)
                );
                img.layout
                    .content(format!("content of {name}"), start, len, Some(n));
                img.entries.push(Entry {
                    path: name,
                    kind: EntryKind::File,
                    size: len,
                    meta: Vec::new(),
                    content: Content::Extents(crate::extent(start..start + len)),
                });
                n
            }
        };
        let path = img.entries[member as usize].path.clone();
        patched_info(src, lba, start, sys, &path, img);
        img.boot_images.push(BootImage {
            platform,
            lba,
            sectors,
            member: Some(member),
        });
    }
}

/// Boot info tables written into a boot image, recognised by the values they must hold.
fn patched_info(src: &dyn ReadAt, lba: u32, start: u64, sys: &[u8], path: &str, img: &mut Image) {
    let mut b = [0u8; 16];
    if read_exact_at(src, start + 8, &mut b).is_ok()
        && crate::le::u32(&b, 0) == 16
        && crate::le::u32(&b, 4) == lba
    {
        img.layout
            .structure(
                format!("El Torito boot info table in {path}"),
                start + 8,
                56,
            )
            .field(
                "primary volume descriptor block",
                0,
                4,
                Decode::U32Le,
                Role::Pointer,
            )
            .field("boot file block", 4, 4, Decode::U32Le, Role::Pointer)
            .field("boot file length", 8, 4, Decode::U32Le, Role::Size)
            .field("boot file checksum", 12, 4, Decode::Hex32Le, Role::Checksum)
            .field("reserved", 16, 40, Decode::Bytes, Role::Padding);
    }
    let want = u64::from(lba) * 4;
    let mut g = [0u8; 8];
    if read_exact_at(src, start + 2548, &mut g).is_ok() && u64::from_le_bytes(g) == want + 5 {
        img.layout
            .structure(format!("GRUB2 boot info in {path}"), start + 2548, 8)
            .field(
                "boot image address (512-byte sector + 5)",
                0,
                8,
                Decode::U64Le,
                Role::Pointer,
            );
    }
    if sys.len() >= 440 && crate::le::u64(sys, 432) == want + 4 {
        img.layout
            .structure("GRUB2 MBR patch (--grub2-mbr)", 432, 8)
            .field(
                format!("address of boot image {path} (512-byte sector + 4)"),
                0,
                8,
                Decode::U64Le,
                Role::Pointer,
            );
    }
}
