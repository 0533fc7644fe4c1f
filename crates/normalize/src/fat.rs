//! The UEFI El Torito image: a FAT file system whose volume serial (mformat, as used by
//! grub-mkrescue, picks a random one) and directory-entry dates (the clock when the files were
//! copied) differ on every run. Both are set in place: the serial to the epoch's low 32 bits
//! (as Debian's live-build and the native pipeline's `mkfs.fat -i` do), and every creation,
//! access and modification date of every directory entry to the epoch. Nothing else moves, so
//! the image stays what its builder made.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use isoforge_formats::fat::FatType;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;

/// Larger FAT images are refused (an EFI boot image is a few MiB).
pub const MAX_IMAGE: u64 = 128 << 20;
const MAX_DEPTH: usize = 32;

/// What was pinned in one FAT image.
#[derive(Debug, Clone, Serialize)]
pub struct FatReport {
    pub path: String,
    pub fat_type: String,
    pub serial_from: String,
    pub serial_to: String,
    /// Directory entries whose dates were set to the epoch.
    pub entries_pinned: usize,
}

/// The epoch as a DOS `(date, time, tenths)` (UTC; FAT has no zone).
pub fn dos_datetime(epoch: i64) -> (u16, u16, u8) {
    let t = OffsetDateTime::from_unix_timestamp(epoch).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let year = (t.year() - 1980).clamp(0, 127) as u16;
    let date = (year << 9) | (u16::from(u8::from(t.month())) << 5) | u16::from(t.day());
    let time =
        (u16::from(t.hour()) << 11) | (u16::from(t.minute()) << 5) | u16::from(t.second() / 2);
    (date, time, (t.second() % 2) * 100)
}

/// Pins the serial and every date of the FAT image at `path` (in the work tree).
pub fn pin(path: &Path, shown: &str, epoch: i64) -> Result<FatReport, Error> {
    let bad = |m: String| Error::Invalid(format!("EFI image {shown}: {m}"));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc_nofollow())
        .open(path)
        .map_err(|e| bad(format!("cannot open: {e}")))?;
    let len = f.metadata().map_err(|e| bad(e.to_string()))?.len();
    if len > MAX_IMAGE {
        return Err(bad(format!("{len} bytes; at most {MAX_IMAGE} are read")));
    }
    let mut img = Vec::with_capacity(len as usize);
    f.read_to_end(&mut img).map_err(|e| bad(e.to_string()))?;
    let geo =
        isoforge_formats::fat::geometry(&img).map_err(|_| bad("not a FAT file system".into()))?;
    let fat32 = geo.kind() == FatType::Fat32;
    let serial_at = geo.serial_offset();
    let new_serial = (epoch as u64 & 0xffff_ffff) as u32;
    let old_serial = le32(&img, serial_at);
    // Only with the extended boot signature is there a serial at all.
    if img[serial_at - 1] == 0x29 {
        img[serial_at..serial_at + 4].copy_from_slice(&new_serial.to_le_bytes());
        if let Some(backup) = geo.backup_boot_sector().map(|b| b as usize)
            && backup + 512 <= img.len()
        {
            img[backup + serial_at..backup + serial_at + 4]
                .copy_from_slice(&new_serial.to_le_bytes());
        }
    }
    let (date, time, tenths) = dos_datetime(epoch);
    let mut pinned = 0;
    let mut todo = vec![(geo.root(&img), 0usize)];
    let mut seen = std::collections::HashSet::new();
    while let Some((ranges, depth)) = todo.pop() {
        'dir: for r in ranges {
            let (mut at, e) = (r.start as usize, r.end as usize);
            while at + 32 <= e {
                let ent = &mut img[at..at + 32];
                at += 32;
                match ent[0] {
                    0x00 => break 'dir,
                    0xe5 => continue,
                    _ => {}
                }
                if ent[11] & 0x3f == 0x0f {
                    continue; // a long-name piece: no dates
                }
                ent[13] = tenths;
                ent[14..16].copy_from_slice(&time.to_le_bytes());
                ent[16..18].copy_from_slice(&date.to_le_bytes());
                ent[18..20].copy_from_slice(&date.to_le_bytes());
                ent[22..24].copy_from_slice(&time.to_le_bytes());
                ent[24..26].copy_from_slice(&date.to_le_bytes());
                pinned += 1;
                let is_dot = ent[0] == b'.';
                if ent[11] & 0x10 != 0 && !is_dot && depth < MAX_DEPTH {
                    let hi = if fat32 { le16(ent, 20) } else { 0 };
                    let cl = (hi << 16) | le16(ent, 26);
                    if seen.insert(cl) {
                        let chain = geo.chain(&img, cl);
                        todo.push((chain, depth + 1));
                    }
                }
            }
        }
    }
    f.seek(SeekFrom::Start(0)).map_err(|e| bad(e.to_string()))?;
    f.write_all(&img)
        .map_err(|e| bad(format!("cannot write: {e}")))?;
    Ok(FatReport {
        path: shown.to_string(),
        fat_type: match geo.kind() {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        }
        .to_string(),
        serial_from: format!("{old_serial:08x}"),
        serial_to: format!("{new_serial:08x}"),
        entries_pinned: pinned,
    })
}

fn le16(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn libc_nofollow() -> i32 {
    nix::libc::O_NOFOLLOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_dates_of_the_epoch() {
        // 2023-11-14 22:13:20 UTC
        let (d, t, tenths) = dos_datetime(1_700_000_000);
        assert_eq!(d >> 9, 43);
        assert_eq!((d >> 5) & 0xf, 11);
        assert_eq!(d & 0x1f, 14);
        assert_eq!((t >> 11, (t >> 5) & 0x3f, (t & 0x1f) * 2), (22, 13, 20));
        assert_eq!(tenths, 0);
    }
}
