//! Writing inside a root file system without following its symlinks.
//!
//! The rootfs holds absolute symlinks (`/etc/localtime -> /usr/share/zoneinfo/...`) that
//! point at the *host* when resolved from outside a chroot; every path here is checked one
//! component at a time instead.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use crate::{Error, io_err};

/// `root/rel` after checking that `rel` is relative, has no `..`, and that every existing
/// parent is a real directory (not a symlink). Missing parents are created (0755).
pub fn checked_path(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let rel_path = Path::new(rel);
    let mut cur = root.to_path_buf();
    let comps: Vec<Component> = rel_path.components().collect();
    if comps.is_empty() || !comps.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Invalid(format!(
            "{rel:?} is not a plain relative path inside the rootfs"
        )));
    }
    for c in &comps[..comps.len() - 1] {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Invalid(format!(
                    "{} is not a directory (a symlink or file where a directory is expected)",
                    cur.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&cur).map_err(io_err(format!("cannot create {}", cur.display())))?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                    .map_err(io_err(format!("cannot chmod {}", cur.display())))?;
            }
            Err(e) => return Err(io_err(format!("cannot stat {}", cur.display()))(e)),
        }
    }
    cur.push(comps[comps.len() - 1]);
    Ok(cur)
}

/// Writes `rel` as a regular root-owned file with `mode` and mtime `epoch`, replacing a
/// symlink or file that was there.
pub fn write_file(
    root: &Path,
    rel: &str,
    contents: &[u8],
    mode: u32,
    epoch: i64,
) -> Result<(), Error> {
    let path = checked_path(root, rel)?;
    if let Ok(m) = fs::symlink_metadata(&path) {
        if m.is_dir() {
            return Err(Error::Invalid(format!("{} is a directory", path.display())));
        }
        fs::remove_file(&path).map_err(io_err(format!("cannot replace {}", path.display())))?;
    }
    let ctx = || format!("cannot write {}", path.display());
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io_err(ctx()))?;
    f.write_all(contents).map_err(io_err(ctx()))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(ctx()))?;
    std::os::unix::fs::fchown(&f, Some(0), Some(0)).map_err(io_err(ctx()))?;
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch.max(0) as u64);
    f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
        .map_err(io_err(ctx()))?;
    Ok(())
}

/// Makes `rel` a symlink to `target` (replacing a file or link), with mtime `epoch`.
pub fn symlink(root: &Path, rel: &str, target: &str, epoch: i64) -> Result<(), Error> {
    let path = checked_path(root, rel)?;
    if let Ok(m) = fs::symlink_metadata(&path) {
        if m.is_dir() {
            return Err(Error::Invalid(format!("{} is a directory", path.display())));
        }
        fs::remove_file(&path).map_err(io_err(format!("cannot replace {}", path.display())))?;
    }
    std::os::unix::fs::symlink(target, &path)
        .map_err(io_err(format!("cannot create symlink {}", path.display())))?;
    set_time_nofollow(&path, epoch)
}

/// Sets atime and mtime of `path` itself (not a symlink's target).
pub fn set_time_nofollow(path: &Path, epoch: i64) -> Result<(), Error> {
    let ts = TimeSpec::new(epoch, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| io_err(format!("cannot set times of {}", path.display()))(e.into()))
}

/// What [`clamp_times`] found and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clamped {
    /// Entries whose mtime or atime was later than the epoch (all now clamped).
    pub entries: u64,
    /// Of those, the entries whose mtime was later: what the tree itself carried (a reader's
    /// atime updates are not counted).
    pub later_mtimes: u64,
}

/// Clamps every mtime (and atime) later than `epoch` down to it, and counts what it changed.
/// Does not cross into other file systems.
pub fn clamp_times(root: &Path, epoch: i64) -> Result<Clamped, Error> {
    let mut clamped = Clamped::default();
    for entry in walkdir::WalkDir::new(root)
        .same_file_system(true)
        .follow_links(false)
    {
        let entry =
            entry.map_err(|e| io_err(format!("cannot walk {}", root.display()))(e.into()))?;
        let m = entry
            .metadata()
            .map_err(|e| io_err(format!("cannot stat {}", entry.path().display()))(e.into()))?;
        use std::os::unix::fs::MetadataExt;
        if m.mtime() > epoch || m.atime() > epoch {
            set_time_nofollow(entry.path(), m.mtime().min(epoch))?;
            clamped.entries += 1;
            clamped.later_mtimes += u64::from(m.mtime() > epoch);
        }
    }
    Ok(clamped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn never_writes_through_symlinks() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        // An absolute link in the image pointing at a host directory.
        std::os::unix::fs::symlink(host.path(), root.path().join("etc")).unwrap();
        let e = write_file(root.path(), "etc/hostname", b"x\n", 0o644, 0).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(!host.path().join("hostname").exists());
        assert!(checked_path(root.path(), "../x").is_err());
        assert!(checked_path(root.path(), "/etc/x").is_err());
    }

    #[test]
    fn replaces_a_symlink_with_a_file() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("target"), "host").unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(host.path().join("target"), root.path().join("etc/f")).unwrap();
        write_file(root.path(), "etc/f", b"image\n", 0o644, 1_700_000_000).unwrap();
        assert_eq!(
            std::fs::read_to_string(host.path().join("target")).unwrap(),
            "host"
        );
        let m = std::fs::symlink_metadata(root.path().join("etc/f")).unwrap();
        assert!(m.is_file());
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o644, 1_700_000_000));
    }

    #[test]
    fn clamps_only_later_times() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("new"), "").unwrap();
        write_file(root.path(), "old", b"", 0o644, 1_000_000_000).unwrap();
        std::os::unix::fs::symlink("/nonexistent", root.path().join("link")).unwrap();
        // Read after the epoch, written before: clamped, but not a later mtime.
        write_file(root.path(), "read", b"", 0o644, 1_000_000_000).unwrap();
        let f = std::fs::File::open(root.path().join("read")).unwrap();
        f.set_times(std::fs::FileTimes::new().set_accessed(SystemTime::now()))
            .unwrap();
        let n = clamp_times(root.path(), 1_500_000_000).unwrap();
        assert_eq!(n.entries, 4, "root dir, new, link, read");
        assert_eq!(n.later_mtimes, 3, "root dir, new, link");
        let mt = |p: &str| {
            std::fs::symlink_metadata(root.path().join(p))
                .unwrap()
                .mtime()
        };
        assert_eq!(mt("new"), 1_500_000_000);
        assert_eq!(mt("link"), 1_500_000_000);
        assert_eq!(mt("old"), 1_000_000_000);
        assert_eq!(mt("read"), 1_000_000_000);
        let read = std::fs::symlink_metadata(root.path().join("read")).unwrap();
        assert_eq!(read.atime(), 1_000_000_000);
        // (Walking reads the directories, which may move their atimes again: only mtimes
        // are sure to stay.)
        assert_eq!(
            clamp_times(root.path(), 1_500_000_000)
                .unwrap()
                .later_mtimes,
            0
        );
    }
}
