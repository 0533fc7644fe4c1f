//! The one file-system boundary. isoforge runs as root on trees others can write to (the image
//! rootfs, the output, verify, cache and work directories); every operation on such a tree goes
//! through this crate, which works on directory descriptors and never follows a symlink out of
//! the tree it was given:
//!
//! - [`Dir`]: a directory opened without following a symlink; paths below it resolve with
//!   `openat2` `RESOLVE_BENEATH` ([`Dir::open`], trees isoforge owns) or `RESOLVE_IN_ROOT`
//!   ([`Dir::open_image`], an image whose absolute symlinks mean paths inside it);
//! - [`remove_tree`]: removes a tree; a symlink is unlinked, never followed; mounts below are
//!   detached through descriptors, and a mount found while removing is never crossed;
//! - [`Dir::copy_regular`]: copies a regular file only;
//! - [`AtomicFile`], [`write_atomic`], [`persist`], [`replace_dir`]: temp file, fsync, rename, fsync of the
//!   directory; a directory replaced by an exchange, so no failure loses both versions.

mod atomic;
mod dir;
mod remove;

use std::io;
use std::path::PathBuf;

pub use atomic::{AtomicFile, persist, random, replace_dir, write_atomic};
pub use dir::{Dir, Kind};
pub use remove::{mounts_under, remove_tree, remove_tree_at, unmount_under, unmount_under_dir};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{} is a symbolic link; refusing to follow it (remove it or choose another path)", .0.display())]
    Symlink(PathBuf),
    #[error("{} escapes its directory through a symbolic link or `..`; refusing it", .0.display())]
    Escape(PathBuf),
    #[error("{} is a {kind}, not a regular file; refusing to copy it", path.display())]
    NotRegular { path: PathBuf, kind: Kind },
    #[error("{} is a mount point; refusing to remove across it (unmount it first)", .0.display())]
    MountPoint(PathBuf),
    #[error("{} is nested deeper than {} directories; refusing to remove it", .0.display(), remove::MAX_DEPTH)]
    TooDeep(PathBuf),
    #[error("{} has no file name", .0.display())]
    NoName(PathBuf),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn errno(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(nix::errno::Errno) -> Error {
        let path = path.into();
        move |e| Error::Io {
            op,
            path,
            source: e.into(),
        }
    }

    /// The OS error behind this one, if any (e.g. to tell "not found" apart).
    pub fn kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
