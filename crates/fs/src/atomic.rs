//! Atomic writes: a file appears complete or not at all, and survives a crash once written.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, RenameFlags, openat, renameat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::{Dir, Error, remove_tree_at};

/// A file being written under a temporary name in its final directory. [`AtomicFile::commit`]
/// syncs it, renames it over the final name and syncs the directory; dropped before that, the
/// temporary file is removed and the old file is left as it was.
pub struct AtomicFile {
    dir: Dir,
    name: OsString,
    tmp: OsString,
    file: File,
    done: bool,
}

impl AtomicFile {
    /// Starts writing `path` (mode 0644; the parent directory must exist).
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        let (dir, name) = Dir::open_parent(path)?;
        Self::create_in(&dir, &name, 0o644)
    }

    /// Starts writing `name` in `dir` with `mode`.
    pub fn create_in(dir: &Dir, name: &OsStr, mode: u32) -> Result<AtomicFile, Error> {
        one_component(dir, name)?;
        let dir = dir.try_clone()?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        loop {
            let tmp = OsString::from(format!(".isoforge-{:016x}.tmp", random()));
            match openat(&dir, tmp.as_os_str(), flags, Mode::from_bits_truncate(mode)) {
                Ok(fd) => {
                    return Ok(AtomicFile {
                        dir,
                        name: name.to_os_string(),
                        tmp,
                        file: File::from(fd),
                        done: false,
                    });
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(Error::errno("create a file in", dir.path())(e)),
            }
        }
    }

    /// Sets the file's owner, then its mode (after the owner: `chown` clears set-id bits).
    pub fn set_owner(&self, uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
        let path = self.dir.display(&self.name);
        nix::unistd::fchown(
            &self.file,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(Error::errno("change the owner of", path.clone()))?;
        nix::sys::stat::fchmod(&self.file, Mode::from_bits_truncate(mode))
            .map_err(Error::errno("change the mode of", path))
    }

    /// Syncs the file, renames it into place and syncs the directory.
    pub fn commit(mut self) -> Result<(), Error> {
        let path = self.dir.display(&self.name);
        self.file
            .sync_all()
            .map_err(Error::io("write", path.clone()))?;
        renameat(
            &self.dir,
            self.tmp.as_os_str(),
            &self.dir,
            self.name.as_os_str(),
        )
        .map_err(Error::errno("rename into", path))?;
        self.done = true;
        self.dir.sync()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = unlinkat(&self.dir, self.tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Writes `bytes` to `path` atomically (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)
        .map_err(Error::io("write", path.to_path_buf()))?;
    f.commit()
}

/// Moves a file a tool wrote under a temporary name into place, durably: it is opened without
/// following a symlink and must be a regular file, is fsynced, renamed over `to` (in the same
/// file system) and the directory of `to` is fsynced.
pub fn persist(from: &Path, to: &Path) -> Result<(), Error> {
    let (from_dir, from_name) = Dir::open_parent(from)?;
    let (to_dir, to_name) = Dir::open_parent(to)?;
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd =
        openat(&from_dir, from_name.as_os_str(), flags, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP => Error::Symlink(from.to_path_buf()),
            e => Error::errno("open", from)(e),
        })?;
    let st = nix::sys::stat::fstat(&fd).map_err(Error::errno("stat", from))?;
    let kind = crate::Kind::of(&st);
    if kind != crate::Kind::File {
        return Err(Error::NotRegular {
            path: from.to_path_buf(),
            kind,
        });
    }
    File::from(fd).sync_all().map_err(Error::io("sync", from))?;
    renameat(
        &from_dir,
        from_name.as_os_str(),
        &to_dir,
        to_name.as_os_str(),
    )
    .map_err(Error::errno("rename into", to))?;
    to_dir.sync()
}

/// Moves `from/from_name` (a directory isoforge built) to `to/to_name`. Whatever is at the
/// destination (an old result, or a planted symlink) is swapped out with `RENAME_EXCHANGE`
/// and then removed as a tree, so at every moment one of the two is in place. With
/// `replace` false an existing destination is an error and nothing moves. Both directories
/// are synced.
pub fn replace_dir(
    from: &Dir,
    from_name: &OsStr,
    to: &Dir,
    to_name: &OsStr,
    replace: bool,
) -> Result<(), Error> {
    one_component(from, from_name)?;
    one_component(to, to_name)?;
    let dest = to.display(to_name);
    match renameat2(from, from_name, to, to_name, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => {}
        Err(Errno::EEXIST) if replace => {
            renameat2(from, from_name, to, to_name, RenameFlags::RENAME_EXCHANGE)
                .map_err(Error::errno("move into place", &dest))?;
            to.sync()?;
            from.sync()?;
            // `from_name` now holds what was at the destination.
            return remove_tree_at(from, from_name);
        }
        Err(e) => return Err(Error::errno("move into place", &dest)(e)),
    }
    to.sync()?;
    from.sync()
}

fn one_component(dir: &Dir, name: &OsStr) -> Result<(), Error> {
    let mut comps = Path::new(name).components();
    match (comps.next(), comps.next()) {
        (Some(std::path::Component::Normal(_)), None) => Ok(()),
        _ => Err(Error::NoName(dir.display(name))),
    }
}

/// A random number for temporary names (uniqueness must come from `O_EXCL` or a lock).
pub fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
