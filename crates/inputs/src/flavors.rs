//! `config/flavors/<name>.conf` and `config/flavors/<name>/`: variants of one profile
//! (Kicksecure's `-cli` and `-lxqt`), each built into its own ISO from its own lock.
//!
//! A profile is read as **layers**: the base (`config/`) and then, for a flavor, its
//! directory (`config/flavors/<name>/`). Each layer may hold `package-lists/`,
//! `includes.chroot/`, `includes.binary/` and `includes.owners`; they are loaded from each
//! layer and combined, base first ([`Layer`], [`crate::Inputs::load`]).
//!
//! The flavor's `.conf` holds the profile's keys: `PACKAGES` is **added** to the base's, every
//! other key **replaces** the base's value. The base's `DEFAULT_FLAVOR` names the flavor that
//! a command without `--flavor` uses. A profile without `config/flavors/` and without
//! `DEFAULT_FLAVOR` has no flavors and builds as it always did.
//!
//! Everything here is read without following a symlink: `flavors/` and each entry in it must
//! be a plain file or directory.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::envfile::EnvFile;

/// The directory of the flavors, under the configuration directory.
pub const DIR: &str = "flavors";
/// A flavor's configuration file: `flavors/<name>.conf`.
pub const SUFFIX: &str = ".conf";
/// The most flavors a profile may have (each one is a full build).
pub const MAX_FLAVORS: usize = 64;
/// The longest flavor name (it goes into file and directory names).
pub const MAX_NAME: usize = 32;

/// One selected flavor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    pub name: String,
}

impl Flavor {
    /// `flavors/<name>.conf`, relative to the configuration directory.
    pub fn conf_rel(&self) -> String {
        format!("{DIR}/{}{SUFFIX}", self.name)
    }

    /// `flavors/<name>`, the flavor's own layer, relative to the configuration directory.
    pub fn dir_rel(&self) -> String {
        format!("{DIR}/{}", self.name)
    }
}

/// One layer of a profile: a directory that may hold package lists and overlays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The directory (`config/`, or `config/flavors/<name>/`).
    pub dir: PathBuf,
    /// Its path relative to the configuration directory: `""` for the base,
    /// `flavors/<name>` for a flavor. Prefixes the layer's files in the profile hash.
    pub rel: String,
}

impl Layer {
    /// `name` inside this layer, relative to the configuration directory.
    pub fn rel_path(&self, name: &str) -> String {
        if self.rel.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.rel)
        }
    }
}

/// The layers of a profile, base first. A flavor whose directory does not exist adds no
/// layer (its `.conf` alone is the flavor).
pub fn layers(config_dir: &Path, flavor: Option<&Flavor>) -> Result<Vec<Layer>, Error> {
    let mut out = vec![Layer {
        dir: config_dir.to_path_buf(),
        rel: String::new(),
    }];
    if let Some(f) = flavor {
        let flavors = config_dir.join(DIR);
        let dir = open_flavors(&flavors)?.ok_or_else(|| missing(config_dir, &f.name, &[]))?;
        match dir.kind(&f.name) {
            Ok(None) => {}
            Ok(Some(isoforge_fs::Kind::Dir)) => out.push(Layer {
                dir: flavors.join(&f.name),
                rel: f.dir_rel(),
            }),
            Ok(Some(kind)) => {
                return Err(Error::File {
                    file: flavors.join(&f.name),
                    message: format!(
                        "is a {kind}, not a directory; a flavor's package lists and overlays \
                         go in a plain directory"
                    ),
                });
            }
            Err(e) => {
                return Err(Error::File {
                    file: flavors.join(&f.name),
                    message: format!("cannot read: {e}"),
                });
            }
        }
    }
    Ok(out)
}

/// Checks a flavor name: 1 to [`MAX_NAME`] of `a-z`, `0-9` and `-`, starting with a letter
/// or digit (it becomes part of file names, the lock's and the ISO's).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a flavor name; expected 1-{MAX_NAME} of a-z, 0-9 and '-' \
             (not starting with '-')"
        ))
    }
}

