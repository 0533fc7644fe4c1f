//! The hybrid ISO, mastered by xorriso from a staging tree.
//!
//! Every date xorriso writes is pinned to SOURCE_DATE_EPOCH explicitly rather than left to
//! its environment defaults: volume creation and modification dates and the El Torito boot
//! catalog (`-volume_date uuid`), every file's Rock Ridge and directory-record times
//! (`-volume_date all_file_dates`), nodes without a source file (`-iso_nowtime`) and the GPT
//! disk GUID (`gpt_disk_guid=volume_date_uuid`). The expiration and effective dates stay
//! "not specified" (all zeros). `-no_rc` keeps startup files out, and Rock Ridge is
//! rationalized (`-r`: owner root, modes from the x bit) so the builder's umask cannot leak.

use std::path::Path;

use isoforge_exec::{Runner, Stage};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tool(#[from] isoforge_exec::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// How the volume identifies itself.
#[derive(Debug, Clone)]
pub struct Volume {
    pub label: String,
    pub publisher: Option<String>,
    pub application: String,
    pub epoch: i64,
}

/// El Torito images inside the staging tree.
#[derive(Debug, Clone)]
pub struct Boot {
    pub bios_image: String,
    pub efi_image: String,
    /// Hybrid MBR template for the system area.
    pub mbr_template: String,
}

fn utc(epoch: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(epoch).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The volume "UUID" as xorriso takes it: `YYYYMMDDhhmmss00` (UTC).
pub fn xorriso_uuid(epoch: i64) -> String {
    uuid(epoch, "")
}

/// The same instant as GRUB's `search --fs-uuid` spells an ISO 9660 UUID.
pub fn grub_uuid(epoch: i64) -> String {
    uuid(epoch, "-")
}

/// ISO 9660 volume dates are UTC digits with centiseconds; both spellings share them.
fn uuid(epoch: i64, sep: &str) -> String {
    let t = utc(epoch);
    [
        format!("{:04}", t.year()),
        format!("{:02}", u8::from(t.month())),
        format!("{:02}", t.day()),
        format!("{:02}", t.hour()),
        format!("{:02}", t.minute()),
        format!("{:02}", t.second()),
        "00".to_string(),
    ]
    .join(sep)
}

/// Sets every staging entry's times to the epoch (xorriso is told the same; this keeps the
/// staging tree itself comparable).
pub fn pin_times(staging: &Path, epoch: i64) -> Result<(), Error> {
    let ts = nix::sys::time::TimeSpec::new(epoch, 0);
    for entry in walkdir::WalkDir::new(staging).follow_links(false) {
        let entry = entry.map_err(|e| Error::Io {
            context: format!("cannot walk {}", staging.display()),
            source: e.into(),
        })?;
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            entry.path(),
            &ts,
            &ts,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| Error::Io {
            context: format!("cannot set times of {}", entry.path().display()),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Writes the ISO of `staging` to `out`.
pub fn master(
    runner: &Runner,
    stage: &Stage,
    staging: &Path,
    out: &Path,
    volume: &Volume,
    boot: &Boot,
) -> Result<(), Error> {
    pin_times(staging, volume.epoch)?;
    let epoch = format!("={}", volume.epoch);
    let mut cmd = runner.command("xorriso");
    cmd.args(["-no_rc", "-report_about", "UPDATE"])
        .args(["-iso_nowtime", &epoch])
        .args(["-volume_date", "uuid", &xorriso_uuid(volume.epoch)])
        .args(["-volume_date", "all_file_dates", &epoch])
        .args(["-boot_image", "any", "gpt_disk_guid=volume_date_uuid"])
        .args(["-as", "mkisofs"])
        .args(["-iso-level", "3", "-r", "-J", "-joliet-long"])
        .args([
            "-V",
            &volume.label,
            "-A",
            &volume.application,
            "-sysid",
            "LINUX",
        ]);
    if let Some(p) = &volume.publisher {
        cmd.args(["-publisher", p]);
    }
    cmd.args(["-b", &boot.bios_image])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .args(["--grub2-boot-info", "--grub2-mbr", &boot.mbr_template])
        .args(["--efi-boot", &boot.efi_image])
        .args([
            "-efi-boot-part",
            "--efi-boot-image",
            "--protective-msdos-label",
        ])
        .arg("-o")
        .arg(out)
        .arg(staging);
    runner.run(stage, "xorriso", cmd)?;
    Ok(())
}

/// The El Torito boot entries of `iso` as xorriso reports them: one platform name (`BIOS`,
/// `UEFI`) per entry.
pub fn boot_platforms(iso: &Path) -> Result<Vec<String>, Error> {
    let mut cmd = isoforge_exec::tool("xorriso");
    cmd.args(["-no_rc", "-indev"])
        .arg(iso)
        .args(["-report_el_torito", "plain"]);
    let out = isoforge_exec::capture_limited(cmd, 1 << 20)
        .map_err(|e| Error::Invalid(format!("xorriso cannot read {}: {e}", iso.display())))?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("El Torito boot img :"))
        .filter_map(|rest| rest.split_whitespace().nth(1).map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_spell_the_same_instant() {
        assert_eq!(xorriso_uuid(1_700_000_000), "2023111422132000");
        assert_eq!(grub_uuid(1_700_000_000), "2023-11-14-22-13-20-00");
    }
}
