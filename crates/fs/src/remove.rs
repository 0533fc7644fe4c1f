//! Removing trees: a symlink is unlinked (never followed), mounts below are detached through
//! descriptors, and a mount found while removing is never crossed.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MntFlags, umount2};
use nix::sys::stat::fstatat;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::dir::list;
use crate::{Dir, Error, Kind};

/// Directories nested deeper than this are refused rather than walked (each level holds a
/// descriptor).
pub const MAX_DEPTH: usize = 256;

/// Removes `path` like [`remove_tree_at`]; the parent directory is the caller's, its last
/// component is not followed. A missing `path` is fine.
pub fn remove_tree(path: &Path) -> Result<(), Error> {
    let (parent, name) = match Dir::open_parent(path) {
        Ok(p) => p,
        Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_tree_at(&parent, &name)
}

/// Removes the entry `name` of `parent` and, if it is a directory, everything in it. A symlink
/// or file is unlinked. Mounts at or below the directory are detached first (found through
/// its descriptor, not its path); a mount that appears meanwhile stops the removal with
/// [`Error::MountPoint`]. A missing entry is fine.
pub fn remove_tree_at(parent: &Dir, name: &OsStr) -> Result<(), Error> {
    let path = parent.display(name);
    if Path::new(name).components().count() != 1
        || !matches!(
            Path::new(name).components().next(),
            Some(Component::Normal(_))
        )
    {
        return Err(Error::NoName(path));
    }
    let kind = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Kind::of(&st),
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::errno("stat", &path)(e)),
    };
    if kind != Kind::Dir {
        return unlink(parent, name, false, &path);
    }
    // Unmounting may uncover more (stacked mounts, the directory itself a mount point):
    // reopen and look again, a bounded number of times.
    for _ in 0..UNMOUNT_ROUNDS {
        let top = open_child(parent, name, false).map_err(|e| child_error(e, &path))?;
        if !unmount_below(&top, &path)? {
            empty(top, &path, 0)?;
            return unlink(parent, name, true, &path);
        }
    }
    Err(Error::MountPoint(path))
}

/// How many times mounts are looked for and detached before giving up.
const UNMOUNT_ROUNDS: usize = 64;

/// Detaches every mount at or below the directory `path` (which must not be a symlink); a
/// missing `path` is fine.
pub fn unmount_under(path: &Path) -> Result<(), Error> {
    let dir = match Dir::open(path) {
        Ok(d) => d,
        Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
        Err(e) => return Err(e),
    };
    unmount_under_dir(&dir)
}

/// Detaches every mount at or below the open directory `dir`.
pub fn unmount_under_dir(dir: &Dir) -> Result<(), Error> {
    for _ in 0..UNMOUNT_ROUNDS {
        if !unmount_below(dir, dir.path())? {
            return Ok(());
        }
    }
    Err(Error::MountPoint(dir.path().to_path_buf()))
}

/// Opens the subdirectory `name` without following a symlink; with `no_xdev` a mount point
/// there is `EXDEV`.
fn open_child(parent: &impl AsFd, name: &OsStr, no_xdev: bool) -> nix::Result<OwnedFd> {
    let mut resolve = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS;
    if no_xdev {
        resolve |= ResolveFlag::RESOLVE_NO_XDEV;
    }
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(resolve);
    match openat2(parent.as_fd(), name, how) {
        Err(Errno::ENOSYS) => nix::fcntl::openat(
            parent.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ),
        r => r,
    }
}

fn child_error(e: Errno, path: &Path) -> Error {
    match e {
        Errno::EXDEV => Error::MountPoint(path.to_path_buf()),
        Errno::ELOOP | Errno::ENOTDIR => Error::Symlink(path.to_path_buf()),
        e => Error::errno("open", path)(e),
    }
}

fn unlink(parent: &impl AsFd, name: &OsStr, dir: bool, path: &Path) -> Result<(), Error> {
    let flag = if dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    match unlinkat(parent, name, flag) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::errno("remove", path)(e)),
    }
}

