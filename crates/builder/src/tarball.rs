//! `isoforge builder build`: the builder rootfs as a reproducible tarball.

use std::path::{Path, PathBuf};

use isoforge_build::locking::{self, LockConfig, Which};
use isoforge_exec::{Progress, Runner, ToolEnv};

use crate::{Error, io_err};

/// A built builder.
#[derive(Debug, Clone)]
pub struct Built {
    pub tarball: PathBuf,
    pub digest: String,
    pub packages: usize,
}

/// SOURCE_DATE_EPOCH of the builder: the snapshot timestamp, so the digest depends only on
/// the pins, never on which commit built it.
pub fn epoch(timestamp: &str) -> Result<i64, Error> {
    let bad = || {
        Error::Invalid(format!(
            "snapshot timestamp {timestamp:?} is not YYYYMMDDTHHMMSSZ"
        ))
    };
    let n = |r: std::ops::Range<usize>| -> Result<u32, Error> {
        timestamp
            .get(r)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    if timestamp.len() != 16 {
        return Err(bad());
    }
    let month = time::Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8)
        .map_err(|_| bad())?;
    let t = time::Time::from_hms(n(9..11)? as u8, n(11..13)? as u8, n(13..15)? as u8)
        .map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp())
}

/// Builds the builder of `config_dir` into `<cache>/builders/<digest>.tar`.
pub fn build(
    config_dir: &Path,
    cache_dir: Option<&Path>,
    progress: &Progress,
) -> Result<Built, Error> {
    let cfg = LockConfig::load(config_dir)?;
    let lock = cfg.load_lock(Which::Builder)?;
    let cache = locking::open_cache(cache_dir)?;
    isoforge_build::preflight::check_tools()?;
    let epoch = epoch(&cfg.pin.timestamp)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let dir = cache.root().join("builders");
    std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let work = tempfile::Builder::new()
        .prefix(".work-")
        .tempdir_in(&dir)
        .map_err(io_err("cannot create a work directory"))?;
    let w = work.path();
    for d in ["home", "tmp"] {
        std::fs::create_dir_all(w.join(d)).map_err(io_err("cannot create the work tree"))?;
    }
    let runner = Runner::new(
        ToolEnv::new(epoch, &w.join("home"), &w.join("tmp")),
        &w.join("logs"),
        progress.clone(),
    )
    .map_err(io_err("cannot create the log directory"))?;
    let result = (|| -> Result<Built, Error> {
        let stage = progress.stage("builder: packages from the cache");
        locking::fetch(&cfg, &lock, &cache, &stage)?;
        let debs = locking::local_debs(&lock, &cache)?;
        let sources = isoforge_rootfs::localrepo::create(
            &w.join("repo"),
            &cfg.profile.suite,
            &cfg.profile.architecture,
            &debs,
        )?;
        stage.done(&format!("{} packages", lock.packages.len()));

        let stage = progress.stage("builder: mmdebstrap");
        let rootfs = w.join("rootfs");
        let mut profile = cfg.profile.clone();
        profile.variant = "minbase".into();
        profile.packages = cfg.builder.packages.clone();
        isoforge_rootfs::bootstrap::run(&runner, &stage, &profile, &sources, &rootfs)?;
        let installed = isoforge_rootfs::packages::installed(&rootfs)?;
        let want: Vec<_> = lock
            .packages
            .iter()
            .map(|p| isoforge_rootfs::packages::Installed {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
            })
            .collect();
        isoforge_rootfs::bootstrap::check_installed(&installed, &want)?;
        isoforge_rootfs::cleanup::run(&rootfs)?;
        // The image's sources.list, so apt inside the builder names the archive it came from.
        isoforge_rootfs::tree::write_file(
            &rootfs,
            "etc/apt/sources.list",
            format!(
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {} {}\n",
                cfg.pin.mirror,
                cfg.profile.suite,
                cfg.profile.components.join(" ")
            )
            .as_bytes(),
            0o644,
            epoch,
        )?;
        isoforge_rootfs::tree::write_file(&rootfs, "usr/local/bin/isoforge", b"", 0o755, epoch)?;
        isoforge_rootfs::tree::clamp_times(&rootfs, epoch)?;
        stage.done(&format!("{} packages, as locked", installed.len()));

        let stage = progress.stage("builder: tarball");
        let tmp_tar = w.join("builder.tar");
        let mut cmd = runner.command("tar");
        // Sorted names, numeric owners, no atime/ctime: the same tree gives the same bytes.
        cmd.args([
            "--create",
            "--format=pax",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "--sort=name",
            "--numeric-owner",
            "--no-xattrs",
            "--no-acls",
            "--no-selinux",
            "--one-file-system",
        ])
        .arg(format!("--mtime=@{epoch}"))
        .arg("--clamp-mtime")
        .arg("--file")
        .arg(&tmp_tar)
        .arg("--directory")
        .arg(&rootfs)
        .arg(".");
        runner.run(&stage, "tar", cmd)?;
        let digest = isoforge_checksums::sha256_file(&tmp_tar)
            .map_err(io_err("cannot hash the builder tarball"))?
            .hex();
        let dest = crate::tarball_path(cache.root(), &digest);
        isoforge_fs::persist(&tmp_tar, &dest)
            .map_err(|e| Error::Invalid(format!("cannot move the tarball into place: {e}")))?;
        stage.done(&format!("sha256 {digest}"));
        Ok(Built {
            tarball: dest,
            digest,
            packages: lock.packages.len(),
        })
    })();
    let kept = dir.join("last-build-logs");
    // `builders/` may be writable by others: a planted `last-build-logs` or `.work-*` symlink
    // is exchanged out or unlinked, never followed.
    if let (Ok(from), Ok(to)) = (isoforge_fs::Dir::open(w), isoforge_fs::Dir::open(&dir)) {
        let _ = isoforge_fs::replace_dir(
            &from,
            "logs".as_ref(),
            &to,
            "last-build-logs".as_ref(),
            true,
        );
    }
    let _ = isoforge_fs::remove_tree(w);
    result.map_err(|e| Error::Invalid(format!("{e} (logs in {})", kept.display())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_from_snapshot() {
        assert_eq!(super::epoch("20261126T000000Z").unwrap(), 1_795_651_200);
        assert!(super::epoch("2026-11-26").is_err());
    }
}
