//! The hermetic inputs of a build: the locks (`config/packages-<flavor>.lock`, or
//! `config/packages.lock` for a profile without flavors, and `config/builder.lock`),
//! checking them against the profile, and the cache they are fetched into.
//!
//! `isoforge lock` resolves both locks against the pinned snapshot (or the mirror where the
//! snapshot cannot be reached); `isoforge fetch` fills the cache; `isoforge build` installs
//! from the cache only and touches the network just for what the cache lacks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use isoforge_cache::{Cache, Item};
use isoforge_exec::{Progress, Runner, Stage, ToolEnv};
use isoforge_inputs::{BuilderConfig, Flavor, Profile, Repository, SnapshotPin};
use isoforge_lock::Lock;
use isoforge_lock::plan::{self, DebianSource};
use isoforge_rootfs::source::{self, PackageSource};

use crate::Error;

/// Which lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Image,
    Builder,
}

impl Which {
    /// The lock's file name for `flavor` (the builder's is shared by every flavor).
    pub fn file(self, flavor: Option<&Flavor>) -> String {
        match self {
            Which::Image => isoforge_lock::image_file(flavor.map(|f| f.name.as_str())),
            Which::Builder => isoforge_lock::BUILDER_FILE.to_string(),
        }
    }
}

/// The configuration a lock depends on (no git needed).
#[derive(Debug, Clone)]
pub struct LockConfig {
    pub config_dir: PathBuf,
    /// The flavor whose image lock this is (`None`: a profile without flavors).
    pub flavor: Option<Flavor>,
    /// The base profile with the flavor's keys and package lists.
    pub profile: Profile,
    pub pin: SnapshotPin,
    pub repositories: Vec<Repository>,
    pub builder: BuilderConfig,
}

impl LockConfig {
    /// The configuration of the default flavor (`DEFAULT_FLAVOR`, or the base alone).
    pub fn load(config_dir: &Path) -> Result<Self, Error> {
        Self::load_flavor(config_dir, None)
    }

    /// The configuration of flavor `flavor` (`None`: the default one).
    pub fn load_flavor(config_dir: &Path, flavor: Option<&str>) -> Result<Self, Error> {
        if !config_dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: no such configuration directory; pass --config DIR",
                config_dir.display()
            )));
        }
        let flavor = isoforge_inputs::flavors::select(config_dir, flavor)?;
        Ok(Self {
            config_dir: config_dir.to_path_buf(),
            profile: Profile::load(config_dir, flavor.as_ref())?,
            flavor,
            pin: SnapshotPin::load(config_dir)?,
            repositories: isoforge_inputs::repositories::load(config_dir)?,
            builder: BuilderConfig::load(config_dir)?,
        })
    }

    /// Every flavor's configuration (`--all-flavors`; one for a profile without flavors).
    pub fn load_all(config_dir: &Path) -> Result<Vec<Self>, Error> {
        isoforge_inputs::flavors::all(config_dir)?
            .into_iter()
            .map(|f| Self::load_flavor(config_dir, f.as_ref().map(|f| f.name.as_str())))
            .collect()
    }

    /// The lock's file name.
    pub fn file(&self, which: Which) -> String {
        which.file(self.flavor.as_ref())
    }

    pub fn path(&self, which: Which) -> PathBuf {
        self.config_dir.join(self.file(which))
    }

    /// The command that writes this configuration's locks.
    pub fn lock_command(&self) -> String {
        match &self.flavor {
            Some(f) => format!("isoforge lock --flavor {}", f.name),
            None => "isoforge lock".into(),
        }
    }

    /// The inputs the lock must have been resolved from.
    pub fn expected_inputs(&self, which: Which) -> isoforge_lock::Inputs {
        match which {
            Which::Image => plan::image_inputs(&self.profile, &self.pin, &self.repositories),
            Which::Builder => plan::builder_inputs(&self.profile, &self.pin, &self.builder),
        }
    }

    /// Reads a lock and checks it still matches the configuration.
    pub fn load_lock(&self, which: Which) -> Result<Lock, Error> {
        let path = self.path(which);
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "{}: no package lock; run `{}` to resolve and pin the packages, then commit it",
                path.display(),
                self.lock_command()
            )));
        }
        let lock = Lock::load(&path)?;
        let want = self.expected_inputs(which);
        if lock.inputs != want {
            let d = lock.inputs.differences(&want);
            return Err(Error::Invalid(format!(
                "{}: the lock no longer matches the configuration ({}); run `{}` and commit the result",
                path.display(),
                d.join("; "),
                self.lock_command()
            )));
        }
        Ok(lock)
    }

    /// Where each locked package can be fetched, in order: the snapshot, then the mirror
    /// (Debian's packages); the repository's own URL (extra repositories).
    pub fn items(&self, lock: &Lock) -> Vec<Item> {
        lock.packages
            .iter()
            .map(|p| {
                let urls = match self.repositories.iter().find(|r| r.name == p.repository) {
                    Some(r) => vec![format!("{}/{}", r.url, p.path)],
                    None => vec![
                        format!("{}{}", self.pin.url(), p.path),
                        format!("{}/{}", self.pin.mirror, p.path),
                    ],
                };
                Item {
                    label: format!("{} {} {}", p.name, p.version, p.architecture),
                    sha256: p.sha256.clone(),
                    size: p.size,
                    urls,
                }
            })
            .collect()
    }
}

