//! `config/hooks/*.hook.chroot` and `*.hook.binary`: the profile's own scripts, live-build's
//! way. A chroot hook runs inside the image after `includes.chroot/`, a binary hook in the ISO
//! tree after `includes.binary/` (`isoforge-rootfs`'s `hooks` module runs them).
//!
//! [`load`] reads ONE directory's `hooks/` (a flavor's layer is another call), in lexical
//! order of names, into memory: the profile hash and the run see the same bytes. A hook must
//! be a regular file (a symlink is refused, never followed) and executable (git keeps 0755);
//! its name is limited to letters, digits, `.`, `_`, `-`, so that logs and records can name
//! it plainly.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// The directory under the configuration directory.
pub const DIR: &str = "hooks";
/// Runs inside the image (chroot), after `includes.chroot/`, before cleanup.
pub const CHROOT_SUFFIX: &str = ".hook.chroot";
/// Runs in the ISO staging tree, after `includes.binary/`, before xorriso.
pub const BINARY_SUFFIX: &str = ".hook.binary";

/// The largest hook read, and the most hooks (they are scripts, not payload).
pub const MAX_BYTES: u64 = 1 << 20;
pub const MAX_FILES: usize = 256;

/// Where a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chroot,
    Binary,
}

/// One hook: its name, where it runs, its mode and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The file name, e.g. `10-motd.hook.chroot`.
    pub name: String,
    /// `hooks/NAME`, relative to the configuration directory.
    pub rel: String,
    pub kind: Kind,
    /// Permission bits as found (always executable: others are refused).
    pub mode: u32,
    pub bytes: Vec<u8>,
}

impl Hook {
    /// How records and messages name it: `hooks/NAME`.
    pub fn label(&self) -> &str {
        &self.rel
    }
}

