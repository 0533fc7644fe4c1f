//! A build's inputs, loaded and validated before anything runs: the profile
//! (`config/silvermetal-base.conf`), the snapshot pin (`config/snapshot-pin.env`), the
//! SOURCE_DATE_EPOCH override (`config/source-date-epoch.env`) and the source commit.
//!
//! Extra apt repositories (`config/repositories/*.env`), package lists
//! (`config/package-lists/*.list.chroot`), the overlays (`config/includes.{chroot,binary}/`,
//! [`overlays`]), the hooks (`config/hooks/*.hook.{chroot,binary}`, [`hooks`]) and the builder pin (`config/builder.env`) are read
//! here too.
//!
//! A profile may have flavors ([`flavors`]): then the package lists and overlays are read from
//! each layer, `config/` and then `config/flavors/<name>/`, and combined here, in
//! [`Inputs::load`], the one place that knows the layers.
//!
//! The configuration files are read as `KEY=VALUE` without running a shell ([`envfile`]);
//! every error names the file, the line where there is one, and what was expected.

pub mod builder;
pub mod envfile;
pub mod epoch;
pub mod flavors;
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
pub use flavors::{Flavor, Layer};
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
    /// The flavor built (`None`: a profile without flavors).
    pub flavor: Option<Flavor>,
    /// Where the package lists and overlays come from: `config/`, then the flavor's
    /// directory.
    pub layers: Vec<Layer>,
    /// The base profile with the flavor's keys on top, and every layer's package lists.
    pub profile: Profile,
    pub pin: SnapshotPin,
    pub epoch: SourceDateEpoch,
    pub source: Source,
    /// Extra apt repositories, sorted by name.
    pub repositories: Vec<Repository>,
    /// `includes.chroot/` and `includes.binary/` of every layer, combined
    /// ([`overlays::combine`]), read into memory.
    pub overlays: overlays::Overlays,
    /// `config/hooks/`, read into memory, in lexical order.
    pub hooks: Vec<hooks::Hook>,
    /// The same entries, layer by layer (for the provenance's list of files).
    pub layer_overlays: Vec<(Layer, overlays::Overlays)>,
    /// sha256 over the configuration files' names and bytes: the profile's identity.
    pub profile_sha256: String,
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Build a work tree with uncommitted changes (recorded in BUILD_INFO).
    pub allow_dirty: bool,
    /// `--flavor`: `None` builds the base's `DEFAULT_FLAVOR` (or, without flavors, the base).
    pub flavor: Option<String>,
}

/// The overlays of each layer, combined (base first), and each layer's own: what a flavor's
/// build copies. (Package lists are combined by [`Profile::load`].)
pub fn load_overlays(
    layers: &[Layer],
) -> Result<(overlays::Overlays, Vec<(Layer, overlays::Overlays)>), Error> {
    let mut combined = overlays::Overlays::default();
    let mut each = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let o = overlays::load(&layer.dir)?;
        if i == 0 {
            combined = o.clone();
        } else {
            overlays::combine(&mut combined, o.clone(), &layers[0].dir, &layer.dir)?;
        }
        each.push((layer.clone(), o));
    }
    Ok((combined, each))
}

