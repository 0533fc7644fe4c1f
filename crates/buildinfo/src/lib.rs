//! `BUILD_INFO`: everything a build was made from, so that anyone can rebuild it and compare.
//!
//! deb822, in the spirit of Debian's `.buildinfo`: one paragraph; multi-line fields for the
//! tools, the environment, the image's installed packages and the artefacts' checksums.
//! It holds nothing that differs between two builds of the same inputs (no build date, path
//! or host name), so it is itself reproducible and listed in `SHA256SUMS`.

pub mod checks;
pub mod provenance;

use isoforge_deb822::Paragraph;

/// The format this crate writes; newer ones are refused when read.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The .deb's sha256, from the package lock.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    pub sha256: String,
    pub size: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub format: u32,
    /// `isoforge <version>`.
    pub build_tool: String,
    /// The profile's PRODUCT_ID.
    pub source: String,
    /// The flavor built (`config/flavors/<name>.conf`); `None` for a profile without
    /// flavors (and in BUILD_INFOs written before flavors existed).
    pub flavor: Option<String>,
    pub product_name: String,
    pub version: String,
    pub architecture: String,
    pub profile_sha256: String,
    /// The configuration directory, relative to the repository's top level.
    pub config_dir: String,
    pub commit: String,
    /// Uncommitted paths when built with `--allow-dirty`; empty for a clean commit.
    pub dirty_paths: Vec<String>,
    pub source_date_epoch: i64,
    /// `commit`, `config` or `environment`.
    pub source_date_epoch_origin: String,
    pub snapshot_timestamp: String,
    pub snapshot_url: String,
    pub mirror: String,
    /// What the packages were actually installed from.
    pub package_source: String,
    /// sha256 of the image's lock (`config/packages-<flavor>.lock`).
    pub package_lock_sha256: String,
    /// How the tools were provided: `host` (the build machine's own: not comparable across
    /// machines), `chroot`, `docker` or `podman` (the pinned builder).
    pub runtime: String,
    /// The builder's digest (`none` with runtime `host`).
    pub builder_digest: String,
    pub kernel: String,
    /// `(package, version)` of the tools that made the image.
    pub build_tools: Vec<(String, String)>,
    /// `NAME=value` the tools ran with.
    pub environment: Vec<(String, String)>,
    pub installed: Vec<Package>,
    pub artefacts: Vec<Artefact>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    Syntax(#[from] isoforge_deb822::Error),
    #[error("expected exactly one paragraph, found {0}")]
    Paragraphs(usize),
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("field {field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error(
        "format {0} is newer than this isoforge understands (format {FORMAT}); use a newer isoforge"
    )]
    Newer(u32),
}

impl BuildInfo {
    /// The build id (`output/<build-id>/`): the first 12 digits of the commit, which
    /// [`BuildInfo::parse`] has checked to be hex, then `-<flavor>` (checked too).
    pub fn build_id(&self) -> String {
        let commit = self.commit.get(..12).unwrap_or(&self.commit);
        match &self.flavor {
            Some(f) => format!("{commit}-{f}"),
            None => commit.to_string(),
        }
    }