/// The flavors of the profile in `config_dir`, sorted (none: empty).
pub fn list(config_dir: &Path) -> Result<Vec<String>, Error> {
    let flavors = config_dir.join(DIR);
    let Some(dir) = open_flavors(&flavors)? else {
        return Ok(Vec::new());
    };
    let file_err = |file: PathBuf, message: String| Error::File { file, message };
    let names = dir
        .read_dir("")
        .map_err(|e| file_err(flavors.clone(), format!("cannot read: {e}")))?;
    if names.len() > 2 * MAX_FLAVORS {
        return Err(file_err(
            flavors,
            format!("more than {MAX_FLAVORS} flavors"),
        ));
    }
    let mut confs = Vec::new();
    let mut dirs = Vec::new();
    for name in names {
        let path = flavors.join(&name);
        let kind = dir
            .kind(&name)
            .map_err(|e| file_err(path.clone(), format!("cannot read: {e}")))?;
        let name = name.to_string_lossy().into_owned();
        match kind {
            Some(isoforge_fs::Kind::File) if name.ends_with(SUFFIX) => {
                let flavor = &name[..name.len() - SUFFIX.len()];
                validate_name(flavor).map_err(|m| file_err(path.clone(), m))?;
                confs.push(flavor.to_string());
            }
            Some(isoforge_fs::Kind::Dir) => {
                validate_name(&name).map_err(|m| file_err(path.clone(), m))?;
                dirs.push((name, path));
            }
            Some(isoforge_fs::Kind::Symlink) => {
                return Err(file_err(
                    path,
                    "is a symbolic link; a flavor is a plain NAME.conf file and an optional \
                     NAME/ directory"
                        .into(),
                ));
            }
            _ => {
                return Err(file_err(
                    path,
                    format!(
                        "not a flavor; {DIR}/ holds NAME{SUFFIX} files and their NAME/ \
                         directories only"
                    ),
                ));
            }
        }
    }
    for (name, path) in dirs {
        if !confs.contains(&name) {
            return Err(file_err(
                path,
                format!(
                    "a flavor directory without {DIR}/{name}{SUFFIX}; add the .conf or remove the directory"
                ),
            ));
        }
    }
    confs.sort();
    Ok(confs)
}

/// The flavor to build: `requested`, else the base profile's `DEFAULT_FLAVOR`; `None` for a
/// profile without flavors (and nothing requested).
pub fn select(config_dir: &Path, requested: Option<&str>) -> Result<Option<Flavor>, Error> {
    let available = list(config_dir)?;
    let base_path = config_dir.join(crate::profile::FILE);
    let base = EnvFile::load(&base_path)?;
    let default = base.get(crate::profile::DEFAULT_FLAVOR);
    let name = match (requested, default) {
        (Some(name), _) => {
            validate_name(name).map_err(|m| Error::Other(format!("--flavor {m}")))?;
            name.to_string()
        }
        (None, Some(e)) => {
            let at = |message: String| Error::At {
                file: base_path.clone(),
                line: e.line,
                message,
            };
            validate_name(&e.value).map_err(|m| at(format!("DEFAULT_FLAVOR: {m}")))?;
            if !available.contains(&e.value) {
                return Err(at(format!(
                    "DEFAULT_FLAVOR: {} does not exist; {}",
                    config_dir
                        .join(DIR)
                        .join(format!("{}{SUFFIX}", e.value))
                        .display(),
                    existing(&available)
                )));
            }
            e.value.clone()
        }
        (None, None) if available.is_empty() => return Ok(None),
        (None, None) => {
            return Err(Error::File {
                file: base_path,
                message: format!(
                    "the profile has flavors ({}) but no DEFAULT_FLAVOR; set DEFAULT_FLAVOR \
                     to the one a build without --flavor makes",
                    available.join(", ")
                ),
            });
        }
    };
    if !available.contains(&name) {
        return Err(missing(config_dir, &name, &available));
    }
    Ok(Some(Flavor { name }))
}

/// Every flavor of the profile (`--all-flavors`), or `[None]` for a profile without flavors.
pub fn all(config_dir: &Path) -> Result<Vec<Option<Flavor>>, Error> {
    let names = list(config_dir)?;
    if names.is_empty() {
        // Still checks that DEFAULT_FLAVOR does not name a flavor that is not there.
        return Ok(vec![select(config_dir, None)?]);
    }
    Ok(names
        .into_iter()
        .map(|name| Some(Flavor { name }))
        .collect())
}

