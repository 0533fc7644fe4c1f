//! `isoforge pins [--check]`: every pinned input of a build, and whether it really is pinned.

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
    /// pin); 0 when everything is pinned, 2 on error.
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
    let profile = Profile::load(dir)?;
    let mut unpinned: Vec<String> = Vec::new();
    let row = |k: &str, v: &str| println!("{k:<18} {v}");

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
    for l in &profile.package_lists {
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

    for which in [Which::Image, Which::Builder] {
        let path = dir.join(which.file());
        let label = which.file();
        if !path.exists() {
            row(label, "MISSING");
            unpinned.push(format!("{}: no lock; run `isoforge lock`", path.display()));
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
                Some(isoforge_lock::plan::image_inputs(&profile, p, &repos))
            }
            (Which::Builder, Some(p), Some(b)) => {
                Some(isoforge_lock::plan::builder_inputs(&profile, p, b))
            }
            _ => None,
        };
        let state = match expected {
            Some(e) if e == lock.inputs => "matches the configuration".to_string(),
            Some(e) => {
                let d = lock.inputs.differences(&e).join("; ");
                unpinned.push(format!(
                    "{}: no longer matches the configuration ({d}); run `isoforge lock`",
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
