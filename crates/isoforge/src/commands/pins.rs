//! `isoforge pins [--check]`: every pinned input of a build, and whether it really is pinned,
//! for every flavor of the profile.

use std::path::PathBuf;

use isoforge_build::locking::Which;
use isoforge_inputs::{BuilderConfig, Profile, SnapshotPin, SourceDateEpoch};
use isoforge_lock::Lock;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration directory.
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    /// Exit 1 naming each input that is not pinned (no lock, a lock that no longer matches
    /// the profile, a tag-only or missing BUILDER_IMAGE, a missing or malformed snapshot
    /// pin), for every flavor; 0 when everything is pinned, 2 on error.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let dir = &args.config;
    anyhow::ensure!(
        dir.is_dir(),
        "{}: no such configuration directory; pass --config DIR",
        dir.display()
    );
    // Every flavor: each has its own packages and lock.
    let profiles = isoforge_inputs::flavors::all(dir)?
        .into_iter()
        .map(|f| Profile::load(dir, f.as_ref()).map(|p| (f, p)))
        .collect::<Result<Vec<_>, _>>()?;
    let profile = &profiles[0].1;
    let mut unpinned: Vec<String> = Vec::new();
    let row = |k: &str, v: &str| println!("{k:<18} {v}");
    if profiles[0].0.is_some() {
        let names: Vec<&str> = profiles
            .iter()
            .filter_map(|(f, _)| f.as_ref().map(|f| f.name.as_str()))
            .collect();
        row(
            "flavors",
            &format!(
                "{} (default {})",
                names.join(", "),
                profile.default_flavor.as_deref().unwrap_or("none")
            ),
        );
    }

    match isoforge_inputs::Source::discover(dir) {
        Ok(s) => {
            let state = if s.is_dirty() {
                format!("with uncommitted changes ({} paths)", s.dirty.len())
            } else {
                "clean".into()
            };
            row("commit", &format!("{} ({state})", s.commit));
            let epoch = match SourceDateEpoch::from_config(dir) {
                Ok(Some(e)) => Some(e),
                Ok(None) => SourceDateEpoch::from_env().ok().flatten().or_else(|| {
                    SourceDateEpoch::new(s.commit_time, isoforge_inputs::EpochOrigin::Commit).ok()
                }),
                Err(e) => {
                    unpinned.push(e.to_string());
                    None
                }
            };
            if let Some(e) = epoch {
                row("SOURCE_DATE_EPOCH", &format!("{e} (from {})", e.origin));
            }
            if s.is_dirty() {
                unpinned.push(format!(
                    "the work tree has uncommitted changes (e.g. {}): a build is pinned to a commit",
                    s.dirty[0]
                ));
            }
        }
        Err(e) => {
            row("commit", "none");
            unpinned.push(e.to_string());
        }
    }

    let pin = match SnapshotPin::load(dir) {
        Ok(p) => {
            row("snapshot", &format!("{} ({})", p.timestamp, p.url()));
            row(
                "mirror",
                &format!("{} (fallback; locks pin the content)", p.mirror),
            );
            Some(p)
        }
        Err(e) => {
            row("snapshot", "NOT PINNED");
            unpinned.push(format!("snapshot pin: {e}"));
            None
        }
    };
    let builder = match BuilderConfig::load(dir) {
        Ok(b) => Some(b),
        Err(e) => {
            unpinned.push(format!("builder: {e}"));
            None
        }
    };
    let mut lists: Vec<&isoforge_inputs::PackageList> = Vec::new();
    for l in profiles.iter().flat_map(|(_, p)| &p.package_lists) {
        if !lists.iter().any(|s| s.rel == l.rel) {
            lists.push(l);
        }
    }
    for l in lists {
        row(
            "package list",
            &format!(
                "{} ({} packages: {})",
                l.rel,
                l.packages.len(),
                l.packages.join(" ")
            ),
        );
    }
    let repos = isoforge_inputs::repositories::load(dir)?;
    for r in &repos {
        row(
            "repository",
            &format!(
                "{} {} {} (key sha256 {})",
                r.name, r.url, r.suite, r.key_sha256
            ),
        );
    }

    // Each flavor's image lock, then the builder's (one for every flavor).
    let jobs = profiles
        .iter()
        .map(|(f, p)| (f.as_ref(), p, Which::Image))
        .chain([(profiles[0].0.as_ref(), profile, Which::Builder)]);
    for (flavor, profile, which) in jobs {
        let label = which.file(flavor);
        let path = dir.join(&label);
        let label = label.as_str();
        let relock = match (flavor, which) {
            (Some(f), Which::Image) => format!("isoforge lock --flavor {}", f.name),
            _ => "isoforge lock".to_string(),
        };
        if !path.exists() {
            row(label, "MISSING");
            unpinned.push(format!("{}: no lock; run `{relock}`", path.display()));
            continue;
        }
        let lock = match Lock::load(&path) {
            Ok(l) => l,
            Err(e) => {
                row(label, "UNREADABLE");
                unpinned.push(e.to_string());
                continue;
            }
        };
        let expected = match (which, &pin, &builder) {
            (Which::Image, Some(p), _) => {
                Some(isoforge_lock::plan::image_inputs(profile, p, &repos))
            }
            (Which::Builder, Some(p), Some(b)) => {
                Some(isoforge_lock::plan::builder_inputs(profile, p, b))
            }
            _ => None,
        };
        let state = match expected {
            Some(e) if e == lock.inputs => "matches the configuration".to_string(),
            Some(e) => {
                let d = lock.inputs.differences(&e).join("; ");
                unpinned.push(format!(
                    "{}: no longer matches the configuration ({d}); run `{relock}`",
                    path.display()
                ));
                format!("STALE ({d})")
            }
            None => "cannot be checked (see above)".into(),
        };
        row(
            label,
            &format!(
                "sha256 {}, {} packages, {state}",
                lock.sha256(),
                lock.packages.len()
            ),
        );
    }

    match builder.as_ref().map(|b| &b.image) {
        Some(Some(img)) => row("builder", &img.to_string()),
        Some(None) => {
            row("builder", "NOT PINNED");
            unpinned.push(format!(
                "{}/builder.env: no BUILDER_IMAGE; run `isoforge builder build` and pin the digest it prints",
                dir.display()
            ));
        }
        None => row("builder", "NOT PINNED (see above)"),
    }

    let tools = isoforge_build::preflight::tool_versions()?;
    let t: Vec<String> = tools.iter().map(|(n, v)| format!("{n} {v}")).collect();
    row("host tools", &t.join(", "));
    println!(
        "{:<18} (runtime host records these; --runtime chroot uses the builder's, pinned above)",
        ""
    );

    if !args.check {
        return Ok(exit::OK);
    }
    if unpinned.is_empty() {
        println!("all inputs pinned");
        Ok(exit::OK)
    } else {
        for u in &unpinned {
            println!("UNPINNED: {u}");
        }
        Ok(exit::DIFFERENT)
    }
}
