//! `isoforge build`: the profile at a commit -> `output/<build-id>/` with the ISO,
//! `SHA256SUMS` and `BUILD_INFO`, with the host's tools or inside the pinned builder; one
//! flavor (`--flavor`, default DEFAULT_FLAVOR) or each in turn (`--all-flavors`).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use isoforge_build::locking::{self, LockConfig, Which};
use isoforge_builder::runtime::{self, Mounts, Runtime};
use isoforge_exec::Progress;
use isoforge_sandbox::Entered;

use crate::commands::FlavorArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration directory holding silvermetal-base.conf, snapshot-pin.env,
    /// packages-<flavor>.lock and (optionally) source-date-epoch.env, builder.env,
    /// repositories/, flavors/.
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    #[command(flatten)]
    pub flavors: FlavorArgs,
    /// Where `<build-id>/` is created (build-id: the commit's first 12 hex digits, then
    /// `-<flavor>`).
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
    /// Where the tools come from: host (this machine's; BUILD_INFO marks the build as not
    /// comparable across machines), chroot (the builder pinned by BUILDER_IMAGE, in
    /// namespaces), docker or podman (the same builder as an image).
    #[arg(long, default_value = "host", value_parser = Runtime::parse)]
    pub runtime: Runtime,
    /// Internal: `<runtime>:<digest>` of the builder this build runs inside.
    #[arg(long, hide = true, value_name = "RUNTIME:DIGEST")]
    pub inside_builder: Option<String>,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.runtime != Runtime::Host {
        return in_builder(args);
    }
    // Before any thread exists: the build re-runs itself in its own PID and mount namespace.
    if let Entered::Exited(code) = isoforge_sandbox::enter_build_namespace()? {
        return Ok(u8::try_from(code).unwrap_or(exit::ERROR));
    }
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let (runtime, builder_digest) = match &args.inside_builder {
        Some(v) => {
            let (r, d) = v
                .split_once(':')
                .context("--inside-builder expects RUNTIME:DIGEST")?;
            (r.to_string(), Some(d.to_string()))
        }
        None => ("host".to_string(), None),
    };
    if runtime == "host" {
        progress.note(
            "runtime host: the tools of this machine (versions in BUILD_INFO); \
             not comparable across machines, use --runtime chroot for that",
        );
    }
    let flavors = args.flavors.selected(&args.config)?;
    if flavors.len() > 1 {
        for flavor in &flavors {
            isoforge_build::check_inputs(&args.config, args.allow_dirty, flavor.as_deref())?;
        }
    }
    for flavor in flavors {
        let outcome = isoforge_build::build(
            &isoforge_build::Options {
                config_dir: args.config.clone(),
                output_root: args.output.clone(),
                force: args.force,
                allow_dirty: args.allow_dirty,
                flavor,
                keep_work: args.keep_work,
                cache_dir: args.cache_dir.clone(),
                runtime: runtime.clone(),
                builder_digest: builder_digest.clone(),
            },
            &progress,
        )?;
        println!("{}", outcome.iso.display());
        println!("sha256 {}", outcome.iso_sha256);
    }
    Ok(exit::OK)
}

/// `--runtime chroot|docker|podman`: fetch on the host, then build inside the builder.
fn in_builder(args: Args) -> anyhow::Result<u8> {
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let builder = isoforge_inputs::BuilderConfig::load(&args.config)?;
    let image = builder.image.with_context(|| {
        format!(
            "{}/builder.env sets no BUILDER_IMAGE; run `isoforge builder build` and pin the digest it prints",
            args.config.display()
        )
    })?;
    let cache = locking::open_cache(args.cache_dir.as_deref())?;
    let tarball = isoforge_builder::tarball_path(cache.root(), &image.digest);
    // Held open from here: what is extracted or imported is what was hashed.
    let verified = isoforge_builder::unpack::open(&tarball, &image)?;
    // Network only here: everything the builds install goes into the cache first.
    let flavors = args.flavors.selected(&args.config)?;
    if flavors.len() > 1 {
        for flavor in &flavors {
            isoforge_build::check_inputs(&args.config, args.allow_dirty, flavor.as_deref())?;
        }
    }
    for flavor in &flavors {
        let cfg = LockConfig::load_flavor(&args.config, flavor.as_deref())?;
        let lock = cfg.load_lock(Which::Image)?;
        let stage = progress.stage(format!("fetch: {}", cfg.file(Which::Image)));
        let r = locking::fetch(&cfg, &lock, &cache, &stage)?;
        stage.done(&format!("{} cached, {} fetched", r.cached, r.fetched));
    }

    let source = isoforge_inputs::Source::discover(&args.config)?;
    let config_rel = args
        .config
        .canonicalize()?
        .strip_prefix(&source.root)
        .map(PathBuf::from)
        .context("the configuration directory is not inside the repository")?;
    std::fs::create_dir_all(&args.output)?;
    let mounts = Mounts {
        source: source.root.clone(),
        config_rel,
        output: std::path::absolute(&args.output)?,
        cache: cache.root().canonicalize()?,
        binary: std::env::current_exe()?,
    };
    let mut common: Vec<OsString> = Vec::new();
    for (on, flag) in [
        (args.force, "--force"),
        (args.allow_dirty, "--allow-dirty"),
        (args.keep_work, "--keep-work"),
        (args.verbose, "--verbose"),
    ] {
        if on {
            common.push(flag.into());
        }
    }
    // One build inside the builder per flavor, in turn.
    for flavor in &flavors {
        let mut extra = common.clone();
        if let Some(f) = flavor {
            extra.extend(["--flavor".into(), f.into()]);
        }
        let code = in_builder_once(&args, &verified, &image, &mounts, &extra, &progress)?;
        if code != exit::OK {
            return Ok(code);
        }
    }
    Ok(exit::OK)
}

/// One build inside the builder (`extra`: the flags passed on, `--flavor` among them).
fn in_builder_once(
    args: &Args,
    verified: &isoforge_builder::unpack::Verified,
    image: &isoforge_inputs::ImageRef,
    mounts: &Mounts,
    extra: &[OsString],
    progress: &Progress,
) -> anyhow::Result<u8> {
    match args.runtime {
        Runtime::Chroot => {
            anyhow::ensure!(
                nix::unistd::geteuid().is_root(),
                "--runtime chroot needs root (namespaces, chroot); run it with sudo"
            );
            let root = tempfile::Builder::new()
                .prefix(".isoforge-builder-")
                .tempdir_in(&mounts.output)?;
            let stage = progress.stage(format!("builder: extracting {}", image.pinned()));
            verified.extract(root.path())?;
            stage.done("");
            let code = runtime::run_chroot(root.path(), mounts, &image.digest, extra)?;
            isoforge_fs::remove_tree(root.path())?;
            Ok(u8::try_from(code).unwrap_or(exit::ERROR))
        }
        engine @ (Runtime::Docker | Runtime::Podman) => {
            for (i, argv) in [
                runtime::engine_import(engine, image),
                runtime::engine_run(engine, image, mounts, extra),
            ]
            .into_iter()
            .enumerate()
            {
                let mut cmd = isoforge_exec::process::foreground(&argv[0]);
                cmd.args(&argv[1..]);
                if i == 0 {
                    cmd.stdin(verified.reader()?);
                }
                let st = cmd
                    .status()
                    .with_context(|| format!("cannot run {}", engine.name()))?;
                if !st.success() {
                    return Ok(exit::ERROR);
                }
            }
            Ok(exit::OK)
        }
        Runtime::Host => unreachable!("handled by run"),
    }
}