fn open_flavors(flavors: &Path) -> Result<Option<isoforge_fs::Dir>, Error> {
    match isoforge_fs::Dir::open(flavors) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == Some(std::io::ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(Error::File {
            file: flavors.to_path_buf(),
            message: format!("cannot read (a plain directory is expected): {e}"),
        }),
    }
}

fn existing(available: &[String]) -> String {
    if available.is_empty() {
        format!("this profile has no flavors ({DIR}/ is missing or empty)")
    } else {
        format!("the flavors are: {}", available.join(", "))
    }
}

fn missing(config_dir: &Path, name: &str, available: &[String]) -> Error {
    Error::File {
        file: config_dir.join(DIR).join(format!("{name}{SUFFIX}")),
        message: format!("no such flavor; {}", existing(available)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(default: Option<&str>, flavors: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mut base = String::from("NAME=x\n");
        if let Some(f) = default {
            base.push_str(&format!("DEFAULT_FLAVOR={f}\n"));
        }
        std::fs::write(d.path().join(crate::profile::FILE), base).unwrap();
        if !flavors.is_empty() {
            std::fs::create_dir(d.path().join(DIR)).unwrap();
        }
        for f in flavors {
            std::fs::write(d.path().join(DIR).join(format!("{f}.conf")), "").unwrap();
        }
        d
    }

    #[test]
    fn names() {
        for good in ["cli", "desktop", "a", "x-1", "0day"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Desktop",
            "-x",
            "a_b",
            "a.b",
            "../x",
            "a/b",
            &"a".repeat(33),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection() {
        let d = profile(None, &[]);
        assert_eq!(select(d.path(), None).unwrap(), None);
        assert_eq!(all(d.path()).unwrap(), vec![None]);
        let e = select(d.path(), Some("cli")).unwrap_err().to_string();
        assert!(e.ends_with("flavors/cli.conf: no such flavor; this profile has no flavors (flavors/ is missing or empty)"), "{e}");

        let d = profile(Some("cli"), &["desktop", "cli"]);
        let cli = Some(Flavor { name: "cli".into() });
        assert_eq!(select(d.path(), None).unwrap(), cli);
        assert_eq!(list(d.path()).unwrap(), vec!["cli", "desktop"]);
        assert_eq!(all(d.path()).unwrap().len(), 2);
        let e = select(d.path(), Some("server")).unwrap_err().to_string();
        assert!(
            e.ends_with("flavors/server.conf: no such flavor; the flavors are: cli, desktop"),
            "{e}"
        );
        let e = select(d.path(), Some("Server")).unwrap_err().to_string();
        assert!(
            e.starts_with("--flavor \"Server\" is not a flavor name"),
            "{e}"
        );

        let d = profile(Some("gui"), &["cli"]);
        let e = select(d.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("silvermetal-base.conf:2: DEFAULT_FLAVOR: "),
            "{e}"
        );
        assert!(
            e.ends_with("flavors/gui.conf does not exist; the flavors are: cli"),
            "{e}"
        );
        let d = profile(None, &["cli"]);
        let e = select(d.path(), None).unwrap_err().to_string();
        assert!(e.contains("no DEFAULT_FLAVOR"), "{e}");
    }

    #[test]
    fn strangers_and_symlinks_are_refused() {
        let d = profile(Some("cli"), &["cli"]);
        std::fs::write(d.path().join(DIR).join("notes.txt"), "").unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("notes.txt: not a flavor"), "{e}");

        let d = profile(Some("cli"), &["cli"]);
        std::fs::create_dir(d.path().join(DIR).join("gui")).unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("gui: a flavor directory without flavors/gui.conf"),
            "{e}"
        );

        let d = profile(Some("cli"), &["cli"]);
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(DIR).join("cli")).unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("cli: is a symbolic link"), "{e}");

        let d = profile(Some("cli"), &[]);
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(DIR)).unwrap();
        assert!(list(d.path()).is_err());
    }
}