/// Every hook of `config_dir/hooks/`, in lexical order of names (none: empty).
pub fn load(config_dir: &Path) -> Result<Vec<Hook>, Error> {
    let dir_path = config_dir.join(DIR);
    let file_err = |file: PathBuf, message: String| Error::File { file, message };
    let dir = match isoforge_fs::Dir::open(&dir_path) {
        Ok(d) => d,
        Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(file_err(dir_path, format!("cannot read: {e}"))),
    };
    let names = dir
        .read_dir("")
        .map_err(|e| file_err(dir_path.clone(), format!("cannot read: {e}")))?;
    if names.len() > MAX_FILES {
        return Err(file_err(
            dir_path,
            format!("more than {MAX_FILES} files; merge the hooks"),
        ));
    }
    let mut hooks = Vec::new();
    for name in names {
        let path = dir_path.join(&name);
        let Some(name) = name.to_str() else {
            return Err(file_err(path, "the name is not UTF-8; rename it".into()));
        };
        let kind = if name.ends_with(CHROOT_SUFFIX) {
            Kind::Chroot
        } else if name.ends_with(BINARY_SUFFIX) {
            Kind::Binary
        } else {
            return Err(file_err(
                path,
                format!(
                    "not a hook; only NAME{CHROOT_SUFFIX} (run in the image) and \
                     NAME{BINARY_SUFFIX} (run in the ISO tree) belong in {DIR}/"
                ),
            ));
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            || name.starts_with('.')
        {
            return Err(file_err(
                path,
                "a hook's name may hold only letters, digits, `.`, `_` and `-`; rename it".into(),
            ));
        }
        match dir.kind(name) {
            Ok(Some(isoforge_fs::Kind::File)) => {}
            Ok(Some(kind)) => {
                return Err(file_err(
                    path,
                    format!("is a {kind}, not a regular file; a hook is a plain executable file"),
                ));
            }
            Ok(None) => return Err(file_err(path, "vanished while reading".into())),
            Err(e) => return Err(file_err(path, format!("cannot read: {e}"))),
        }
        let f = dir
            .open_regular(name)
            .map_err(|e| file_err(path.clone(), format!("cannot read: {e}")))?;
        let mode = f
            .metadata()
            .map_err(|e| file_err(path.clone(), format!("cannot stat: {e}")))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o100 == 0 {
            return Err(file_err(
                path,
                "is not executable; a hook must be: `chmod +x` it and commit (git keeps 0755)"
                    .into(),
            ));
        }
        let mut bytes = Vec::new();
        f.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| file_err(path.clone(), format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(file_err(
                path,
                format!(
                    "larger than {} KiB; a hook is a script (ship payloads as packages)",
                    MAX_BYTES >> 10
                ),
            ));
        }
        hooks.push(Hook {
            name: name.to_string(),
            rel: format!("{DIR}/{name}"),
            kind,
            mode,
            bytes,
        });
    }
    Ok(hooks)
}

/// Feeds the hooks into the profile hash: each one's path, mode and bytes. No hooks: nothing
/// (a profile without hooks hashes as before they existed).
pub fn hash_into(hooks: &[Hook], h: &mut impl sha2::Digest) {
    for hook in hooks {
        h.update(hook.rel.as_bytes());
        h.update([0]);
        h.update(format!("hook {:o}\0", hook.mode));
        h.update((hook.bytes.len() as u64).to_be_bytes());
        h.update(&hook.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) {
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        let p = dir.join(DIR).join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn reads_hooks_in_lexical_order() {
        let d = tempfile::tempdir().unwrap();
        assert!(load(d.path()).unwrap().is_empty());
        write(d.path(), "20-b.hook.chroot", "#!/bin/sh\necho b\n", 0o755);
        write(d.path(), "10-a.hook.binary", "#!/bin/sh\necho a\n", 0o755);
        write(d.path(), "15-c.hook.chroot", "#!/bin/sh\n", 0o700);
        let hooks = load(d.path()).unwrap();
        let names: Vec<(&str, Kind, u32)> = hooks
            .iter()
            .map(|h| (h.name.as_str(), h.kind, h.mode))
            .collect();
        assert_eq!(
            names,
            [
                ("10-a.hook.binary", Kind::Binary, 0o755),
                ("15-c.hook.chroot", Kind::Chroot, 0o700),
                ("20-b.hook.chroot", Kind::Chroot, 0o755),
            ]
        );
        assert_eq!(hooks[2].bytes, b"#!/bin/sh\necho b\n");
        assert_eq!(hooks[2].label(), "hooks/20-b.hook.chroot");
    }

    /// Bad input: one line naming the file.
    #[test]
    fn refuses_what_is_not_a_hook() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "10-a.hook.chroot", "#!/bin/sh\n", 0o644);
        let e = load(d.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}/hooks/10-a.hook.chroot: is not executable; a hook must be: `chmod +x` it \
                 and commit (git keeps 0755)",
                d.path().display()
            )
        );
        assert_eq!(e.lines().count(), 1);

        let d = tempfile::tempdir().unwrap();
        write(d.path(), "10-a.sh", "#!/bin/sh\n", 0o755);
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("hooks/10-a.sh: not a hook"), "{e}");

        let d = tempfile::tempdir().unwrap();
        write(d.path(), "10 a.hook.chroot", "#!/bin/sh\n", 0o755);
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("10 a.hook.chroot: a hook's name"), "{e}");

        // A symlink is refused, never read through.
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(d.path().join(DIR)).unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join(DIR).join("x.hook.chroot")).unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("x.hook.chroot: is a symbolic link"), "{e}");
    }

    #[test]
    fn hash_covers_name_mode_and_bytes() {
        use sha2::Digest;
        let hash = |hooks: &[Hook]| {
            let mut h = sha2::Sha256::new();
            hash_into(hooks, &mut h);
            h.finalize()
        };
        let base = Hook {
            name: "a.hook.chroot".into(),
            rel: "hooks/a.hook.chroot".into(),
            kind: Kind::Chroot,
            mode: 0o755,
            bytes: b"x".to_vec(),
        };
        let h0 = hash(std::slice::from_ref(&base));
        assert_ne!(h0, hash(&[]));
        let mut m = base.clone();
        m.mode = 0o750;
        assert_ne!(h0, hash(&[m]));
        let mut m = base.clone();
        m.bytes = b"y".to_vec();
        assert_ne!(h0, hash(&[m]));
        let mut m = base;
        m.rel = "hooks/b.hook.chroot".into();
        assert_ne!(h0, hash(&[m]));
    }
}
