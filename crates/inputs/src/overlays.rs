//! `config/includes.chroot/` and `config/includes.binary/`: files copied into the image and
//! into the ISO tree, live-build's way, and `config/includes.owners`, their owners.
//!
//! The trees are read here, once, into memory: the profile hash and the copy see the same
//! bytes. They are walked through [`isoforge_fs::Dir`] without following a symlink (a
//! symlinked `includes.chroot` or directory below it is refused); a symlink in the tree is
//! kept as a link with its target as written, never read through. Devices, fifos and sockets
//! are refused. Regular files keep what git keeps: 0755 if executable, else 0644;
//! directories are 0755; everything is root:root unless `includes.owners` says otherwise.
//!
//! `includes.owners` has one rule per line, `#` starting a comment:
//!
//! ```text
//! includes.chroot/etc/sudoers.d/wheel  0:0  0440
//! includes.chroot/var/lib/app          105:110
//! ```
//!
//! `PATH UID:GID [MODE]`: numeric ids (the image's names are not known before it exists) and
//! an octal mode. The path must name an entry of `includes.chroot` (the ISO records every
//! file as root's, its mode from the executable bit).
//!
//! Git does not track empty directories: put a file named `.keep` in one. `.keep` files are
//! hashed but not copied.
//!
//! A flavor's directory (`config/flavors/<name>/`) may hold the same trees and owners file;
//! they are read the same way and added on top of the base's ([`combine`]). A flavor adds
//! files; it does not replace one of the base's: the same path as a base file or symlink (or
//! a directory with another owner or mode) is refused, naming both. Put a file that flavors
//! need in different versions into each flavor instead of the base.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use isoforge_fs::{Dir, Kind};

use crate::Error;

/// The trees, in the order they are hashed.
pub const TREES: &[&str] = &[CHROOT, BINARY];
/// Copied into the image after the packages are installed, before cleanup.
pub const CHROOT: &str = "includes.chroot";
/// Copied into the ISO tree before xorriso.
pub const BINARY: &str = "includes.binary";
/// The owners file.
pub const OWNERS: &str = "includes.owners";
/// The marker that ships an empty directory; never copied.
pub const KEEP: &str = ".keep";

/// Limits on what an overlay may hold (they are configuration, not payload).
pub const MAX_BYTES: u64 = 256 << 20;
pub const MAX_ENTRIES: usize = 100_000;
pub const MAX_DEPTH: usize = 64;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// One entry of a tree: its path relative to the tree and what to create there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rel: PathBuf,
    pub content: Content,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (ignored for symlinks).
    pub mode: u32,
}

impl Entry {
    /// A `.keep` marker: hashed, not copied.
    pub fn is_keep(&self) -> bool {
        self.rel.file_name().is_some_and(|n| n == KEEP) && matches!(self.content, Content::File(_))
    }
}

/// One tree, parents before children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    pub entries: Vec<Entry>,
}

/// Both trees (empty when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlays {
    pub chroot: Overlay,
    pub binary: Overlay,
}

impl Overlays {
    pub fn is_empty(&self) -> bool {
        self.chroot.entries.is_empty() && self.binary.entries.is_empty()
    }

    /// `(tree, overlay)` in hashing order.
    pub fn trees(&self) -> [(&'static str, &Overlay); 2] {
        [(CHROOT, &self.chroot), (BINARY, &self.binary)]
    }
}

/// Reads both trees of `config_dir` and applies `includes.owners`.
pub fn load(config_dir: &Path) -> Result<Overlays, Error> {
    let mut budget = Budget::default();
    let mut out = Overlays {
        chroot: load_tree(config_dir, CHROOT, &mut budget)?,
        binary: load_tree(config_dir, BINARY, &mut budget)?,
    };
    let owners_path = config_dir.join(OWNERS);
    match std::fs::symlink_metadata(&owners_path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(file_err(&owners_path, "is not a regular file".into()));
        }
        Ok(_) => {
            let text = std::fs::read_to_string(&owners_path)
                .map_err(|e| file_err(&owners_path, format!("cannot read: {e}")))?;
            apply_owners(&owners_path, &text, &mut out)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(&owners_path, format!("cannot read: {e}"))),
    }
    Ok(out)
}

fn file_err(path: &Path, message: String) -> Error {
    Error::File {
        file: path.to_path_buf(),
        message,
    }
}

