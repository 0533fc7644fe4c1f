//! `config/package-lists/*.list.chroot`: extra packages for the image, live-build's way.
//!
//! One package per line; `#` starts a comment; blank lines are skipped. The files are read in
//! lexical order of their names, without a shell, and merged with the profile's `PACKAGES`
//! ([`merge`]): the result is sorted, and a package named twice is installed once.
//!
//! The directory and its files are read without following symlinks (the configuration
//! directory may come from a hostile checkout), and every error names the file and line.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::validate;

/// The directory under the configuration directory.
pub const DIR: &str = "package-lists";

/// The suffix of a package list (live-build's, for packages installed into the image).
pub const SUFFIX: &str = ".list.chroot";

/// The largest list read, and the most lists read (the real ones are a few lines).
pub const MAX_BYTES: u64 = 1 << 20;
pub const MAX_FILES: usize = 256;

/// One list file: its path relative to the configuration directory, and its packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageList {
    /// `package-lists/NAME.list.chroot`.
    pub rel: String,
    /// The packages, in the file's order.
    pub packages: Vec<String>,
}

/// Every list of `config_dir`, in lexical order of names (none: an empty list).
pub fn load(config_dir: &Path) -> Result<Vec<PackageList>, Error> {
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
            format!("more than {MAX_FILES} files; merge the lists"),
        ));
    }
    let mut lists = Vec::new();
    for name in names {
        let path = dir_path.join(&name);
        let Some(name) = name.to_str().filter(|n| n.ends_with(SUFFIX)) else {
            return Err(file_err(
                path,
                format!(
                    "not a package list; only NAME{SUFFIX} files belong in {DIR}/ \
                     (isoforge has no *.list.binary: the ISO tree holds no .debs)"
                ),
            ));
        };
        match dir.kind(name) {
            Ok(Some(isoforge_fs::Kind::File)) => {}
            Ok(Some(kind)) => {
                return Err(file_err(
                    path,
                    format!("is a {kind}, not a regular file; a package list is a plain file"),
                ));
            }
            Ok(None) => return Err(file_err(path, "vanished while reading".into())),
            Err(e) => return Err(file_err(path, format!("cannot read: {e}"))),
        }
        let mut bytes = Vec::new();
        dir.open_regular(name)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                f.take(MAX_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| file_err(path.clone(), format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(file_err(
                path,
                format!("larger than {} KiB; not a package list", MAX_BYTES >> 10),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            file_err(
                path.clone(),
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        lists.push(PackageList {
            rel: format!("{DIR}/{name}"),
            packages: parse(&path, &text)?,
        });
    }
    Ok(lists)
}

/// The packages of one list's text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = |message: String| Error::At {
            file: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let trimmed = raw.trim();
        // live-build reads these as preprocessor directives; as comments they would silently
        // drop packages.
        for directive in ["#include", "#if", "#endif", "#nif"] {
            if trimmed.starts_with(directive) {
                return Err(at(format!(
                    "live-build's {directive} is not supported; list the packages themselves"
                )));
            }
        }
        let line = trimmed.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.split_whitespace().nth(1).is_some() {
            return Err(at(format!("{line:?}: expected one package per line")));
        }
        out.push(validate::package_name(line).map_err(at)?);
    }
    Ok(out)
}

/// `PACKAGES` merged with the lists. Without lists it is `PACKAGES` unchanged; with lists,
/// the union, sorted, each package once (a duplicate, in `PACKAGES` or another list, is not
/// an error: apt installs a package once).
pub fn merge(packages: &[String], lists: &[PackageList]) -> Vec<String> {
    if lists.is_empty() {
        return packages.to_vec();
    }
    let mut all: Vec<String> = packages
        .iter()
        .chain(lists.iter().flat_map(|l| l.packages.iter()))
        .cloned()
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        std::fs::write(dir.join(DIR).join(name), text).unwrap();
    }

    #[test]
    fn reads_lists_in_order_with_comments() {
        let d = tempfile::tempdir().unwrap();
        assert!(load(d.path()).unwrap().is_empty());
        write(
            d.path(),
            "20-tools.list.chroot",
            "# tools\n\nnano  # an editor\n  less\n",
        );
        write(d.path(), "10-base.list.chroot", "vim-tiny\n");
        let lists = load(d.path()).unwrap();
        assert_eq!(
            lists,
            vec![
                PackageList {
                    rel: "package-lists/10-base.list.chroot".into(),
                    packages: vec!["vim-tiny".into()],
                },
                PackageList {
                    rel: "package-lists/20-tools.list.chroot".into(),
                    packages: vec!["nano".into(), "less".into()],
                },
            ]
        );
        let merged = merge(&["nano".into(), "live-boot".into()], &lists);
        assert_eq!(merged, vec!["less", "live-boot", "nano", "vim-tiny"]);
        assert_eq!(merge(&["b".into(), "a".into()], &[]), vec!["b", "a"]);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let p = Path::new("config/package-lists/x.list.chroot");
        let e = parse(p, "nano\n# ok\nNano\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "config/package-lists/x.list.chroot:3: \"Nano\" is not a Debian package name"
        );
        let e = parse(p, "nano less\n").unwrap_err().to_string();
        assert!(
            e.starts_with("config/package-lists/x.list.chroot:1: "),
            "{e}"
        );
        assert!(e.contains("one package per line"), "{e}");
        let e = parse(p, "a1\n#include <x>\n").unwrap_err().to_string();
        assert!(e.contains(":2: live-build's #include"), "{e}");
        let e = parse(p, "$(reboot)\n").unwrap_err().to_string();
        assert!(e.contains(":1: "), "{e}");
    }

    #[test]
    fn refuses_symlinks_and_strangers() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, "nano\n").unwrap();
        std::fs::create_dir(d.path().join(DIR)).unwrap();
        std::os::unix::fs::symlink(&secret, d.path().join(DIR).join("a.list.chroot")).unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("a.list.chroot: is a symbolic link"), "{e}");

        let d = tempfile::tempdir().unwrap();
        write(d.path(), "tools.list", "nano\n");
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("tools.list: not a package list"), "{e}");

        // The directory itself must not be a symlink either.
        let d = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(DIR)).unwrap();
        assert!(load(d.path()).is_err());
    }
}
