//! [`Dir`]: a directory descriptor and path resolution beneath it with no symlink escape.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, open, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat, mkdirat};

use crate::Error;

/// How paths below a [`Dir`] resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `RESOLVE_BENEATH`: anything that would leave the directory is an error.
    Beneath,
    /// `RESOLVE_IN_ROOT`: the directory is `/` (an image's `/boot/x -> /root/y` means its own
    /// `/root/y`; `..` stops at the top).
    InRoot,
}

/// What a directory entry is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A device, fifo or socket.
    Special,
}

impl Kind {
    pub(crate) fn of(st: &FileStat) -> Kind {
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFREG => Kind::File,
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFLNK => Kind::Symlink,
            _ => Kind::Special,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink => "symbolic link",
            Kind::Special => "device, fifo or socket",
        })
    }
}

/// An open directory. Opening it never follows a symlink in its last component, and every
/// path below it resolves inside it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    scope: Scope,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

impl Dir {
    /// Opens a tree isoforge owns (output, cache, work): paths below resolve with
    /// `RESOLVE_BENEATH`. The path's parents are the caller's; its last component must not be
    /// a symlink.
    pub fn open(path: &Path) -> Result<Dir, Error> {
        Self::open_top(path, Scope::Beneath)
    }

    /// Opens an image's root file system: paths below resolve with `RESOLVE_IN_ROOT`, so the
    /// image's absolute symlinks point inside the image.
    pub fn open_image(path: &Path) -> Result<Dir, Error> {
        Self::open_top(path, Scope::InRoot)
    }

    /// Creates `path` (and missing parents) and opens it. For a path the user chose (like
    /// `--output`): symlinks in it are the user's own and are followed; what is below it
    /// resolves like [`Dir::open`].
    pub fn create(path: &Path) -> Result<Dir, Error> {
        std::fs::create_dir_all(path).map_err(Error::io("create", path))?;
        let flags = DIR_FLAGS.difference(OFlag::O_NOFOLLOW);
        Ok(Dir {
            fd: open(path, flags, Mode::empty())
                .map_err(Error::errno("open the directory", path))?,
            path: path.to_path_buf(),
            scope: Scope::Beneath,
        })
    }