/// Opens the cache at `dir`, or the default one.
pub fn open_cache(dir: Option<&Path>) -> Result<Cache, Error> {
    let root = match dir {
        Some(d) => d.to_path_buf(),
        None => isoforge_cache::default_dir()?,
    };
    Ok(Cache::open(&root)?)
}

/// Makes sure every package of `lock` is in the cache, fetching what is missing.
pub fn fetch(
    cfg: &LockConfig,
    lock: &Lock,
    cache: &Cache,
    stage: &Stage,
) -> Result<isoforge_cache::Report, Error> {
    let items = cfg.items(lock);
    Ok(isoforge_cache::fetch(
        cache,
        &items,
        &isoforge_cache::Options::default(),
        stage,
    )?)
}

/// The verified cache file of every locked package, grouped by repository (in the lock's
/// repository order), ready for [`isoforge_rootfs::localrepo::create`].
pub fn local_debs(
    lock: &Lock,
    cache: &Cache,
) -> Result<Vec<(String, Vec<isoforge_rootfs::localrepo::Deb>)>, Error> {
    let mut out: Vec<(String, Vec<isoforge_rootfs::localrepo::Deb>)> = lock
        .resolved
        .iter()
        .map(|(name, _, _)| (name.clone(), Vec::new()))
        .collect();
    for p in &lock.packages {
        let file = match cache.lookup(&p.sha256)? {
            isoforge_cache::Lookup::Valid(f) => f,
            isoforge_cache::Lookup::Missing => {
                return Err(Error::Invalid(format!(
                    "{} {} is not in the cache; run `isoforge fetch`",
                    p.name, p.version
                )));
            }
            isoforge_cache::Lookup::Corrupt { actual } => {
                return Err(Error::Invalid(format!(
                    "the cached {} {} {} is corrupt (sha256 {actual}, expected {}); it was deleted \
                     and is not installed: run `isoforge fetch` to download it again",
                    p.name, p.version, p.architecture, p.sha256
                )));
            }
        };
        let deb = isoforge_rootfs::localrepo::Deb {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            priority: p.priority.clone(),
            sha256: p.sha256.clone(),
            size: p.size,
            file,
        };
        match out.iter_mut().find(|(n, _)| *n == p.repository) {
            Some((_, v)) => v.push(deb),
            None => out.push((p.repository.clone(), vec![deb])),
        }
    }
    out.retain(|(_, v)| !v.is_empty());
    Ok(out)
}

/// Where Debian's packages are read from for `isoforge lock`: the snapshot when it answers.
pub fn debian_source(pin: &SnapshotPin, suite: &str, progress: &Progress) -> DebianSource {
    match source::choose(pin, suite, Duration::from_secs(10)) {
        PackageSource::Snapshot { url } => DebianSource {
            url,
            how: "snapshot".into(),
        },
        PackageSource::Mirror { url, reason } => {
            progress.note(format!("resolving against the mirror {url} ({reason})"));
            DebianSource {
                url,
                how: "mirror".into(),
            }
        }
    }
}

/// Resolves a lock with apt; `work` holds the throwaway apt root and the logs.
pub fn resolve(
    cfg: &LockConfig,
    which: Which,
    debian: &DebianSource,
    work: &Path,
    progress: &Progress,
) -> Result<Lock, Error> {
    let req = match which {
        Which::Image => plan::image_request(&cfg.profile, &cfg.pin, &cfg.repositories, debian),
        Which::Builder => plan::builder_request(&cfg.profile, &cfg.pin, &cfg.builder, debian),
    };
    let dir = work.join(match which {
        Which::Image => format!(
            "image{}",
            cfg.flavor
                .as_ref()
                .map(|f| format!("-{}", f.name))
                .unwrap_or_default()
        ),
        Which::Builder => "builder".into(),
    });
    for d in [dir.join("home"), dir.join("tmp")] {
        std::fs::create_dir_all(&d).map_err(Error::io(format!("cannot create {}", d.display())))?;
    }
    let env = ToolEnv::new(315_532_800, &dir.join("home"), &dir.join("tmp"));
    let runner = Runner::new(env, &dir.join("logs"), progress.clone())
        .map_err(Error::io("cannot create the log directory"))?;
    let stage = progress.stage(format!("lock: resolving {}", cfg.file(which)));
    let lock =
        isoforge_lock::resolve::resolve(&runner, &stage, &req, &dir, "apt").map_err(|e| {
            Error::Invalid(format!(
                "{}: {e} (logs in {})",
                cfg.file(which),
                dir.join("logs").display()
            ))
        })?;
    stage.done(&format!("{} packages", lock.packages.len()));
    Ok(lock)
}
