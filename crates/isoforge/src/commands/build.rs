//! `isoforge build`: the profile at a commit -> `output/<build-id>/` with the ISO,
//! `SHA256SUMS` and `BUILD_INFO`.

use std::path::PathBuf;

use isoforge_exec::Progress;
use isoforge_sandbox::Entered;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration directory holding silvermetal-base.conf, snapshot-pin.env and
    /// (optionally) source-date-epoch.env.
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    /// Where `<build-id>/` is created (build-id: the commit's first 12 hex digits).
    #[arg(long, default_value = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Replace an existing output for the same commit.
    #[arg(long)]
    pub force: bool,
    /// Build a work tree with uncommitted changes (output goes to `<build-id>-dirty/`, and
    /// BUILD_INFO lists the changed paths).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Keep the rootfs and staging tree in `<output>/<build-id>.work/` for inspection.
    #[arg(long)]
    pub keep_work: bool,
    /// Package cache [default: $ISOFORGE_CACHE_DIR, else $XDG_CACHE_HOME/isoforge, else
    /// ~/.cache/isoforge].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Before any thread exists: the build re-runs itself in its own PID and mount namespace.
    if let Entered::Exited(code) = isoforge_sandbox::enter_build_namespace()? {
        return Ok(u8::try_from(code).unwrap_or(exit::ERROR));
    }
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let outcome = isoforge_build::build(
        &isoforge_build::Options {
            config_dir: args.config,
            output_root: args.output,
            force: args.force,
            allow_dirty: args.allow_dirty,
            keep_work: args.keep_work,
            cache_dir: args.cache_dir,
            runtime: "host".into(),
            builder_digest: None,
        },
        &progress,
    )?;
    println!("{}", outcome.iso.display());
    println!("sha256 {}", outcome.iso_sha256);
    Ok(exit::OK)
}
