//! `isoforge fetch`: download every locked package (image and builder) into the
//! content-addressed cache, verifying each sha256; afterwards builds need no network.

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
    /// Package cache [default: $ISOFORGE_CACHE_DIR, else $XDG_CACHE_HOME/isoforge, else
    /// ~/.cache/isoforge].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Only the image's packages (not the builder's).
    #[arg(long)]
    pub image_only: bool,
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
    let cache = locking::open_cache(args.cache_dir.as_deref())?;
    let mut jobs: Vec<(&LockConfig, Which)> = cfgs.iter().map(|c| (c, Which::Image)).collect();
    if !args.image_only {
        jobs.push((&cfgs[0], Which::Builder));
    }
    for (cfg, which) in jobs {
        let lock = cfg.load_lock(which)?;
        let stage = progress.stage(format!("fetch: {}", cfg.file(which)));
        let r = locking::fetch(cfg, &lock, &cache, &stage)?;
        for (label, actual) in &r.corrupt {
            progress.note(format!(
                "the cached {label} was corrupt (sha256 {actual}); deleted and fetched again"
            ));
        }
        stage.done(&format!(
            "{} packages: {} already cached, {} fetched ({:.1} MB), {} retries",
            lock.packages.len(),
            r.cached,
            r.fetched,
            r.bytes_fetched as f64 / 1e6,
            r.retried
        ));
    }
    println!("cache: {}", cache.root().display());
    Ok(exit::OK)
}
