//! The ISO side: what the input is (checked from its own bytes before any tool reads it), its
//! tree extracted with xorriso's osirrox, its boot setup replayed (`-report_el_torito
//! as_mkisofs`: El Torito BIOS and UEFI entries, the MBR/GPT/APM system area, HFS+), and the
//! new ISO mastered with every date pinned exactly as `crates/iso` does.

use std::io::Read;
use std::path::{Path, PathBuf};

use isoforge_exec::{Runner, Stage};
use serde::Serialize;

use crate::Error;

const SECTOR: u64 = 2048;
/// Volume descriptors looked at, from sector 16.
const MAX_DESCRIPTORS: u64 = 64;

/// What the input ISO says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub volume_id: String,
    pub system_id: String,
    pub publisher: String,
    pub application: String,
    pub volume_set: String,
    pub joliet: bool,
    /// The volume's UUID as GRUB's `search --fs-uuid` spells it (from the modification date,
    /// else the creation date); `None` when neither is set.
    pub grub_uuid: Option<String>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// Reads the primary volume descriptor and looks for Joliet; refuses what is not a whole
/// ISO 9660 image.
pub fn volume(iso: &Path) -> Result<Volume, Error> {
    let shown = iso.display();
    let bad = |m: String| Error::Invalid(format!("{shown}: {m}"));
    let mut f = std::fs::File::open(iso).map_err(|e| bad(format!("cannot open: {e}")))?;
    let meta = f.metadata().map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let size = meta.len();
    let mut vds = vec![0u8; ((16 + MAX_DESCRIPTORS) * SECTOR).min(size) as usize];
    f.read_exact(&mut vds)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    let pvd = vds
        .get(16 * SECTOR as usize..17 * SECTOR as usize)
        .filter(|p| p[0] == 1 && &p[1..6] == b"CD001")
        .ok_or_else(|| {
            bad("not an ISO 9660 image (no primary volume descriptor CD001 at sector 16)".into())
        })?;
    let blocks = u64::from(u32::from_le_bytes(
        pvd[80..84].try_into().unwrap_or_default(),
    ));
    let block_size = u64::from(u16::from_le_bytes([pvd[128], pvd[129]]));
    if block_size != SECTOR {
        return Err(bad(format!(
            "logical block size {block_size}, expected 2048"
        )));
    }
    if blocks * SECTOR > size {
        return Err(bad(format!(
            "truncated: the volume descriptor says {} bytes, the file has {size}; \
             download or copy it again",
            blocks * SECTOR
        )));
    }
    let mut joliet = false;
    for i in 17..(16 + MAX_DESCRIPTORS) {
        let Some(d) = vds.get((i * SECTOR) as usize..((i + 1) * SECTOR) as usize) else {
            break;
        };
        if &d[1..6] != b"CD001" || d[0] == 255 {
            break;
        }
        joliet |= d[0] == 2 && matches!(&d[88..91], b"%/@" | b"%/C" | b"%/E");
    }
    // GRUB's ISO 9660 UUID: the modification date's digits, else the creation date's.
    let date = |at: usize| -> Option<String> {
        let d = &pvd[at..at + 16];
        (d.iter().all(u8::is_ascii_digit) && d.iter().any(|&b| b != b'0')).then(|| {
            let d = String::from_utf8_lossy(d);
            [
                &d[0..4],
                &d[4..6],
                &d[6..8],
                &d[8..10],
                &d[10..12],
                &d[12..14],
                &d[14..16],
            ]
            .join("-")
        })
    };
    Ok(Volume {
        grub_uuid: date(830).or_else(|| date(813)),
        volume_id: text(&pvd[40..72]),
        system_id: text(&pvd[8..40]),
        volume_set: text(&pvd[190..318]),
        publisher: text(&pvd[318..446]),
        application: text(&pvd[574..702]),
        joliet,
    })
}

/// Extracts the whole tree of `iso` into `dir` (which must not exist), owners and modes from
/// Rock Ridge. xorriso creates symlinks as symlinks and never writes through them.
pub fn extract(runner: &Runner, stage: &Stage, iso: &Path, dir: &Path) -> Result<(), Error> {
    let mut cmd = runner.command("xorriso");
    cmd.args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", "/"])
        .arg(dir);
    runner.run(stage, "xorriso-extract", cmd)?;
    Ok(())
}