/// Removes everything in the directory `fd`, never crossing a mount or following a symlink.
fn empty(fd: OwnedFd, path: &Path, depth: usize) -> Result<(), Error> {
    if depth >= MAX_DEPTH {
        return Err(Error::TooDeep(path.to_path_buf()));
    }
    let names = list(fd.try_clone().map_err(Error::io("read", path))?, path)?;
    for name in names {
        let child = path.join(&name);
        let kind = match fstatat(&fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Kind::of(&st),
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::errno("stat", &child)(e)),
        };
        if kind == Kind::Dir {
            let sub = open_child(&fd, &name, true).map_err(|e| child_error(e, &child))?;
            empty(sub, &child, depth + 1)?;
        }
        unlink(&fd, &name, kind == Kind::Dir, &child)?;
    }
    Ok(())
}

/// Detaches the mounts at or below the directory `dir`, deepest first, each opened beneath
/// `dir`'s descriptor and unmounted through `/proc/self/fd`, so a path swapped for a symlink
/// meanwhile cannot redirect the unmount. Returns whether anything was unmounted.
fn unmount_below(dir: &impl AsFd, path: &Path) -> Result<bool, Error> {
    let below = mounts_below(dir, path)?;
    for rel in &below {
        let shown = path.join(rel);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel.as_path()
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let fd = openat2(dir.as_fd(), rel, how).map_err(|e| child_error(e, &shown))?;
        let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
        match umount2(proc.as_str(), MntFlags::MNT_DETACH) {
            // EINVAL: no longer a mount point (another process unmounted it).
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(e) => return Err(Error::errno("unmount", &shown)(e)),
        }
    }
    Ok(!below.is_empty())
}

/// Mount points at or below the open directory `dir` (found through its descriptor's real
/// path, never a path that may have been swapped), relative to it, deepest first.
fn mounts_below(dir: &impl AsFd, path: &Path) -> Result<Vec<PathBuf>, Error> {
    let real = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()))
        .map_err(Error::io("resolve", path))?;
    let info =
        std::fs::read("/proc/self/mountinfo").map_err(Error::io("read", "/proc/self/mountinfo"))?;
    let mut below: Vec<PathBuf> = info
        .split(|&b| b == b'\n')
        .filter_map(|l| l.split(|&b| b == b' ').nth(4))
        .map(|p| PathBuf::from(OsString::from_vec(unescape_mountinfo(p))))
        .filter_map(|p| p.strip_prefix(&real).ok().map(Path::to_path_buf))
        .collect();
    below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    below.dedup();
    Ok(below)
}

/// Mount points at or below the directory `path` (which must not be a symlink), deepest first.
pub fn mounts_under(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let dir = Dir::open(path)?;
    Ok(mounts_below(&dir, path)?
        .into_iter()
        .map(|rel| path.join(rel))
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape_mountinfo(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo(br"/a\040b\134c"), br"/a b\c");
        assert_eq!(unescape_mountinfo(br"/plain\"), br"/plain\");
    }

    /// A mount that appears after the unmount pass (here: never unmounted) stops the walk:
    /// what it shows is not removed.
    #[test]
    fn the_walk_never_crosses_a_mount() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (mounts)"
        );
        let t = tempfile::tempdir().unwrap();
        let mnt = t.path().join("a/mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &mnt,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        std::fs::write(mnt.join("keep"), "x").unwrap();
        let fd = open_child(&Dir::open(t.path()).unwrap(), "a".as_ref(), false).unwrap();
        let e = empty(fd, &t.path().join("a"), 0).unwrap_err();
        let kept = std::fs::read_to_string(mnt.join("keep"));
        umount2(&mnt, MntFlags::MNT_DETACH).unwrap();
        assert!(matches!(&e, Error::MountPoint(p) if p == &mnt), "{e:?}");
        assert_eq!(kept.unwrap(), "x");
    }
}
