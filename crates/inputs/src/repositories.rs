//! `config/repositories/<name>.env`: extra apt repositories a derivative adds on top of
//! Debian (Kicksecure's, for SilverMetal). Each names its signing key, a file committed
//! under the configuration directory; `isoforge lock` verifies the repository's Release
//! signature against it (apt's `signed-by`), so a repository is trusted by content, not by
//! the machine's keyrings.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::envfile::EnvFile;
use crate::{Error, validate};

/// The directory under the configuration directory.
pub const DIR: &str = "repositories";

const KEYS: &[&str] = &["URL", "SUITE", "COMPONENTS", "SIGNED_BY"];

/// Names reserved for the repositories isoforge itself configures.
const RESERVED: &[&str] = &["debian"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The file's stem: how the lock names the repository.
    pub name: String,
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    /// The signing key file (absolute), and the sha256 of its bytes.
    pub signed_by: PathBuf,
    pub key_sha256: String,
    /// The key file relative to the configuration directory, as written in the config.
    pub signed_by_rel: String,
}

/// Every `repositories/*.env` of `config_dir`, sorted by name (none: an empty list).
pub fn load(config_dir: &Path) -> Result<Vec<Repository>, Error> {
    let dir = config_dir.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::File {
                file: dir,
                message: format!("cannot read: {e}"),
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Repository::load(config_dir, f))
        .collect()
}

impl Repository {
    fn load(config_dir: &Path, path: &Path) -> Result<Self, Error> {
        let file = EnvFile::load(path)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let name = validate::slug(stem).map_err(|m| Error::File {
            file: path.to_path_buf(),
            message: format!("the file name is the repository's name: {m}"),
        })?;
        if RESERVED.contains(&name.as_str()) {
            return Err(Error::File {
                file: path.to_path_buf(),
                message: format!("{name:?} is reserved for Debian itself; rename the file"),
            });
        }
        let f = file.fields(KEYS)?;
        let url = f
            .required(
                "URL",
                "the repository's base URL, e.g. https://deb.kicksecure.com",
                validate::url,
            )?
            .trim_end_matches('/')
            .to_string();
        let suite = f.required(
            "SUITE",
            "the repository's suite, e.g. bookworm",
            validate::slug,
        )?;
        let components = f
            .optional("COMPONENTS", |v| validate::words(v, validate::slug))?
            .unwrap_or_else(|| vec!["main".into()]);
        let signed_by_rel = f.required(
            "SIGNED_BY",
            "the signing key file, relative to the configuration directory",
            key_path,
        )?;
        let signed_by = config_dir.join(&signed_by_rel);
        let bytes = std::fs::read(&signed_by).map_err(|e| {
            let line = file.get("SIGNED_BY").map(|e| e.line).unwrap_or(0);
            Error::At {
                file: path.to_path_buf(),
                line,
                message: format!(
                    "SIGNED_BY: cannot read {}: {e}; commit the repository's signing key there",
                    signed_by.display()
                ),
            }
        })?;
        // apt reads `signed-by` only as an absolute path (or a fingerprint), and the
        // configuration directory is relative by default (`config`).
        let signed_by = std::path::absolute(&signed_by).unwrap_or(signed_by);
        Ok(Self {
            name,
            url,
            suite,
            components,
            signed_by,
            key_sha256: hex::encode(Sha256::digest(&bytes)),
            signed_by_rel,
        })
    }
}

/// A relative path without `..` ending in `.gpg` or `.asc` (the forms apt's signed-by reads).
fn key_path(v: &str) -> Result<String, String> {
    let p = Path::new(v);
    let plain = p
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(format!(
            "{v:?}; expected a path relative to the configuration directory, without `..`"
        ));
    }
    if !(v.ends_with(".gpg") || v.ends_with(".asc")) {
        return Err(format!(
            "{v:?}; expected a key file ending in .gpg (binary) or .asc (armored), as apt requires"
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_sorted_and_checks_keys() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let repos = dir.path().join(DIR);
        std::fs::create_dir_all(&repos).unwrap();
        std::fs::write(repos.join("k.asc"), "key").unwrap();
        std::fs::write(
            repos.join("kicksecure.env"),
            "URL=https://deb.kicksecure.com/\nSUITE=bookworm\nCOMPONENTS=\"main contrib\"\nSIGNED_BY=repositories/k.asc\n",
        )
        .unwrap();
        let r = load(dir.path()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name, "kicksecure");
        assert_eq!(r[0].url, "https://deb.kicksecure.com");
        assert_eq!(r[0].components, vec!["main", "contrib"]);
        assert_eq!(r[0].key_sha256, hex::encode(Sha256::digest(b"key")));

        std::fs::write(
            repos.join("kicksecure.env"),
            "URL=https://x\nSUITE=bookworm\nSIGNED_BY=../k.asc\n",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("kicksecure.env:3: SIGNED_BY:"), "{e}");
        std::fs::write(
            repos.join("kicksecure.env"),
            "URL=https://x\nSUITE=bookworm\nSIGNED_BY=repositories/missing.gpg\n",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("kicksecure.env:3: SIGNED_BY: cannot read"),
            "{e}"
        );
        std::fs::remove_file(repos.join("kicksecure.env")).unwrap();
        std::fs::write(repos.join("debian.env"), "URL=https://x\n").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("reserved"), "{e}");
    }
}
