//! Copies an overlay ([`isoforge_inputs::overlays`]) into a tree: the image
//! ([`isoforge_fs::Dir::open_image`], whose absolute symlinks mean paths inside it) or the ISO
//! staging tree.
//!
//! Nothing is written through a symlink at an entry's own name: a file or link replaces it by
//! a rename. A directory the image already has as a symlink (`/lib -> usr/lib`) is entered
//! the way the image's root resolves it, so a planted `/etc/foo -> /tmp/x` leads to the
//! image's own `/tmp/x`, never the host's. Times are left to the clamp that runs after.

use std::path::PathBuf;

use isoforge_fs::{Dir, Kind};
use isoforge_inputs::overlays::{Content, Overlay};

use crate::Error;

/// Whether an overlay may replace files already in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// The image: replacing a package's file is the point of `includes.chroot`.
    Replace,
    /// The ISO tree: isoforge's own files (boot images, squashfs) are not the overlay's.
    Refuse,
}

/// Copies `overlay` (named `tree` in messages) into `dest`; returns the paths written.
pub fn apply(
    overlay: &Overlay,
    tree: &str,
    dest: &Dir,
    existing: Existing,
) -> Result<Vec<PathBuf>, Error> {
    let mut wrote = Vec::new();
    for e in overlay.entries.iter().filter(|e| !e.is_keep()) {
        let shown = || format!("{tree}/{}", e.rel.display());
        let have = dest.kind(&e.rel)?;
        match &e.content {
            Content::Dir => match have {
                Some(Kind::Symlink) if dest.resolved_kind(&e.rel)? == Some(Kind::Dir) => {}
                // An existing directory keeps its owner and mode (`/tmp` stays 1777).
                Some(Kind::Dir) => {}
                None => {
                    dest.create_dir(&e.rel, 0o700)?;
                    dest.own_dir(&e.rel, e.uid, e.gid, e.mode)?;
                }
                Some(kind) => {
                    return Err(Error::Invalid(format!(
                        "{}: is a directory, but {} is a {kind}; rename one of them",
                        shown(),
                        dest.display(&e.rel).display()
                    )));
                }
            },
            Content::File(bytes) => {
                check_replace(have, existing, &shown(), dest, e)?;
                dest.install_file(&e.rel, bytes, e.uid, e.gid, e.mode)?;
            }
            Content::Symlink(target) => {
                check_replace(have, existing, &shown(), dest, e)?;
                dest.install_symlink(&e.rel, target, e.uid, e.gid)?;
            }
        }
        wrote.push(e.rel.clone());
    }
    Ok(wrote)
}

/// A file or link may not replace a directory, nor, in the ISO tree, anything.
fn check_replace(
    have: Option<Kind>,
    existing: Existing,
    shown: &str,
    dest: &Dir,
    e: &isoforge_inputs::overlays::Entry,
) -> Result<(), Error> {
    let there = dest.display(&e.rel);
    if have == Some(Kind::Dir) {
        return Err(Error::Invalid(format!(
            "{shown}: {} is a directory; an overlay file cannot replace it",
            there.display()
        )));
    }
    if have.is_some() && existing == Existing::Refuse {
        return Err(Error::Invalid(format!(
            "{shown}: isoforge already writes {}; an overlay cannot replace it \
             (choose another path)",
            there.display()
        )));
    }
    Ok(())
}