#[derive(Default)]
struct Budget {
    bytes: u64,
    entries: usize,
}

fn load_tree(config_dir: &Path, tree: &str, budget: &mut Budget) -> Result<Overlay, Error> {
    let top = config_dir.join(tree);
    let config =
        Dir::open(config_dir).map_err(|e| file_err(config_dir, format!("cannot read: {e}")))?;
    match config.kind(tree) {
        Ok(None) => return Ok(Overlay::default()),
        Ok(Some(Kind::Dir)) => {}
        Ok(Some(kind)) => {
            return Err(file_err(
                &top,
                format!("is a {kind}, not a directory; an overlay is a plain directory"),
            ));
        }
        Err(e) => return Err(file_err(&top, format!("cannot read: {e}"))),
    }
    let dir = config
        .open_dir(tree)
        .map_err(|e| file_err(&top, format!("cannot read: {e}")))?;
    let mut entries = Vec::new();
    walk(&dir, &top, Path::new(""), 0, budget, &mut entries)?;
    Ok(Overlay { entries })
}

fn walk(
    dir: &Dir,
    top: &Path,
    rel: &Path,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Entry>,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(file_err(
            &top.join(rel),
            format!("nested deeper than {MAX_DEPTH} directories"),
        ));
    }
    let here = top.join(rel);
    let names = dir
        .read_dir(rel)
        .map_err(|e| file_err(&here, format!("cannot read: {e}")))?;
    for name in names {
        let rel = rel.join(&name);
        let path = top.join(&rel);
        budget.entries += 1;
        if budget.entries > MAX_ENTRIES {
            return Err(file_err(
                &path,
                format!("more than {MAX_ENTRIES} overlay entries"),
            ));
        }
        let read_err = |e: isoforge_fs::Error| file_err(&path, format!("cannot read: {e}"));
        let entry = |content, mode| Entry {
            rel: rel.clone(),
            content,
            uid: 0,
            gid: 0,
            mode,
        };
        match dir.kind(&rel).map_err(read_err)? {
            Some(Kind::Dir) => {
                out.push(entry(Content::Dir, 0o755));
                walk(dir, top, &rel, depth + 1, budget, out)?;
            }
            Some(Kind::Symlink) => {
                let target = dir.read_link(&rel).map_err(read_err)?;
                out.push(entry(Content::Symlink(target), 0o777));
            }
            Some(Kind::File) => {
                let f = dir.open_regular(&rel).map_err(read_err)?;
                let exec = f
                    .metadata()
                    .map_err(|e| file_err(&path, format!("cannot stat: {e}")))?
                    .permissions()
                    .mode()
                    & 0o111
                    != 0;
                let mut bytes = Vec::new();
                let left = MAX_BYTES - budget.bytes;
                f.take(left + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| file_err(&path, format!("cannot read: {e}")))?;
                budget.bytes += bytes.len() as u64;
                if budget.bytes > MAX_BYTES {
                    return Err(file_err(
                        &path,
                        format!(
                            "the overlays exceed {} MiB; ship large payloads as packages",
                            MAX_BYTES >> 20
                        ),
                    ));
                }
                out.push(entry(
                    Content::File(bytes),
                    if exec { 0o755 } else { 0o644 },
                ));
            }
            Some(Kind::Special) => {
                return Err(file_err(
                    &path,
                    "is a device, fifo or socket; an overlay holds only files, directories \
                     and symlinks (remove it)"
                        .into(),
                ));
            }
            None => return Err(file_err(&path, "vanished while reading".into())),
        }
    }
    Ok(())
}

