//! `isoforge rebuild BUILD_INFO`: the independent rebuilder's path. Check out the recorded
//! commit in a fresh directory, build it, and compare with the hashes BUILD_INFO records.

use std::path::{Path, PathBuf};

use isoforge_buildinfo::BuildInfo;
use isoforge_checksums::{Sha256Digest, sha256_file};
use isoforge_exec::Progress;

use crate::{Error, io_err};

#[derive(Debug, Clone)]
pub struct Options {
    pub build_info: PathBuf,
    /// The repository (path or URL) that holds the recorded commit.
    pub source: std::ffi::OsString,
    /// A fresh directory for the checkout and the rebuilt output.
    pub dir: PathBuf,
    pub verbose: bool,
}

/// One recorded artefact and what the rebuild produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub expected: String,
    pub got: Option<Sha256Digest>,
    /// Where the rebuilt file is.
    pub rebuilt: PathBuf,
}

impl Outcome {
    pub fn matches(&self) -> bool {
        self.got.is_some_and(|d| d.hex() == self.expected)
    }
}

#[derive(Debug)]
pub struct Report {
    pub recorded: BuildInfo,
    pub outcomes: Vec<Outcome>,
    /// Tools whose versions differ from the recorded ones: the usual cause of a mismatch.
    pub tool_differences: Vec<(String, String, String)>,
    pub output: PathBuf,
    /// `isoforge diff` of each mismatching artefact found beside the recorded BUILD_INFO.
    pub explained: Vec<crate::explain::Explained>,
}

impl Report {
    pub fn matches(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(Outcome::matches)
    }
}

/// Reads and checks a BUILD_INFO, refusing what cannot be rebuilt.
pub fn read_build_info(path: &Path) -> Result<BuildInfo, Error> {
    let text = read_bounded(path)?;
    let info =
        BuildInfo::parse(&text).map_err(|e| Error::Failed(format!("{}: {e}", path.display())))?;
    if !info.dirty_paths.is_empty() {
        return Err(Error::Failed(format!(
            "{}: built from uncommitted changes (Commit-Dirty: yes); only a commit can be rebuilt",
            path.display()
        )));
    }
    if !["host", "chroot", "docker", "podman"].contains(&info.runtime.as_str()) {
        return Err(Error::Failed(format!(
            "{}: Runtime {:?} is not one this isoforge knows (host, chroot, docker, podman)",
            path.display(),
            info.runtime
        )));
    }
    if info.artefacts.is_empty() {
        return Err(Error::Failed(format!(
            "{}: records no artefact (Checksums-Sha256 is empty)",
            path.display()
        )));
    }
    Ok(info)
}

