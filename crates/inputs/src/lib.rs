//! A build's inputs, loaded and validated before anything runs: the profile
//! (`config/silvermetal-base.conf`), the snapshot pin (`config/snapshot-pin.env`), the
//! SOURCE_DATE_EPOCH override (`config/source-date-epoch.env`) and the source commit.
//!
//! Extra apt repositories (`config/repositories/*.env`), package lists
//! (`config/package-lists/*.list.chroot`), the overlays (`config/includes.{chroot,binary}/`,
//! [`overlays`]), the hooks (`config/hooks/*.hook.{chroot,binary}`, [`hooks`]) and the builder pin (`config/builder.env`) are read
//! here too.
//!
//! The configuration files are read as `KEY=VALUE` without running a shell ([`envfile`]);
//! every error names the file, the line where there is one, and what was expected.

pub mod builder;
pub mod envfile;
pub mod epoch;
pub mod hooks;
pub mod overlays;
pub mod package_lists;
pub mod profile;
pub mod repositories;
pub mod snapshot;
pub mod source;
pub mod validate;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use builder::{BuilderConfig, ImageRef};
pub use epoch::{Origin as EpochOrigin, SourceDateEpoch};
pub use package_lists::PackageList;
pub use profile::Profile;
pub use repositories::Repository;
pub use snapshot::SnapshotPin;
pub use source::Source;

/// An input error: one line naming the file (and line) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}: {message}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

/// Everything a build depends on besides the tools and the package archive.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub config_dir: PathBuf,
    pub profile: Profile,
    pub pin: SnapshotPin,
    pub epoch: SourceDateEpoch,
    pub source: Source,
    /// Extra apt repositories, sorted by name.
    pub repositories: Vec<Repository>,
    /// `config/includes.chroot/` and `config/includes.binary/`, read into memory.
    pub overlays: overlays::Overlays,
    /// `config/hooks/`, read into memory, in lexical order.
    pub hooks: Vec<hooks::Hook>,
    /// sha256 over the configuration files' names and bytes: the profile's identity.
    pub profile_sha256: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Build a work tree with uncommitted changes (recorded in BUILD_INFO).
    pub allow_dirty: bool,
}

impl Inputs {
    pub fn load(config_dir: &Path, opts: LoadOptions) -> Result<Self, Error> {
        if !config_dir.is_dir() {
            return Err(Error::Other(format!(
                "{}: no such configuration directory; pass --config DIR",
                config_dir.display()
            )));
        }
        let profile = Profile::load(config_dir)?;
        let pin = SnapshotPin::load(config_dir)?;
        let repositories = repositories::load(config_dir)?;
        let overlays = overlays::load(config_dir)?;
        let hooks = hooks::load(config_dir)?;
        let source = Source::discover(config_dir)?;
        if source.is_dirty() && !opts.allow_dirty {
            let n = source.dirty.len();
            return Err(Error::Other(format!(
                "{}: the work tree has uncommitted changes ({n} path{}, e.g. {}); \
                 commit them, or pass --allow-dirty (recorded in BUILD_INFO)",
                source.root.display(),
                if n == 1 { "" } else { "s" },
                source.dirty[0]
            )));
        }
        let epoch = match SourceDateEpoch::from_config(config_dir)? {
            Some(e) => e,
            None => match SourceDateEpoch::from_env()? {
                Some(e) => e,
                None => SourceDateEpoch::new(source.commit_time, EpochOrigin::Commit)
                    .map_err(|m| Error::Other(format!("commit time of HEAD: {m}")))?,
            },
        };
        Ok(Self {
            config_dir: config_dir.to_path_buf(),
            profile_sha256: profile_sha256(config_dir)?,
            profile,
            pin,
            repositories,
            overlays,
            hooks,
            epoch,
            source,
        })
    }
}

/// The configuration files that make up a profile, in hashing order.
/// `offenders.conf` is the profile's own cleanup rules (read by `isoforge-offenders`).
pub const CONFIG_FILES: &[&str] = &[profile::FILE, snapshot::FILE, epoch::FILE, "offenders.conf"];

/// The profile's identity: sha256 over the configuration files' names and bytes (the extra
/// repositories' files and keys, the package lists, the overlays and their owners file, the
/// hooks (name, mode, bytes), included when there are any: a profile without them hashes as it did before they
/// existed).
pub fn profile_sha256(config_dir: &Path) -> Result<String, Error> {
    let mut h = Sha256::new();
    let mut names: Vec<String> = CONFIG_FILES.iter().map(|s| s.to_string()).collect();
    for r in repositories::load(config_dir)? {
        names.push(format!("{}/{}.env", repositories::DIR, r.name));
        names.push(r.signed_by_rel.clone());
    }
    names.extend(package_lists::load(config_dir)?.into_iter().map(|l| l.rel));
    names.push(overlays::OWNERS.to_string());
    for name in &names {
        let path = config_dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                h.update(name.as_bytes());
                h.update([0]);
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::File {
                    file: path,
                    message: format!("cannot read: {e}"),
                });
            }
        }
    }
    overlays::hash_into(&overlays::load(config_dir)?, &mut h);
    hooks::hash_into(&hooks::load(config_dir)?, &mut h);
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod profile_hash_tests {
    /// The profile's own offenders rules are part of its identity; a profile without them
    /// hashes as before.
    #[test]
    fn offenders_rules_change_the_profile_hash() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(super::profile::FILE), "NAME=x\n").unwrap();
        let before = super::profile_sha256(d.path()).unwrap();
        std::fs::write(d.path().join("offenders.conf"), "remove opt/x  # why\n").unwrap();
        let with = super::profile_sha256(d.path()).unwrap();
        assert_ne!(before, with);
        std::fs::remove_file(d.path().join("offenders.conf")).unwrap();
        assert_eq!(super::profile_sha256(d.path()).unwrap(), before);
    }

    /// A hook is part of the profile's identity: its name, mode and bytes.
    #[test]
    fn hooks_change_the_profile_hash() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(super::profile::FILE), "NAME=x\n").unwrap();
        let before = super::profile_sha256(d.path()).unwrap();
        std::fs::create_dir(d.path().join(super::hooks::DIR)).unwrap();
        assert_eq!(super::profile_sha256(d.path()).unwrap(), before);
        let hook = d.path().join("hooks/10-a.hook.chroot");
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let with = super::profile_sha256(d.path()).unwrap();
        assert_ne!(before, with);
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_ne!(super::profile_sha256(d.path()).unwrap(), with);
    }

    /// The committed profile has no overlays, and hashes exactly as the formula before
    /// overlays existed: its Profile-Sha256 (and so its BUILD_INFO) is unchanged.
    #[test]
    fn the_committed_profile_hashes_as_before_overlays() {
        use sha2::Digest;
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for extra in [
            super::overlays::CHROOT,
            super::overlays::BINARY,
            super::overlays::OWNERS,
            super::hooks::DIR,
            super::package_lists::DIR,
            super::repositories::DIR,
        ] {
            assert!(!config.join(extra).exists(), "{extra}: update this test");
        }
        let mut h = sha2::Sha256::new();
        for name in super::CONFIG_FILES {
            if let Ok(bytes) = std::fs::read(config.join(name)) {
                h.update(name.as_bytes());
                h.update([0]);
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
        }
        assert_eq!(
            super::profile_sha256(&config).unwrap(),
            hex::encode(h.finalize())
        );
    }
}