/// The hooks of every layer, in lexical order of their names (they run as one list). A
/// flavor's hook is named after its layer (`flavors/<name>/hooks/NAME`); one with the name of
/// a base hook is refused, naming both.
pub fn load_hooks(layers: &[Layer]) -> Result<Vec<hooks::Hook>, Error> {
    let mut all: Vec<hooks::Hook> = Vec::new();
    for layer in layers {
        for mut hook in hooks::load(&layer.dir)? {
            hook.rel = layer.rel_path(&hook.rel);
            if let Some(other) = all.iter().find(|h| h.name == hook.name) {
                return Err(Error::File {
                    file: layer.dir.join(hooks::DIR).join(&hook.name),
                    message: format!(
                        "a hook of this name is already in {}; hooks of all layers run as one \
                         list, so give it another name",
                        other.rel
                    ),
                });
            }
            all.push(hook);
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

impl Inputs {
    pub fn load(config_dir: &Path, opts: LoadOptions) -> Result<Self, Error> {
        if !config_dir.is_dir() {
            return Err(Error::Other(format!(
                "{}: no such configuration directory; pass --config DIR",
                config_dir.display()
            )));
        }
        // The layers (`config/`, then `config/flavors/<name>/`): what a profile reads from
        // each of them is loaded per layer, base first, here.
        let flavor = flavors::select(config_dir, opts.flavor.as_deref())?;
        let layers = flavors::layers(config_dir, flavor.as_ref())?;
        let profile = Profile::load(config_dir, flavor.as_ref())?;
        let pin = SnapshotPin::load(config_dir)?;
        let repositories = repositories::load(config_dir)?;
        let (overlays, layer_overlays) = load_overlays(&layers)?;
        let hooks = load_hooks(&layers)?;
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
            profile_sha256: profile_sha256(config_dir, flavor.as_ref())?,
            flavor,
            layers,
            profile,
            pin,
            repositories,
            overlays,
            hooks,
            layer_overlays,
            epoch,
            source,
        })
    }

    /// The output directory's name: the commit's first 12 hex digits, then `-<flavor>`,
    /// then `-dirty` for uncommitted changes.
    pub fn build_id(&self) -> String {
        build_id(&self.source, self.flavor.as_ref())
    }
}

/// [`Inputs::build_id`] without loading the inputs (verify knows the source and flavor).
pub fn build_id(source: &Source, flavor: Option<&Flavor>) -> String {
    let mut id = source.short().to_string();
    if let Some(f) = flavor {
        id.push('-');
        id.push_str(&f.name);
    }
    if source.is_dirty() {
        id.push_str("-dirty");
    }
    id
}

/// The configuration files that make up a profile, in hashing order.
/// `offenders.conf` is the profile's own cleanup rules (read by `isoforge-offenders`).
pub const CONFIG_FILES: &[&str] = &[profile::FILE, snapshot::FILE, epoch::FILE, "offenders.conf"];

/// The profile's identity: sha256 over the configuration files' names and bytes (the extra
/// repositories' files and keys, the package lists, the overlays and their owners file, the
/// hooks (name, mode, bytes), included when there are any: a profile without them hashes as
/// it did before they existed). A flavor's identity adds its `.conf` and its layer's package
/// lists, owners file, overlays and hooks (not the other flavors': changing one flavor leaves
/// the others' hash).
pub fn profile_sha256(config_dir: &Path, flavor: Option<&Flavor>) -> Result<String, Error> {
    let mut h = Sha256::new();
    let layers = flavors::layers(config_dir, flavor)?;
    let mut names: Vec<String> = CONFIG_FILES.iter().map(|s| s.to_string()).collect();
    if let Some(f) = flavor {
        names.push(f.conf_rel());
    }
    for r in repositories::load(config_dir)? {
        names.push(format!("{}/{}.env", repositories::DIR, r.name));
        names.push(r.signed_by_rel.clone());
    }
    for layer in &layers {
        names.extend(
            package_lists::load(&layer.dir)?
                .into_iter()
                .map(|l| layer.rel_path(&l.rel)),
        );
        names.push(layer.rel_path(overlays::OWNERS));
    }
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
    for layer in &layers {
        overlays::hash_layer_into(&layer.rel, &overlays::load(&layer.dir)?, &mut h);
    }
    hooks::hash_into(&load_hooks(&layers)?, &mut h);
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
        let before = super::profile_sha256(d.path(), None).unwrap();
        std::fs::write(d.path().join("offenders.conf"), "remove opt/x  # why\n").unwrap();
        let with = super::profile_sha256(d.path(), None).unwrap();
        assert_ne!(before, with);
        std::fs::remove_file(d.path().join("offenders.conf")).unwrap();
        assert_eq!(super::profile_sha256(d.path(), None).unwrap(), before);
    }

    /// A hook is part of the profile's identity: its name, mode and bytes.
    #[test]
    fn hooks_change_the_profile_hash() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(super::profile::FILE), "NAME=x\n").unwrap();
        let before = super::profile_sha256(d.path(), None).unwrap();
        std::fs::create_dir(d.path().join(super::hooks::DIR)).unwrap();
        assert_eq!(super::profile_sha256(d.path(), None).unwrap(), before);
        let hook = d.path().join("hooks/10-a.hook.chroot");
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let with = super::profile_sha256(d.path(), None).unwrap();
        assert_ne!(before, with);
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_ne!(super::profile_sha256(d.path(), None).unwrap(), with);
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
            super::profile_sha256(&config, None).unwrap(),
            hex::encode(h.finalize())
        );
    }
}

#[cfg(test)]
mod layered_hooks_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{Layer, load_hooks};

    fn hook(dir: &std::path::Path, name: &str) {
        let hooks = dir.join(super::hooks::DIR);
        std::fs::create_dir_all(&hooks).unwrap();
        std::fs::write(hooks.join(name), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The hooks of the base and a flavor run as one list in lexical order of names, each
    /// named after its layer; a flavor hook with a base hook's name is refused.
    #[test]
    fn flavor_hooks_join_the_base_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let flavor = d.path().join("flavors/desktop");
        hook(d.path(), "10-a.hook.chroot");
        hook(d.path(), "30-c.hook.chroot");
        hook(&flavor, "20-b.hook.chroot");
        let layers = [
            Layer {
                dir: d.path().to_path_buf(),
                rel: String::new(),
            },
            Layer {
                dir: flavor.clone(),
                rel: "flavors/desktop".into(),
            },
        ];
        let rels: Vec<String> = load_hooks(&layers)
            .unwrap()
            .into_iter()
            .map(|h| h.rel)
            .collect();
        assert_eq!(
            rels,
            [
                "hooks/10-a.hook.chroot",
                "flavors/desktop/hooks/20-b.hook.chroot",
                "hooks/30-c.hook.chroot"
            ]
        );
        hook(&flavor, "10-a.hook.chroot");
        let e = load_hooks(&layers).unwrap_err().to_string();
        assert!(
            e.contains("flavors/desktop/hooks/10-a.hook.chroot: a hook of this name is already in hooks/10-a.hook.chroot"),
            "{e}"
        );
    }
}