/// The file as text, refusing anything but a regular file of at most
/// [`isoforge_buildinfo::checks::MAX_BYTES`] (a BUILD_INFO may come from anywhere).
fn read_bounded(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let cannot = || format!("cannot read {}", path.display());
    let file = std::fs::File::open(path).map_err(io_err(cannot()))?;
    let meta = file.metadata().map_err(io_err(cannot()))?;
    if !meta.is_file() {
        return Err(Error::Failed(format!(
            "{}: not a regular file; expected a BUILD_INFO file",
            path.display()
        )));
    }
    let max = isoforge_buildinfo::checks::MAX_BYTES;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(cannot()))?;
    if bytes.len() as u64 > max {
        return Err(Error::Failed(format!(
            "{}: larger than {} MiB; not a BUILD_INFO",
            path.display(),
            max >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::Failed(format!(
            "{}: not UTF-8 text (byte {}); not a BUILD_INFO",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

pub fn rebuild(opts: &Options, progress: &Progress) -> Result<Report, Error> {
    let recorded = read_build_info(&opts.build_info)?;
    let dir = std::path::absolute(&opts.dir)
        .map_err(io_err(format!("cannot resolve {}", opts.dir.display())))?;
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Failed(format!(
            "{} is not empty; a rebuild starts from a fresh directory",
            dir.display()
        )));
    }
    let src = dir.join("src");
    progress.note(format!(
        "rebuilding {} {} from commit {} in {} (runtime {})",
        recorded.source,
        recorded.version,
        recorded.commit,
        dir.display(),
        recorded.runtime
    ));
    crate::checkout::commit(&opts.source, &recorded.commit, &src)?;

    // The commit must hold the very profile BUILD_INFO was made from.
    let config = src.join(&recorded.config_dir);
    // BUILD_INFO's `Flavor:` selects the flavor (none recorded: a profile without flavors,
    // which the commit must then be).
    let flavor = match &recorded.flavor {
        Some(name) => isoforge_inputs::flavors::select(&config, Some(name))?,
        None => {
            let there = isoforge_inputs::flavors::list(&config)?;
            if !there.is_empty() {
                return Err(Error::Failed(format!(
                    "BUILD_INFO records no Flavor, but {} at commit {} has flavors ({}); \
                     it comes from another profile",
                    recorded.config_dir,
                    recorded.commit,
                    there.join(", ")
                )));
            }
            None
        }
    };
    let profile = isoforge_inputs::Profile::load(&config, flavor.as_ref())?;
    let sha = isoforge_inputs::profile_sha256(&config, flavor.as_ref())?;
    // The diff hints know the profile's own offenders too.
    let offenders = std::sync::Arc::new(
        isoforge_offenders::Table::load(&config).map_err(|e| Error::Failed(e.to_string()))?,
    );
    if profile.product_id != recorded.source || sha != recorded.profile_sha256 {
        return Err(Error::Failed(format!(
            "BUILD_INFO is for profile {} ({}), but {} at commit {} holds profile {} ({sha}); \
             it comes from another profile",
            recorded.source,
            recorded.profile_sha256,
            recorded.config_dir,
            recorded.commit,
            profile.product_id
        )));
    }

    let exe = std::env::current_exe().map_err(io_err("cannot find the isoforge binary"))?;
    let output = dir.join("output");
    // The same runtime as the recorded build: in the pinned builder if it was built there.
    let mut cmd = crate::build_command(
        &exe,
        &src,
        Path::new(&recorded.config_dir),
        &output,
        &recorded.runtime,
        recorded.flavor.as_deref(),
    );
    cmd.env_remove("SOURCE_DATE_EPOCH");
    if recorded.source_date_epoch_origin == "environment" {
        cmd.env("SOURCE_DATE_EPOCH", recorded.source_date_epoch.to_string());
    }
    if opts.verbose {
        cmd.arg("--verbose");
    }
    let status = cmd
        .status()
        .map_err(io_err(format!("cannot start {}", exe.display())))?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "the rebuild failed ({status}); logs in {}",
            output.display()
        )));
    }
    let out_dir = output.join(recorded.build_id());
    let outcomes = recorded
        .artefacts
        .iter()
        .map(|a| {
            let rebuilt = out_dir.join(&a.name);
            let got = rebuilt.is_file().then(|| sha256_file(&rebuilt)).transpose();
            got.map(|got| Outcome {
                name: a.name.clone(),
                expected: a.sha256.clone(),
                got,
                rebuilt,
            })
            .map_err(io_err(format!("cannot hash {}", a.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tool_differences = std::fs::read_to_string(out_dir.join("BUILD_INFO"))
        .ok()
        .and_then(|t| BuildInfo::parse(&t).ok())
        .map(|now| {
            recorded
                .build_tools
                .iter()
                .filter_map(|(n, v)| {
                    let here = now
                        .build_tools
                        .iter()
                        .find(|(m, _)| m == n)
                        .map(|(_, w)| w.clone())
                        .unwrap_or_else(|| "(absent)".into());
                    (here != *v).then(|| (n.clone(), v.clone(), here))
                })
                .collect()
        })
        .unwrap_or_default();
    // The recorded artefacts are often beside their BUILD_INFO (an output or release
    // directory): then say where and why the rebuild differs.
    let beside = opts.build_info.parent().unwrap_or(Path::new("."));
    let differing: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.matches())
        .map(|o| o.name.as_str())
        .collect();
    // The original build's record, beside its BUILD_INFO, names hooks and overlays.
    let writers = crate::explain::writers_of(beside, progress);
    let explained = outcomes
        .iter()
        .filter(|o| !o.matches() && o.got.is_some())
        .filter_map(|o| {
            let original = beside.join(&o.name);
            let same =
                original.is_file() && sha256_file(&original).is_ok_and(|d| d.hex() == o.expected);
            same.then_some((o, original))
        })
        .map(|(o, original)| {
            crate::explain::artefact(
                &o.name,
                &original,
                &o.rebuilt,
                Some(recorded.source_date_epoch),
                &offenders,
                &writers,
                &differing,
                None,
                &dir,
                progress,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        recorded,
        outcomes,
        tool_differences,
        output: out_dir,
        explained,
    })
}