    pub fn render(&self) -> String {
        let mut p = Paragraph::new();
        p.push("Format", self.format.to_string());
        p.push("Build-Tool", &self.build_tool);
        p.push("Source", &self.source);
        if let Some(f) = &self.flavor {
            p.push("Flavor", f);
        }
        p.push("Product-Name", &self.product_name);
        p.push("Version", &self.version);
        p.push("Architecture", &self.architecture);
        p.push("Profile-Sha256", &self.profile_sha256);
        p.push("Config-Dir", &self.config_dir);
        p.push("Commit", &self.commit);
        p.push(
            "Commit-Dirty",
            if self.dirty_paths.is_empty() {
                "no"
            } else {
                "yes"
            },
        );
        if !self.dirty_paths.is_empty() {
            p.push("Dirty-Paths", multiline(self.dirty_paths.iter().cloned()));
        }
        p.push("Source-Date-Epoch", self.source_date_epoch.to_string());
        p.push("Source-Date-Epoch-Origin", &self.source_date_epoch_origin);
        p.push("Snapshot-Timestamp", &self.snapshot_timestamp);
        p.push("Snapshot-Url", &self.snapshot_url);
        p.push("Mirror", &self.mirror);
        p.push("Package-Source", &self.package_source);
        p.push("Package-Lock-Sha256", &self.package_lock_sha256);
        p.push("Runtime", &self.runtime);
        p.push("Builder-Digest", &self.builder_digest);
        p.push("Kernel", &self.kernel);
        p.push(
            "Build-Tools",
            multiline(self.build_tools.iter().map(|(n, v)| format!("{n} (= {v})"))),
        );
        p.push(
            "Environment",
            multiline(self.environment.iter().map(|(k, v)| format!("{k}=\"{v}\""))),
        );
        p.push(
            "Installed-Packages",
            multiline(self.installed.iter().map(|x| match &x.sha256 {
                Some(sha) => {
                    format!("{} (= {}) {} {sha}", x.name, x.version, x.architecture)
                }
                None => format!("{} (= {}) {}", x.name, x.version, x.architecture),
            })),
        );
        p.push(
            "Checksums-Sha256",
            multiline(
                self.artefacts
                    .iter()
                    .map(|a| format!("{} {} {}", a.sha256, a.size, a.name)),
            ),
        );
        isoforge_deb822::write(&[p])
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let ps = isoforge_deb822::parse(text)?;
        let [p] = ps.as_slice() else {
            return Err(Error::Paragraphs(ps.len()));
        };
        let get = |f: &'static str| p.get(f).ok_or(Error::Missing(f));
        let format: u32 = get("Format")?.parse().map_err(|_| Error::Field {
            field: "Format",
            message: "expected a number".into(),
        })?;
        if format > FORMAT {
            return Err(Error::Newer(format));
        }
        let lines = |f: &'static str| -> Result<Vec<String>, Error> {
            Ok(get(f)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect())
        };
        let versioned = |l: &str, field: &'static str| -> Result<(String, String, String), Error> {
            // `name (= version) rest`
            let bad = || Error::Field {
                field,
                message: format!("expected `name (= version)`, found {l:?}"),
            };
            let (name, rest) = l.split_once(" (= ").ok_or_else(bad)?;
            let (version, tail) = rest.split_once(')').ok_or_else(bad)?;
            Ok((name.into(), version.into(), tail.trim().into()))
        };
        let epoch = get("Source-Date-Epoch")?;
        let info = Self {
            format,
            build_tool: get("Build-Tool")?.into(),
            source: get("Source")?.into(),
            flavor: p.get("Flavor").map(str::to_string),
            product_name: get("Product-Name")?.into(),
            version: get("Version")?.into(),
            architecture: get("Architecture")?.into(),
            profile_sha256: get("Profile-Sha256")?.into(),
            config_dir: get("Config-Dir")?.into(),
            commit: get("Commit")?.into(),
            dirty_paths: if p.get("Dirty-Paths").is_some() {
                lines("Dirty-Paths")?
            } else {
                Vec::new()
            },
            source_date_epoch: epoch.parse().map_err(|_| Error::Field {
                field: "Source-Date-Epoch",
                message: format!("{epoch:?} is not a number"),
            })?,
            source_date_epoch_origin: get("Source-Date-Epoch-Origin")?.into(),
            snapshot_timestamp: get("Snapshot-Timestamp")?.into(),
            snapshot_url: get("Snapshot-Url")?.into(),
            mirror: get("Mirror")?.into(),
            package_source: get("Package-Source")?.into(),
            package_lock_sha256: p.get("Package-Lock-Sha256").unwrap_or("none").into(),
            runtime: get("Runtime")?.into(),
            builder_digest: p.get("Builder-Digest").unwrap_or("none").into(),
            kernel: get("Kernel")?.into(),
            build_tools: lines("Build-Tools")?
                .iter()
                .map(|l| versioned(l, "Build-Tools").map(|(n, v, _)| (n, v)))
                .collect::<Result<_, _>>()?,
            environment: lines("Environment")?
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').ok_or(Error::Field {
                        field: "Environment",
                        message: format!("expected NAME=\"value\", found {l:?}"),
                    })?;
                    Ok((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect::<Result<_, Error>>()?,
            installed: lines("Installed-Packages")?
                .iter()
                .map(|l| {
                    versioned(l, "Installed-Packages").map(|(name, version, tail)| {
                        let mut t = tail.split_whitespace();
                        Package {
                            name,
                            version,
                            architecture: t.next().unwrap_or_default().to_string(),
                            sha256: t.next().map(str::to_string),
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
            artefacts: lines("Checksums-Sha256")?
                .iter()
                .map(|l| {
                    let mut it = l.splitn(3, ' ');
                    let (Some(sha256), Some(size), Some(name)) = (it.next(), it.next(), it.next())
                    else {
                        return Err(Error::Field {
                            field: "Checksums-Sha256",
                            message: format!("expected `sha256 size name`, found {l:?}"),
                        });
                    };
                    let size = size.parse().map_err(|_| Error::Field {
                        field: "Checksums-Sha256",
                        message: format!("{size:?} is not a size"),
                    })?;
                    Ok(Artefact {
                        sha256: sha256.into(),
                        size,
                        name: name.into(),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        info.check()?;
        Ok(info)
    }

    /// Refuses what could not have been written by a build: the fields become paths, URIs
    /// and command arguments when the BUILD_INFO is rebuilt.
    fn check(&self) -> Result<(), Error> {
        let field = |field: &'static str, r: Result<(), String>| {
            r.map_err(|message| Error::Field { field, message })
        };
        for (name, v) in [
            ("Build-Tool", &self.build_tool),
            ("Source", &self.source),
            ("Product-Name", &self.product_name),
            ("Version", &self.version),
            ("Architecture", &self.architecture),
            ("Source-Date-Epoch-Origin", &self.source_date_epoch_origin),
            ("Snapshot-Timestamp", &self.snapshot_timestamp),
            ("Snapshot-Url", &self.snapshot_url),
            ("Mirror", &self.mirror),
            ("Package-Source", &self.package_source),
            ("Runtime", &self.runtime),
            ("Kernel", &self.kernel),
        ] {
            field(name, checks::line(v))?;
        }
        field("Commit", checks::commit(&self.commit))?;
        if let Some(f) = &self.flavor {
            field("Flavor", checks::flavor(f))?;
        }
        field("Config-Dir", checks::relative_dir(&self.config_dir))?;
        field("Profile-Sha256", checks::sha256(&self.profile_sha256))?;
        for (name, v) in [
            ("Package-Lock-Sha256", &self.package_lock_sha256),
            ("Builder-Digest", &self.builder_digest),
        ] {
            if v != "none" {
                field(name, checks::sha256(v))?;
            }
        }
        for p in &self.dirty_paths {
            field("Dirty-Paths", checks::line(p))?;
        }
        for (n, v) in &self.build_tools {
            field("Build-Tools", checks::line(n).and(checks::line(v)))?;
        }
        for (k, v) in &self.environment {
            field("Environment", checks::line(k).and(checks::line(v)))?;
        }
        for p in &self.installed {
            field(
                "Installed-Packages",
                checks::package(&p.name, &p.version, &p.architecture),
            )?;
            if let Some(sha) = &p.sha256 {
                field("Installed-Packages", checks::sha256(sha))?;
            }
        }
        for a in &self.artefacts {
            field("Checksums-Sha256", checks::sha256(&a.sha256))?;
            field("Checksums-Sha256", checks::file_name(&a.name))?;
        }
        Ok(())
    }
}

fn multiline(items: impl Iterator<Item = String>) -> String {
    let mut s = String::new();
    for i in items {
        s.push('\n');
        s.push_str(&i);
    }
    s
}

/// A well-formed BUILD_INFO, for tests (this crate's and others').
#[doc(hidden)]
pub fn sample() -> BuildInfo {
    BuildInfo {
        format: FORMAT,
        build_tool: "isoforge 0.1.0".into(),
        source: "silvermetal".into(),
        flavor: None,
        product_name: "SilverMetal Linux".into(),
        version: "1.1.0".into(),
        architecture: "amd64".into(),
        profile_sha256: "ab".repeat(32),
        config_dir: "config".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        dirty_paths: vec![],
        source_date_epoch: 1_700_000_000,
        source_date_epoch_origin: "commit".into(),
        snapshot_timestamp: "20261101T000000Z".into(),
        snapshot_url: "https://snapshot.debian.org/archive/debian/20261101T000000Z/".into(),
        mirror: "http://deb.debian.org/debian".into(),
        package_source: "mirror http://deb.debian.org/debian (snapshot unreachable)".into(),
        package_lock_sha256: "ef".repeat(32),
        runtime: "host".into(),
        builder_digest: "none".into(),
        kernel: "6.1.0-50-amd64".into(),
        build_tools: vec![("xorriso".into(), "1.5.4-4".into())],
        environment: vec![("LC_ALL".into(), "C.UTF-8".into())],
        installed: vec![Package {
            name: "base-files".into(),
            version: "12.4+deb12u13".into(),
            architecture: "amd64".into(),
            sha256: Some("12".repeat(32)),
        }],
        artefacts: vec![Artefact {
            sha256: "cd".repeat(32),
            size: 226_818_048,
            name: "silvermetal-1.1.0-amd64.iso".into(),
        }],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let b = sample();
        let text = b.render();
        assert!(text.contains("\nCommit-Dirty: no\n"), "{text}");
        assert!(text.contains(&format!(
            "\nInstalled-Packages:\n base-files (= 12.4+deb12u13) amd64 {}\n",
            "12".repeat(32)
        )));
        assert!(
            text.contains("\nRuntime: host\nBuilder-Digest: none\n"),
            "{text}"
        );
        assert_eq!(BuildInfo::parse(&text).unwrap(), b);
        let mut dirty = sample();
        dirty.dirty_paths = vec!["config/silvermetal-base.conf".into()];
        assert_eq!(BuildInfo::parse(&dirty.render()).unwrap(), dirty);
    }

    /// `Flavor:` is written and read back, names the build id's directory, and is checked
    /// (it becomes a path); a BUILD_INFO without it (before flavors) still parses.
    #[test]
    fn flavor_round_trips_and_is_optional() {
        let old = sample();
        assert!(!old.render().contains("Flavor:"));
        assert_eq!(old.build_id(), "0123456789ab");
        let mut b = sample();
        b.flavor = Some("desktop".into());
        let text = b.render();
        assert!(
            text.contains("\nSource: silvermetal\nFlavor: desktop\n"),
            "{text}"
        );
        let back = BuildInfo::parse(&text).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.build_id(), "0123456789ab-desktop");
        for bad in ["../x", "Desktop", "-x", "a b", ""] {
            let text = b
                .render()
                .replace("Flavor: desktop", &format!("Flavor: {bad}"));
            match BuildInfo::parse(&text) {
                Err(Error::Field { field, .. }) => assert_eq!(field, "Flavor", "{bad}"),
                Err(Error::Syntax(_)) if bad.is_empty() => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_newer_formats_and_missing_fields() {
        let text = sample().render().replace("Format: 1", "Format: 2");
        assert_eq!(BuildInfo::parse(&text).unwrap_err(), Error::Newer(2));
        let text = sample().render().replace("Commit: ", "Komit: ");
        assert_eq!(
            BuildInfo::parse(&text).unwrap_err(),
            Error::Missing("Commit")
        );
    }

    #[test]
    fn refuses_hostile_fields() {
        let field_of = |edit: &dyn Fn(&mut BuildInfo)| {
            let mut b = sample();
            edit(&mut b);
            match BuildInfo::parse(&b.render()).unwrap_err() {
                Error::Field { field, .. } => field,
                e => panic!("{e}"),
            }
        };
        assert_eq!(field_of(&|b| b.commit = "/etc".into()), "Commit");
        assert_eq!(field_of(&|b| b.commit = "é".repeat(20)), "Commit");
        assert_eq!(
            field_of(&|b| b.config_dir = "../../etc".into()),
            "Config-Dir"
        );
        assert_eq!(field_of(&|b| b.config_dir = "/etc".into()), "Config-Dir");
        assert_eq!(
            field_of(&|b| b.artefacts[0].name = "../x".into()),
            "Checksums-Sha256"
        );
        assert_eq!(
            field_of(&|b| b.artefacts[0].sha256 = "../x".into()),
            "Checksums-Sha256"
        );
        assert_eq!(field_of(&|b| b.kernel = "k".repeat(5000)), "Kernel");
        assert_eq!(
            field_of(&|b| b.installed[0].name = "../evil".into()),
            "Installed-Packages"
        );
        assert_eq!(
            field_of(&|b| b.builder_digest = "x".into()),
            "Builder-Digest"
        );
    }
}
