//! The content-addressed package cache.
//!
//! A file is stored under `sha256/<first 2 hex>/<64 hex>` of its content, written to a
//! temporary file inside the cache, verified, and only then renamed into place. Every read
//! re-verifies the hash: a file that does not match (a bad disk, a hand edit) is deleted and
//! fetched again, or, when it cannot be, refused with the package, the expected and the
//! actual hash. Nothing whose hash does not match is ever kept or handed out.
//!
//! [`fetch`] downloads what is missing from each item's URLs in order (the snapshot, then the
//! mirror), retrying transient failures (timeouts, connection resets, 5xx, 429) with
//! exponential backoff; a 404 moves on to the next URL at once, and a source that cannot be
//! reached at all is not tried again in the same run.

mod fetch;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use fetch::{Item, Options, Report, available, fetch};

/// Environment variable overriding the cache directory.
pub const ENV: &str = "ISOFORGE_CACHE_DIR";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("cancelled")]
    Cancelled,
    /// Reading the source failed part way (a reset connection): worth another try.
    #[error("{0}")]
    Interrupted(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// `$ISOFORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/isoforge`, else `~/.cache/isoforge`.
pub fn default_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os(ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("isoforge"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/isoforge")),
        None => Err(Error::Unavailable(
            "no cache directory: HOME is not set; pass --cache-dir DIR or set ISOFORGE_CACHE_DIR"
                .into(),
        )),
    }
}

/// What checking a cached file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Present and its content has the expected hash.
    Valid(PathBuf),
    Missing,
    /// Present with another hash (`actual`); it has been deleted.
    Corrupt {
        actual: String,
    },
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating) the cache at `root`.
    pub fn open(root: &Path) -> Result<Self, Error> {
        for d in [root.join("sha256"), root.join("tmp")] {
            std::fs::create_dir_all(&d).map_err(io_err(format!(
                "cannot create the cache directory {}",
                d.display()
            )))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where content with `sha256` lives (whether or not it is there).
    pub fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join("sha256").join(prefix).join(sha256)
    }

    /// Checks the cached copy of `sha256`, deleting it when its content does not match.
    pub fn lookup(&self, sha256: &str) -> Result<Lookup, Error> {
        let path = self.path(sha256);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(e) => return Err(io_err(format!("cannot open {}", path.display()))(e)),
        };
        let actual = isoforge_checksums::sha256_reader(f)
            .map_err(io_err(format!("cannot read {}", path.display())))?
            .hex();
        if actual == sha256 {
            return Ok(Lookup::Valid(path));
        }
        std::fs::remove_file(&path).map_err(io_err(format!(
            "cannot delete the corrupt {}",
            path.display()
        )))?;
        Ok(Lookup::Corrupt { actual })
    }

    /// Copies `reader` into the cache if it hashes to `sha256` (and has `size` bytes).
    /// Returns the actual hash on a mismatch, and keeps nothing then.
    pub fn insert(
        &self,
        sha256: &str,
        size: Option<u64>,
        mut reader: impl Read,
    ) -> Result<Result<PathBuf, String>, Error> {
        let dest = self.path(sha256);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(io_err(format!("cannot create {}", p.display())))?;
        }
        // Dropped without commit (a mismatch, an error), the temporary file goes away.
        let mut tmp = isoforge_fs::AtomicFile::create(&dest)?;
        let mut h = Sha256::new();
        let mut n: u64 = 0;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let k = reader
                .read(&mut buf)
                .map_err(|e| Error::Interrupted(format!("interrupted after {n} bytes: {e}")))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
            tmp.write_all(&buf[..k])
                .map_err(io_err("cannot write to the cache"))?;
            if size.is_some_and(|s| n > s) {
                break;
            }
        }
        let actual = hex::encode(h.finalize());
        if actual != sha256 || size.is_some_and(|s| s != n) {
            return Ok(Err(format!("{actual} ({n} bytes)")));
        }
        tmp.commit()?;
        Ok(Ok(dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn keeps_only_matching_content_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        let good = sha(b"deb");
        assert_eq!(c.lookup(&good).unwrap(), Lookup::Missing);
        let bad = c.insert(&good, Some(3), &b"bed"[..]).unwrap().unwrap_err();
        assert!(bad.starts_with(&sha(b"bed")), "{bad}");
        assert_eq!(
            c.lookup(&good).unwrap(),
            Lookup::Missing,
            "a mismatch is not kept"
        );
        let p = c.insert(&good, Some(3), &b"deb"[..]).unwrap().unwrap();
        assert_eq!(p, dir.path().join("sha256").join(&good[..2]).join(&good));
        assert_eq!(c.lookup(&good).unwrap(), Lookup::Valid(p.clone()));
        std::fs::write(&p, "bit rot").unwrap();
        assert_eq!(
            c.lookup(&good).unwrap(),
            Lookup::Corrupt {
                actual: sha(b"bit rot")
            }
        );
        assert!(!p.exists(), "a corrupt entry is deleted");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