/// The input's boot setup as mkisofs options (`-report_el_torito as_mkisofs`), without the
/// dates and the volume id (set again, pinned).
pub fn boot_options(runner: &Runner, iso: &Path) -> Result<Vec<String>, Error> {
    let mut cmd = runner.command("xorriso");
    cmd.args(["-no_rc", "-indev"])
        .arg(iso)
        .args(["-report_el_torito", "as_mkisofs"]);
    let out = runner.output("xorriso-report", cmd, 1 << 20)?;
    let mut opts = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        if !line.starts_with('-') {
            continue;
        }
        let words = shell_words(line).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: xorriso's boot report has a line isoforge cannot read: {line}",
                iso.display()
            ))
        })?;
        let first = words.first().map(String::as_str).unwrap_or("");
        if first == "-V" || first.starts_with("--modification-date") || first == "-volume_date" {
            continue;
        }
        opts.extend(words);
    }
    Ok(opts)
}

/// Splits a line of xorriso's report into words: blanks separate, `'...'` quotes (xorriso
/// writes a quote inside as `'"'"'`).
fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                has = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        c => cur.push(c),
                    }
                }
            }
            c if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        words.push(cur);
    }
    Some(words)
}

/// A byte range of the input named by `--interval:local_fs:START-END:FLAGS:PATH` (end
/// inclusive; `s` 2048-byte sectors, `d` 512-byte blocks, else bytes).
pub fn interval(word: &str) -> Option<(u64, u64, PathBuf)> {
    let rest = word.strip_prefix("--interval:local_fs:")?;
    let mut parts = rest.splitn(3, ':');
    let range = parts.next()?;
    let _flags = parts.next()?;
    let path = PathBuf::from(parts.next()?);
    let (a, b) = range.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let (digits, unit) = match s.as_bytes().last()? {
            b's' => (&s[..s.len() - 1], 2048),
            b'd' => (&s[..s.len() - 1], 512),
            _ => (s, 1),
        };
        digits.parse::<u64>().ok()?.checked_mul(unit)
    };
    let start = num(a)?;
    let end_unit = if b.ends_with('s') {
        2048
    } else if b.ends_with('d') {
        512
    } else {
        1
    };
    let end = num(b)?.checked_add(end_unit)?;
    (end > start).then_some((start, end, path))
}

/// Masters `tree` into `out` with the input's boot setup (`boot`) and every date pinned to
/// `epoch`, as `crates/iso` does: volume dates and boot catalog from `-volume_date uuid`,
/// every file's dates from `all_file_dates`, nodes without a source file from
/// `-iso_nowtime`, the GPT disk GUID from the volume date.
pub fn master(
    runner: &Runner,
    stage: &Stage,
    tree: &Path,
    out: &Path,
    vol: &Volume,
    boot: &[String],
    epoch: i64,
) -> Result<(), Error> {
    isoforge_iso::pin_times(tree, epoch).map_err(|e| Error::Invalid(e.to_string()))?;
    let at = format!("={epoch}");
    let mut cmd = runner.command("xorriso");
    cmd.args(["-no_rc", "-report_about", "UPDATE"])
        .args(["-iso_nowtime", &at])
        .args(["-volume_date", "uuid", &isoforge_iso::xorriso_uuid(epoch)])
        .args(["-volume_date", "all_file_dates", &at])
        .args(["-boot_image", "any", "gpt_disk_guid=volume_date_uuid"])
        .args(["-as", "mkisofs", "-iso-level", "3", "-r"]);
    if vol.joliet {
        cmd.args(["-J", "-joliet-long"]);
    }
    cmd.args(["-V", &vol.volume_id]);
    // A leading `_` names a file in mkisofs: such ids are not carried over.
    for (flag, v) in [
        ("-sysid", &vol.system_id),
        ("-publisher", &vol.publisher),
        ("-A", &vol.application),
        ("-volset", &vol.volume_set),
    ] {
        if !v.is_empty() && !v.starts_with('_') {
            cmd.args([flag, v]);
        }
    }
    cmd.args(boot).arg("-o").arg(out).arg(tree);
    runner.run(stage, "xorriso", cmd)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xorriso_report_words() {
        assert_eq!(
            shell_words("--grub2-mbr --interval:local_fs:0s-15s:zero_mbrpt:'/a b/x.iso'").unwrap(),
            [
                "--grub2-mbr",
                "--interval:local_fs:0s-15s:zero_mbrpt:/a b/x.iso"
            ]
        );
        assert_eq!(shell_words("-V 'it'\"'\"'s'").unwrap(), ["-V", "it's"]);
        assert!(shell_words("-V 'open").is_none());
        let (s, e, p) = interval("--interval:local_fs:0s-15s:zero_mbrpt:/x.iso").unwrap();
        assert_eq!((s, e, p), (0, 32768, PathBuf::from("/x.iso")));
        let (s, e, _) = interval("--interval:local_fs:100d-199d::/x.iso").unwrap();
        assert_eq!((s, e), (51200, 102400));
    }
}
