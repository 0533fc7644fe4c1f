//! `isoforge normalize IN.iso OUT.iso`: another builder's live ISO rewritten into a
//! deterministic one that boots the same (see `isoforge_normalize`).

use std::path::PathBuf;

use anyhow::Context;
use isoforge_exec::Progress;
use isoforge_inputs::epoch::{Origin, SourceDateEpoch};
use isoforge_sandbox::Entered;

use crate::exit;

/// mksquashfs options without a profile: live-build's own choice (xz, 1 MiB blocks).
const DEFAULT_MKSQUASHFS: &[&str] = &["-comp", "xz", "-b", "1M", "-no-exports", "-no-recovery"];

#[derive(clap::Args)]
pub struct Args {
    /// The ISO to normalize (a hybrid live ISO: live-build, derivative-maker, grub-mkrescue).
    pub input: PathBuf,
    /// Where the normalized ISO is written (through a temporary name, renamed at the end).
    pub output: PathBuf,
    /// A profile: its MKSQUASHFS_OPTIONS, its offenders.conf rules and (unless given) its
    /// source-date-epoch.env. Without one: the built-in offenders table and
    /// `-comp xz -b 1M -no-exports -no-recovery`.
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// The epoch every date is pinned to [default: the profile's source-date-epoch.env, else
    /// $SOURCE_DATE_EPOCH].
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Also write the report here: JSON when the name ends in `.json`, else text.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The most the root file system, and each decompressed initrd stream, may unpack to
    /// [default: 16G, or half the free space if less].
    #[arg(long, value_name = "SIZE", value_parser = super::net::parse_size)]
    pub max_unpacked: Option<u64>,
    /// Replace an existing output.
    #[arg(long)]
    pub force: bool,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "isoforge normalize needs root (the root file system is unpacked with its owners, in \
         its own namespaces); run it with sudo"
    );
    // Before any thread exists: PID 1 of its own PID and mount namespace, like build.
    if let Entered::Exited(code) = isoforge_sandbox::enter_build_namespace()? {
        return Ok(u8::try_from(code).unwrap_or(exit::ERROR));
    }
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let epoch = match &args.source_date_epoch {
        Some(v) => SourceDateEpoch::parse(v, Origin::Environment)
            .map_err(|m| anyhow::anyhow!("--source-date-epoch: {m}"))?,
        None => {
            let from_config = match &args.config {
                Some(c) => SourceDateEpoch::from_config(c)?,
                None => None,
            };
            match from_config {
                Some(e) => e,
                None => SourceDateEpoch::from_env()?.context(
                    "no SOURCE_DATE_EPOCH: pass --source-date-epoch SECONDS (e.g. the commit \
                     time of what the ISO was built from), set it in the environment, or in \
                     the profile's source-date-epoch.env",
                )?,
            }
        }
    };
    let (table, mksquashfs_options) = match &args.config {
        Some(c) => (
            isoforge_offenders::Table::load(c)?,
            // The default flavor's options, where the profile has flavors.
            isoforge_inputs::Profile::load(c, isoforge_inputs::flavors::select(c, None)?.as_ref())?
                .mksquashfs_options,
        ),
        None => (
            isoforge_offenders::Table::builtin(),
            DEFAULT_MKSQUASHFS.iter().map(|s| s.to_string()).collect(),
        ),
    };
    let report = isoforge_normalize::normalize(
        &isoforge_normalize::Options {
            input: args.input,
            output: args.output,
            epoch: epoch.seconds(),
            table,
            mksquashfs_options,
            max_unpacked: args.max_unpacked,
            force: args.force,
        },
        &progress,
    )?;
    let text = report.render();
    if let Some(path) = &args.report {
        let body = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            text.clone()
        };
        isoforge_fs::write_atomic(path, body.as_bytes())?;
    }
    print!("{text}");
    Ok(exit::OK)
}