/// Adds a flavor's trees (`over`, read from `over_dir`) on top of the base's (read from
/// `base_dir`): the flavor's entries follow the base's, a directory both have is kept once,
/// any other path both have is refused.
pub fn combine(
    base: &mut Overlays,
    over: Overlays,
    base_dir: &Path,
    over_dir: &Path,
) -> Result<(), Error> {
    for (tree, base_tree, over_tree) in [
        (CHROOT, &mut base.chroot, over.chroot),
        (BINARY, &mut base.binary, over.binary),
    ] {
        for e in over_tree.entries {
            match base_tree.entries.iter().find(|b| b.rel == e.rel) {
                None => base_tree.entries.push(e),
                Some(b)
                    if b.content == Content::Dir
                        && e.content == Content::Dir
                        && (b.uid, b.gid, b.mode) == (e.uid, e.gid, e.mode) => {}
                Some(b) => {
                    let what = if b.content == Content::Dir && e.content == Content::Dir {
                        "is a directory of the base overlay with another owner or mode"
                    } else {
                        "is also in the base overlay"
                    };
                    return Err(file_err(
                        &over_dir.join(tree).join(&e.rel),
                        format!(
                            "{what} ({}); a flavor adds to the base overlay and does not \
                             replace its entries: move the entry into each flavor that needs it",
                            base_dir.join(tree).join(&b.rel).display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Applies the rules of `includes.owners` (`path` names it in errors).
pub fn apply_owners(path: &Path, text: &str, overlays: &mut Overlays) -> Result<(), Error> {
    for (i, raw) in text.lines().enumerate() {
        let at = |message: String| Error::At {
            file: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !(2..=3).contains(&fields.len()) {
            return Err(at(format!(
                "{line:?}: expected `PATH UID:GID [MODE]`, e.g. `{CHROOT}/etc/app 0:0 0755`"
            )));
        }
        let target = Path::new(fields[0]);
        if !target
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(at(format!(
                "{}: refusing a path with `..`, `.` or a leading `/`; write it relative to \
                 the configuration directory",
                fields[0]
            )));
        }
        let mut comps = target.components();
        let tree = comps.next().and_then(|c| c.as_os_str().to_str());
        let rel = comps.as_path();
        let overlay = match tree {
            Some(CHROOT) => &mut overlays.chroot,
            Some(BINARY) => {
                return Err(at(format!(
                    "{}: the ISO records every file as root's with a mode from its executable \
                     bit (Rock Ridge, rationalized); owners apply to {CHROOT}/ only",
                    fields[0]
                )));
            }
            _ => {
                return Err(at(format!(
                    "{}: the path must start with {CHROOT}/ or {BINARY}/",
                    fields[0]
                )));
            }
        };
        let ids = fields[1]
            .split_once(':')
            .and_then(|(u, g)| Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?)));
        let Some((uid, gid)) = ids else {
            return Err(at(format!(
                "{:?}: expected numeric UID:GID, e.g. 0:0",
                fields[1]
            )));
        };
        let mode = match fields.get(2) {
            None => None,
            Some(m) => match u32::from_str_radix(m, 8) {
                Ok(v) if v <= 0o7777 && (3..=4).contains(&m.len()) => Some(v),
                _ => {
                    return Err(at(format!(
                        "{m:?}: expected an octal mode of 3 or 4 digits, e.g. 0644"
                    )));
                }
            },
        };
        let Some(entry) = overlay.entries.iter_mut().find(|e| e.rel == rel) else {
            return Err(at(format!(
                "{}: no such file in the overlay; add it, or remove this line",
                fields[0]
            )));
        };
        if mode.is_some() && matches!(entry.content, Content::Symlink(_)) {
            return Err(at(format!(
                "{}: is a symlink, which has no mode of its own; remove the mode",
                fields[0]
            )));
        }
        entry.uid = uid;
        entry.gid = gid;
        if let Some(mode) = mode {
            entry.mode = mode;
        }
    }
    Ok(())
}

/// Feeds the trees into the profile hash: each entry's path, kind, mode, owner and content.
pub fn hash_into(overlays: &Overlays, h: &mut impl sha2::Digest) {
    hash_layer_into("", overlays, h)
}

/// [`hash_into`] for a layer's trees, their paths under `layer` (`flavors/<name>`; `""` for
/// the base).
pub fn hash_layer_into(layer: &str, overlays: &Overlays, h: &mut impl sha2::Digest) {
    for (tree, overlay) in overlays.trees() {
        for e in &overlay.entries {
            let path = Path::new(layer).join(tree).join(&e.rel);
            h.update(path.as_os_str().as_encoded_bytes());
            h.update([0]);
            let (kind, bytes): (&[u8], &[u8]) = match &e.content {
                Content::Dir => (b"dir", b""),
                Content::File(b) => (b"file", b),
                Content::Symlink(t) => (b"symlink", t.as_os_str().as_encoded_bytes()),
            };
            h.update(kind);
            h.update(format!(" {:o} {}:{}\0", e.mode, e.uid, e.gid));
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
    }
}
