//! `isoforge verify`: build twice from scratch under different environments and compare.

use std::path::PathBuf;

use isoforge_exec::Progress;

use crate::commands::FlavorArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration directory (inside the git repository whose HEAD is built).
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    #[command(flatten)]
    pub flavors: FlavorArgs,
    /// Where `<build-id>/build-a`, `build-b` and `verification.log` are written.
    #[arg(long, default_value = "verify", value_name = "DIR")]
    pub dir: PathBuf,
    /// Where the verified result is placed as `<build-id>/` when both builds agree.
    #[arg(long, default_value = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Replace an existing `<output>/<build-id>/` with the verified result.
    #[arg(long)]
    pub force: bool,
    /// Verify a work tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Where both builds take their tools from: host, or chroot/docker/podman (the builder
    /// pinned by BUILDER_IMAGE), as for `isoforge build`.
    #[arg(long, default_value = "host", value_parser = ["host", "chroot", "docker", "podman"])]
    pub runtime: String,
    /// What build B varies, with reprotest's names: time (the tools' clock +398 days, by
    /// libfaketime), num_cpus (one CPU), fileordering (directory entries reversed by
    /// disorderfs), aslr (off), exec_path (an extra PATH entry), build_path, domain_host,
    /// timezone, locales, umask, home. Comma-separated; `-NAME` leaves one out
    /// (`--vary -time`), `all` is every one but fileordering (through disorderfs dpkg cannot
    /// build the image: usrmerge stops on FUSE's `.fuse_hidden` files). Not applicable: `user_group` (the build needs
    /// root, mmdebstrap's root mode) and `kernel` (with `uname -r` 2.6, libc6's preinst
    /// refuses to install: "Kernel must be upgraded").
    #[arg(
        long,
        default_value = "all",
        value_name = "LIST",
        allow_hyphen_values = true
    )]
    pub vary: String,
    /// Make a variation that cannot be applied on this machine (no libfaketime, no FUSE) an
    /// error instead of a skip listed in the log. CI uses it.
    #[arg(long)]
    pub strict: bool,
    /// When the builds differ, find the variation (or smallest set of them) the difference
    /// follows, with more builds using subsets of build B's variations.
    #[arg(long)]
    pub bisect: bool,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    // Each flavor in turn; the worst verdict is the exit status.
    let mut worst = exit::OK;
    let flavors = args.flavors.selected(&args.config)?;
    if flavors.len() > 1 {
        // A bad flavor stops the run before the others are verified.
        for flavor in &flavors {
            isoforge_build::check_inputs(&args.config, args.allow_dirty, flavor.as_deref())?;
        }
    }
    for flavor in flavors {
        let code = verify_one(&args, flavor, &progress)?;
        worst = worst.max(code);
    }
    Ok(worst)
}

fn verify_one(args: &Args, flavor: Option<String>, progress: &Progress) -> anyhow::Result<u8> {
    let vary = isoforge_verify::variations::parse_list(&args.vary).map_err(anyhow::Error::msg)?;
    let report = isoforge_verify::verify(
        &isoforge_verify::Options {
            config_dir: args.config.clone(),
            verify_root: args.dir.clone(),
            output_root: args.output.clone(),
            force: args.force,
            allow_dirty: args.allow_dirty,
            verbose: args.verbose,
            flavor,
            runtime: args.runtime.clone(),
            vary,
            strict: args.strict,
            bisect: args.bisect,
        },
        progress,
    )?;
    println!();
    if let Some(t) = &report.tools_changed {
        println!("NOTE: {t}");
    }
    println!("{}", report.headline());
    for c in &report.artefacts {
        let hex = |d: &Option<isoforge_checksums::Sha256Digest>| {
            d.map(|d| d.hex()).unwrap_or_else(|| "(missing)".into())
        };
        let verdict = if c.identical() {
            "identical"
        } else {
            "DIFFERENT"
        };
        println!("{}: {verdict}", c.name);
        println!("  build A {}", hex(&c.a));
        println!("  build B {}", hex(&c.b));
        if let Some(o) = c.first_difference {
            println!("  first differing byte at offset {o} (0x{o:x})");
        }
    }
    for (n, why) in &report.skipped {
        println!("variation {n} SKIPPED: {why}");
    }
    if let Some(f) = &report.bisect {
        println!("bisect: {}", f.line());
    }
    for e in &report.explained {
        println!("isoforge diff of {}: {}", e.name, e.summary);
        println!("  report: {} (also .html, .json)", e.text.display());
    }
    println!("verification log: {}", report.log.display());
    if report.identical() {
        if let Some(p) = &report.promoted {
            println!("verified result: {}", p.display());
        }
        println!("IDENTICAL: both builds produced the same bytes");
        Ok(exit::OK)
    } else {
        println!("DIFFERENT: the builds are not reproducible");
        Ok(exit::DIFFERENT)
    }
}
