//! `isoforge lock`: resolve the profile's whole package set (and the builder's) and pin it
//! by content in `config/packages-<flavor>.lock` (`packages.lock` for a profile without
//! flavors) and `config/builder.lock`.

use std::path::PathBuf;

use isoforge_build::locking::{self, LockConfig, Which};
use isoforge_exec::Progress;

use crate::commands::FlavorArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration directory.
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    #[command(flatten)]
    pub flavors: FlavorArgs,
    /// Do not resolve: check that the locks match the configuration and that every locked
    /// package is in the cache or can still be fetched (exit 0 yes, 1 no, 2 error).
    #[arg(long)]
    pub check: bool,
    /// Package cache, consulted by --check [default: $ISOFORGE_CACHE_DIR, else
    /// $XDG_CACHE_HOME/isoforge, else ~/.cache/isoforge].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let cfgs = args
        .flavors
        .selected(&args.config)?
        .iter()
        .map(|f| LockConfig::load_flavor(&args.config, f.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    if args.check {
        return check(&cfgs, &args, &progress);
    }
    let debian = locking::debian_source(&cfgs[0].pin, &cfgs[0].profile.suite, &progress);
    let work = tempfile::Builder::new()
        .prefix("isoforge-lock-")
        .tempdir()?;
    // Each flavor's image lock, then the builder's (shared by every flavor).
    let jobs = cfgs
        .iter()
        .map(|c| (c, Which::Image))
        .chain([(&cfgs[0], Which::Builder)]);
    for (cfg, which) in jobs {
        let lock = locking::resolve(cfg, which, &debian, work.path(), &progress)?;
        let path = cfg.path(which);
        let before = std::fs::read_to_string(&path).ok();
        let text = lock.render();
        let verdict = match before {
            Some(b) if b == text => "unchanged",
            Some(_) => "updated",
            None => "written",
        };
        lock.write(&path)?;
        println!(
            "{}: {} packages, sha256 {} ({verdict})",
            path.display(),
            lock.packages.len(),
            lock.sha256()
        );
    }
    Ok(exit::OK)
}

fn check(cfgs: &[LockConfig], args: &Args, progress: &Progress) -> anyhow::Result<u8> {
    let cache = locking::open_cache(args.cache_dir.as_deref())?;
    let mut problems = Vec::new();
    let jobs = cfgs
        .iter()
        .map(|c| (c, Which::Image))
        .chain([(&cfgs[0], Which::Builder)]);
    for (cfg, which) in jobs {
        let lock = match cfg.load_lock(which) {
            Ok(l) => l,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let stage = progress.stage(format!("lock --check: {}", cfg.file(which)));
        let missing = isoforge_cache::available(
            &cache,
            &cfg.items(&lock),
            &isoforge_cache::Options::default(),
        )?;
        stage.done(&format!(
            "{} packages, {} unavailable",
            lock.packages.len(),
            missing.len()
        ));
        if !missing.is_empty() {
            let shown: Vec<String> = missing
                .iter()
                .take(5)
                .map(|(l, why)| format!("{l} ({why})"))
                .collect();
            problems.push(format!(
                "{}: {} locked packages are neither in the cache nor fetchable: {}{}; run `{}` to re-pin",
                cfg.path(which).display(),
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", …" } else { "" },
                cfg.lock_command()
            ));
        }
    }
    if problems.is_empty() {
        println!("locks up to date and every locked package available");
        Ok(exit::OK)
    } else {
        for p in &problems {
            println!("NOT OK: {p}");
        }
        Ok(exit::DIFFERENT)
    }
}
