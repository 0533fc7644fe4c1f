//! The UEFI El Torito image: a FAT file system whose volume serial (mformat, as used by
//! grub-mkrescue, picks a random one) and directory-entry dates (the clock when the files were
//! copied) differ on every run. Both are set in place: the serial to the epoch's low 32 bits
//! (as Debian's live-build and the native pipeline's `mkfs.fat -i` do), and every creation,
//! access and modification date of every directory entry to the epoch. Nothing else moves, so
//! the image stays what its builder made.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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

struct Bpb {
    bps: u64,
    spc: u64,
    reserved: u64,
    fats: u64,
    root_entries: u64,
    fat_sectors: u64,
    root_cluster: u32,
    backup: u64,
    bits: u8,
    clusters: u32,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Bpb {
    fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 512 || b[510..512] != [0x55, 0xaa] {
            return None;
        }
        let bps = le16(b, 11);
        let spc = u64::from(b[13]);
        let reserved = le16(b, 14);
        let fats = u64::from(b[16]);
        let root_entries = le16(b, 17);
        let total = match le16(b, 19) {
            0 => u64::from(le32(b, 32)),
            t => t,
        };
        let fat_sectors = match le16(b, 22) {
            0 => u64::from(le32(b, 36)),
            f => f,
        };
        if !matches!(bps, 512 | 1024 | 2048 | 4096)
            || spc == 0
            || !spc.is_power_of_two()
            || reserved == 0
            || !(1..=4).contains(&fats)
            || fat_sectors == 0
        {
            return None;
        }
        let data = reserved + fats * fat_sectors + (root_entries * 32).div_ceil(bps);
        let clusters = u32::try_from(total.checked_sub(data)? / spc).ok()?;
        let bits = if clusters < 4085 {
            12
        } else if clusters < 65525 {
            16
        } else {
            32
        };
        Some(Self {
            bps,
            spc,
            reserved,
            fats,
            root_entries,
            fat_sectors,
            root_cluster: le32(b, 44),
            backup: le16(b, 50),
            bits,
            clusters,
        })
    }
    fn root_offset(&self) -> u64 {
        (self.reserved + self.fats * self.fat_sectors) * self.bps
    }
    fn cluster_offset(&self, c: u32) -> u64 {
        self.root_offset()
            + (self.root_entries * 32).div_ceil(self.bps) * self.bps
            + u64::from(c - 2) * self.bps * self.spc
    }
    fn next(&self, img: &[u8], c: u32) -> Option<u32> {
        let fat = (self.reserved * self.bps) as usize;
        let v = match self.bits {
            12 => {
                let at = fat + c as usize + c as usize / 2;
                let v = u16::from_le_bytes([*img.get(at)?, *img.get(at + 1)?]);
                let v = if c % 2 == 1 { v >> 4 } else { v & 0xfff };
                if v >= 0xff8 {
                    return None;
                } else {
                    u32::from(v)
                }
            }
            16 => {
                let at = fat + 2 * c as usize;
                let v = u16::from_le_bytes([*img.get(at)?, *img.get(at + 1)?]);
                if v >= 0xfff8 {
                    return None;
                } else {
                    u32::from(v)
                }
            }
            _ => {
                let at = fat + 4 * c as usize;
                let v = le32(img.get(at..at + 4)?, 0) & 0x0fff_ffff;
                if v >= 0x0fff_fff8 { return None } else { v }
            }
        };
        (2..self.clusters + 2).contains(&v).then_some(v)
    }
    /// The byte ranges of the chain starting at `first` (bounded: no cycles).
    fn chain(&self, img: &[u8], first: u32) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut c = Some(first).filter(|c| (2..self.clusters + 2).contains(c));
        while let Some(cl) = c {
            if !seen.insert(cl) {
                break;
            }
            let s = self.cluster_offset(cl) as usize;
            let e = s + (self.bps * self.spc) as usize;
            if e > img.len() {
                break;
            }
            out.push((s, e));
            c = self.next(img, cl);
        }
        out
    }
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
    let bpb = Bpb::parse(&img).ok_or_else(|| bad("not a FAT file system".into()))?;
    let serial_at = if bpb.bits == 32 { 0x43 } else { 0x27 };
    let new_serial = (epoch as u64 & 0xffff_ffff) as u32;
    let old_serial = le32(&img, serial_at);
    // Only with the extended boot signature is there a serial at all.
    if img[serial_at - 1] == 0x29 {
        img[serial_at..serial_at + 4].copy_from_slice(&new_serial.to_le_bytes());
        let backup = (bpb.backup * bpb.bps) as usize;
        if bpb.bits == 32 && bpb.backup != 0 && backup + 512 <= img.len() {
            img[backup + serial_at..backup + serial_at + 4]
                .copy_from_slice(&new_serial.to_le_bytes());
        }
    }
    let (date, time, tenths) = dos_datetime(epoch);
    let root: Vec<(usize, usize)> = if bpb.bits == 32 {
        bpb.chain(&img, bpb.root_cluster)
    } else {
        let s = bpb.root_offset() as usize;
        vec![(s, (s + bpb.root_entries as usize * 32).min(img.len()))]
    };
    let mut pinned = 0;
    let mut todo = vec![(root, 0usize)];
    let mut seen = std::collections::HashSet::new();
    while let Some((ranges, depth)) = todo.pop() {
        'dir: for (s, e) in ranges {
            let mut at = s;
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
                    let hi = if bpb.bits == 32 {
                        le16(ent, 20) as u32
                    } else {
                        0
                    };
                    let cl = (hi << 16) | le16(ent, 26) as u32;
                    if seen.insert(cl) {
                        let chain = bpb.chain(&img, cl);
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
        fat_type: format!("FAT{}", bpb.bits),
        serial_from: format!("{old_serial:08x}"),
        serial_to: format!("{new_serial:08x}"),
        entries_pinned: pinned,
    })
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
