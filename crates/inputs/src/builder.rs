//! `config/builder.env`: the builder, the set of tools a build runs with, pinned by digest.
//!
//! `BUILDER_IMAGE` must name the builder by content: `name[:tag]@sha256:<64 lowercase hex>`
//! (the seed's rule). A tag alone can move; a digest cannot. The digest is the sha256 of the
//! builder rootfs tarball that `isoforge builder build` makes from `config/builder.lock`, the
//! same bytes `docker load`/`podman import` turn into the image.

use std::fmt;
use std::path::Path;

use crate::envfile::EnvFile;
use crate::{Error, validate};

pub const FILE: &str = "builder.env";

const KEYS: &[&str] = &["BUILDER_IMAGE", "BUILDER_PACKAGES"];

/// The builder's toolchain when `BUILDER_PACKAGES` is not set: what `isoforge build` runs
/// (mmdebstrap and apt, squashfs-tools, GRUB, mtools, dosfstools, xorriso), what `isoforge`
/// itself calls (git, dpkg-deb), and the keys and certificates to reach the archive.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "ca-certificates",
    "debian-archive-keyring",
    "dosfstools",
    "git",
    "grub-common",
    "grub-efi-amd64-bin",
    "grub-pc-bin",
    "mmdebstrap",
    "mtools",
    "squashfs-tools",
    "xorriso",
];

/// An image reference pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `registry/name` without tag or digest.
    pub name: String,
    pub tag: Option<String>,
    /// 64 lowercase hex digits.
    pub digest: String,
}

impl ImageRef {
    /// Parses `name[:tag]@sha256:<64 lowercase hex>`; anything else (a tag alone, another
    /// algorithm, upper-case hex) is refused with what was expected.
    pub fn parse(v: &str) -> Result<Self, String> {
        let expected = "expected name@sha256:<64 lowercase hex digits>, e.g. \
                        silvermetal-builder@sha256:<digest printed by `isoforge builder build`>";
        let Some((name_tag, digest)) = v.split_once('@') else {
            return Err(format!(
                "{v:?} is not pinned by digest (a tag can move); {expected}"
            ));
        };
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return Err(format!("{v:?}: the digest must be sha256; {expected}"));
        };
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "{v:?}: the digest must be 64 lowercase hex digits; {expected}"
            ));
        }
        // A ':' after the last '/' starts the tag (one before it is a registry port).
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        let name_ok = !name.is_empty()
            && name.split('/').enumerate().all(|(i, part)| {
                !part.is_empty()
                    && part.chars().all(|c| {
                        c.is_ascii_lowercase()
                            || c.is_ascii_digit()
                            || "._-".contains(c)
                            || (i == 0 && c == ':')
                    })
            });
        if !name_ok {
            return Err(format!(
                "{v:?}: {name:?} is not an image name (lower-case letters, digits, '.', '_', '-', '/'); {expected}"
            ));
        }
        if let Some(t) = tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(format!("{v:?}: {t:?} is not a tag; {expected}"));
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            digest: hex.to_string(),
        })
    }

    /// `name@sha256:<digest>`: how engines are told to run exactly this image.
    pub fn pinned(&self) -> String {
        format!("{}@sha256:{}", self.name, self.digest)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(t) => write!(f, "{}:{t}@sha256:{}", self.name, self.digest),
            None => write!(f, "{}@sha256:{}", self.name, self.digest),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderConfig {
    /// `None` until a builder has been built and its digest written here.
    pub image: Option<ImageRef>,
    /// The toolchain packages (sorted, deduplicated).
    pub packages: Vec<String>,
}

impl BuilderConfig {
    /// Reads `config/builder.env`; a missing file means no image pinned and the default
    /// toolchain.
    pub fn load(config_dir: &Path) -> Result<Self, Error> {
        let path = config_dir.join(FILE);
        if !path.exists() {
            return Ok(Self {
                image: None,
                packages: DEFAULT_PACKAGES.iter().map(|s| s.to_string()).collect(),
            });
        }
        Self::from_file(&EnvFile::load(&path)?)
    }

    pub fn from_file(file: &EnvFile) -> Result<Self, Error> {
        let f = file.fields(KEYS)?;
        let image = f.optional("BUILDER_IMAGE", ImageRef::parse)?;
        let mut packages = f
            .optional("BUILDER_PACKAGES", |v| {
                validate::words(v, validate::package_name)
            })?
            .unwrap_or_else(|| DEFAULT_PACKAGES.iter().map(|s| s.to_string()).collect());
        packages.sort();
        packages.dedup();
        Ok(Self { image, packages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envfile::parse;

    const D: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_only_digest_pinned_references() {
        let r = ImageRef::parse(&format!("silvermetal-builder@sha256:{D}")).unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("silvermetal-builder", None)
        );
        let r =
            ImageRef::parse(&format!("docker-registry:5000/sm/builder:1.1@sha256:{D}")).unwrap();
        assert_eq!(r.name, "docker-registry:5000/sm/builder");
        assert_eq!(r.tag.as_deref(), Some("1.1"));
        assert_eq!(
            r.pinned(),
            format!("docker-registry:5000/sm/builder@sha256:{D}")
        );
        assert_eq!(
            r.to_string(),
            format!("docker-registry:5000/sm/builder:1.1@sha256:{D}")
        );
        for (bad, want) in [
            ("silvermetal-builder:latest", "not pinned by digest"),
            ("silvermetal-builder", "not pinned by digest"),
            (&format!("b@sha512:{D}"), "must be sha256"),
            (
                &format!("b@sha256:{}", D.to_uppercase()),
                "64 lowercase hex",
            ),
            (&format!("b@sha256:{}", &D[..63]), "64 lowercase hex"),
            (&format!("B@sha256:{D}"), "not an image name"),
            (&format!("@sha256:{D}"), "not an image name"),
            (&format!("b:@sha256:{D}"), "not a tag"),
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let f = parse(
            Path::new("builder.env"),
            "\nBUILDER_IMAGE=sm-builder:latest\n",
        )
        .unwrap();
        let e = BuilderConfig::from_file(&f).unwrap_err().to_string();
        assert!(e.starts_with("builder.env:2: BUILDER_IMAGE: "), "{e}");
        let f = parse(
            Path::new("builder.env"),
            &format!("BUILDER_IMAGE=sm@sha256:{D}\nBUILDER_PACKAGES=\"xorriso git xorriso\"\n"),
        )
        .unwrap();
        let c = BuilderConfig::from_file(&f).unwrap();
        assert_eq!(c.packages, vec!["git", "xorriso"]);
        assert_eq!(c.image.unwrap().digest, D);
    }
}