    /// Opens the parent of `path` like [`Dir::open`] and returns it with the last component.
    pub fn open_parent(path: &Path) -> Result<(Dir, OsString), Error> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => return Err(Error::NoName(path.to_path_buf())),
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok((Self::open(parent)?, name))
    }

    fn open_top(path: &Path, scope: Scope) -> Result<Dir, Error> {
        match open(path, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Dir {
                fd,
                path: path.to_path_buf(),
                scope,
            }),
            Err(Errno::ELOOP) => Err(Error::Symlink(path.to_path_buf())),
            Err(Errno::ENOTDIR)
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                Err(Error::Symlink(path.to_path_buf()))
            }
            Err(e) => Err(Error::errno("open the directory", path)(e)),
        }
    }

    /// The path this directory was opened at (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` below this directory, for messages.
    pub fn display(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        self.path.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    pub(crate) fn try_clone(&self) -> Result<Dir, Error> {
        Ok(Dir {
            fd: self
                .fd
                .try_clone()
                .map_err(Error::io("duplicate the descriptor of", &self.path))?,
            path: self.path.clone(),
            scope: self.scope,
        })
    }

    /// Opens `rel` with `flags`, never leaving this directory.
    pub(crate) fn resolve(&self, rel: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Error> {
        let rel_or_dot = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        match resolve_openat2(self.fd.as_fd(), rel_or_dot, flags, mode, self.scope) {
            Err(Errno::ENOSYS) => walk(self.fd.as_fd(), rel_or_dot, flags, mode, self.scope),
            r => r,
        }
        .map_err(|e| resolve_error(e, self.display(rel)))
    }

    /// Opens the directory holding `rel`'s last component; returns it with that name.
    pub(crate) fn resolve_parent(&self, rel: &Path) -> Result<(Dir, OsString), Error> {
        let name = match rel.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => return Err(Error::NoName(self.display(rel))),
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        // The parent may itself be a symlink that stays inside (an image's `/bin -> usr/bin`),
        // like every component before it; only `rel`'s own last component is never followed.
        let fd = self.resolve(
            parent,
            DIR_FLAGS.difference(OFlag::O_NOFOLLOW),
            Mode::empty(),
        )?;
        Ok((
            Dir {
                fd,
                path: self.display(parent),
                scope: self.scope,
            },
            name,
        ))
    }

    /// Opens the directory `rel` below this one (`""` is this one), with the same scope.
    pub fn open_dir(&self, rel: impl AsRef<Path>) -> Result<Dir, Error> {
        let rel = rel.as_ref();
        Ok(Dir {
            fd: self.resolve(rel, DIR_FLAGS, Mode::empty())?,
            path: self.display(rel),
            scope: self.scope,
        })
    }

    /// Opens `rel` for reading.
    pub fn open_file(&self, rel: impl AsRef<Path>) -> Result<File, Error> {
        let rel = rel.as_ref();
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        Ok(File::from(self.resolve(rel, flags, Mode::empty())?))
    }

    /// What `rel` is, not following its last component; `None` if it does not exist.
    pub fn kind(&self, rel: impl AsRef<Path>) -> Result<Option<Kind>, Error> {
        let rel = rel.as_ref();
        let (parent, name) = match self.resolve_parent(rel) {
            Ok(p) => p,
            Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        match fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Kind::of(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::errno("stat", self.display(rel))(e)),
        }
    }

    /// What `rel` resolves to (following symlinks that stay inside); `None` if nothing.
    pub fn resolved_kind(&self, rel: impl AsRef<Path>) -> Result<Option<Kind>, Error> {
        let rel = rel.as_ref();
        let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        match self.resolve(rel, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(Kind::of(
                &fstat(&fd).map_err(Error::errno("stat", self.display(rel)))?,
            ))),
            Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Names in the directory `rel` (`""` for this one), sorted, without `.` and `..`.
    pub fn read_dir(&self, rel: impl AsRef<Path>) -> Result<Vec<OsString>, Error> {
        let rel = rel.as_ref();
        let fd = self.resolve(rel, DIR_FLAGS, Mode::empty())?;
        list(fd, &self.display(rel))
    }

    /// Creates the directory `rel` with `mode` (an existing directory is fine, a symlink is not).
    pub fn create_dir(&self, rel: impl AsRef<Path>, mode: u32) -> Result<(), Error> {
        let rel = rel.as_ref();
        let (parent, name) = self.resolve_parent(rel)?;
        match mkdirat(&parent, name.as_os_str(), Mode::from_bits_truncate(mode)) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => {
                match fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map(|st| Kind::of(&st))
                {
                    Ok(Kind::Dir) => Ok(()),
                    Ok(Kind::Symlink) => Err(Error::Symlink(self.display(rel))),
                    _ => Err(Error::errno("create the directory", self.display(rel))(
                        Errno::EEXIST,
                    )),
                }
            }
            Err(e) => Err(Error::errno("create the directory", self.display(rel))(e)),
        }
    }

    /// Sets the owner and mode of the directory `rel`, resolved beneath this one. Returns
    /// `false` (and changes nothing) when `rel` is missing, a symlink or not a directory.
    pub fn own_dir(
        &self,
        rel: impl AsRef<Path>,
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<bool, Error> {
        let rel = rel.as_ref();
        let fd = match self.resolve(rel, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Error::Symlink(_)) => return Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    Some(std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let path = self.display(rel);
        nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(Error::errno("change the owner of", &path))?;
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
            .map_err(Error::errno("change the mode of", &path))?;
        Ok(true)
    }

    /// Opens the regular file `rel` for reading (symlinks are followed only inside this
    /// directory). A directory, device, fifo or socket is refused without being opened.
    pub fn open_regular(&self, rel: impl AsRef<Path>) -> Result<File, Error> {
        let rel = rel.as_ref();
        let path = self.display(rel);
        // Stat through an O_PATH descriptor first: opening a fifo or device could block or
        // act on hardware.
        let probe = self.resolve(rel, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
        let st = fstat(&probe).map_err(Error::errno("stat", &path))?;
        let kind = Kind::of(&st);
        if kind != Kind::File {
            return Err(Error::NotRegular { path, kind });
        }
        let from = self.open_file(rel)?;
        let again = fstat(&from).map_err(Error::errno("stat", &path))?;
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Error::errno("open", &path)(Errno::ESTALE));
        }
        Ok(from)
    }

    /// Copies the regular file `rel` (see [`Dir::open_regular`]) to `to`, written
    /// atomically.
    pub fn copy_regular(&self, rel: impl AsRef<Path>, to: &Path) -> Result<u64, Error> {
        let rel = rel.as_ref();
        let path = self.display(rel);
        let mut from = self.open_regular(rel)?;
        let mut out = crate::AtomicFile::create(to)?;
        let n = std::io::copy(&mut from, &mut out).map_err(Error::io("copy", &path))?;
        out.commit()?;
        Ok(n)
    }

    /// Removes `rel` like [`crate::remove_tree_at`]: its parents resolve beneath this
    /// directory, and a symlink as its last component is unlinked, not followed.
    pub fn remove_tree(&self, rel: impl AsRef<Path>) -> Result<(), Error> {
        let (parent, name) = match self.resolve_parent(rel.as_ref()) {
            Ok(p) => p,
            Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        crate::remove_tree_at(&parent, &name)
    }

    /// The target of the symbolic link `rel` (read, never followed).
    pub fn read_link(&self, rel: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let rel = rel.as_ref();
        let (parent, name) = self.resolve_parent(rel)?;
        nix::fcntl::readlinkat(&parent, name.as_os_str())
            .map(PathBuf::from)
            .map_err(Error::errno("read the link", self.display(rel)))
    }

    /// Writes `bytes` as the regular file `rel` with `mode`, owned by `uid:gid`. The parents
    /// resolve inside this directory; whatever non-directory was at `rel` (a symlink
    /// included) is replaced by a rename, never written through.
    pub fn install_file(
        &self,
        rel: impl AsRef<Path>,
        bytes: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<(), Error> {
        let rel = rel.as_ref();
        let (parent, name) = self.resolve_parent(rel)?;
        let mut f = crate::AtomicFile::create_in(&parent, &name, 0o600)?;
        std::io::Write::write_all(&mut f, bytes).map_err(Error::io("write", self.display(rel)))?;
        f.set_owner(uid, gid, mode)?;
        f.commit()
    }

    /// Creates the symbolic link `rel` -> `target`, owned by `uid:gid`, replacing whatever
    /// non-directory was at `rel`. The target is stored as given and never resolved.
    pub fn install_symlink(
        &self,
        rel: impl AsRef<Path>,
        target: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<(), Error> {
        let rel = rel.as_ref();
        let path = self.display(rel);
        let (parent, name) = self.resolve_parent(rel)?;
        let tmp = loop {
            let tmp = OsString::from(format!(".isoforge-{:016x}.tmp", crate::random()));
            match nix::unistd::symlinkat(target, &parent, tmp.as_os_str()) {
                Ok(()) => break tmp,
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(Error::errno("create the link", &path)(e)),
            }
        };
        let done = nix::unistd::fchownat(
            &parent,
            tmp.as_os_str(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(Error::errno("change the owner of", &path))
        .and_then(|()| {
            nix::fcntl::renameat(&parent, tmp.as_os_str(), &parent, name.as_os_str())
                .map_err(Error::errno("rename into", &path))
        });
        if done.is_err() {
            let _ = nix::unistd::unlinkat(
                &parent,
                tmp.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        done
    }

    /// Flushes the directory's entries to disk (after a rename or create in it).
    pub fn sync(&self) -> Result<(), Error> {
        nix::unistd::fsync(&self.fd).map_err(Error::errno("sync", &self.path))
    }
}

/// The sorted names in the directory `fd` (consumed).
pub(crate) fn list(fd: OwnedFd, path: &Path) -> Result<Vec<OsString>, Error> {
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(Error::errno("read", path))?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(Error::errno("read", path))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

fn resolve_error(e: Errno, path: PathBuf) -> Error {
    match e {
        Errno::EXDEV => Error::Escape(path),
        Errno::ELOOP => Error::Symlink(path),
        e => Error::errno("open", path)(e),
    }
}

fn resolve_openat2(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlag,
    mode: Mode,
    scope: Scope,
) -> nix::Result<OwnedFd> {
    let resolve = ResolveFlag::RESOLVE_NO_MAGICLINKS
        | match scope {
            Scope::Beneath => ResolveFlag::RESOLVE_BENEATH,
            Scope::InRoot => ResolveFlag::RESOLVE_IN_ROOT,
        };
    let how = OpenHow::new().flags(flags).mode(mode).resolve(resolve);
    openat2(dir, rel, how)
}

/// The fallback for kernels without `openat2` (before 5.6): one component at a time, each with
/// `O_NOFOLLOW`. Stricter than `openat2`: a symlink anywhere on the way is refused.
fn walk(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlag,
    mode: Mode,
    scope: Scope,
) -> nix::Result<OwnedFd> {
    let comps: Vec<Component<'_>> = rel.components().collect();
    let mut stack: Vec<OwnedFd> = Vec::new();
    let path_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let cur = stack.last().map_or(dir, |fd| fd.as_fd());
        match c {
            Component::RootDir | Component::Prefix(_) => match scope {
                Scope::InRoot => stack.clear(),
                Scope::Beneath => return Err(Errno::EXDEV),
            },
            Component::CurDir => {}
            Component::ParentDir => {
                if stack.pop().is_none() && scope == Scope::Beneath {
                    return Err(Errno::EXDEV);
                }
            }
            Component::Normal(n) if last => {
                return openat(cur, *n, flags | OFlag::O_NOFOLLOW, mode);
            }
            Component::Normal(n) => stack.push(openat(cur, *n, path_flags, Mode::empty())?),
        }
    }
    // The path ended on `.`, `..` or `/`: reopen where the walk stands.
    let cur = stack.last().map_or(dir, |fd| fd.as_fd());
    openat(cur, ".", flags, mode)
}

#[cfg(test)]
pub(crate) fn walk_for_test(d: &Dir, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    walk(d.fd.as_fd(), rel, flags, Mode::empty(), d.scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback walk (kernels without openat2) keeps the same promises, more strictly.
    #[test]
    fn fallback_walk_never_leaves_the_directory() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), "inside").unwrap();
        std::fs::write(t.path().join("secret"), "image").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("a/out")).unwrap();
        std::os::unix::fs::symlink("/secret", t.path().join("a/abs")).unwrap();
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let read = |fd: OwnedFd| std::io::read_to_string(File::from(fd)).unwrap();

        let d = Dir::open(t.path()).unwrap();
        assert_eq!(
            read(walk_for_test(&d, Path::new("a/b/f"), flags).unwrap()),
            "inside"
        );
        assert_eq!(
            read(walk_for_test(&d, Path::new("a/../a/b/f"), flags).unwrap()),
            "inside"
        );
        for bad in ["../secret", "/secret", "a/../../secret"] {
            assert_eq!(
                walk_for_test(&d, Path::new(bad), flags).err(),
                Some(Errno::EXDEV),
                "{bad}"
            );
        }
        for link in ["a/out/secret", "a/abs"] {
            let e = walk_for_test(&d, Path::new(link), flags).err();
            assert!(
                matches!(e, Some(Errno::ELOOP | Errno::ENOTDIR)),
                "{link}: {e:?}"
            );
        }

        let img = Dir::open_image(t.path()).unwrap();
        assert_eq!(
            read(walk_for_test(&img, Path::new("/secret"), flags).unwrap()),
            "image"
        );
        assert_eq!(
            read(walk_for_test(&img, Path::new("../../secret"), flags).unwrap()),
            "image"
        );
        assert!(walk_for_test(&img, Path::new("a/abs"), flags).is_err());
    }
}
