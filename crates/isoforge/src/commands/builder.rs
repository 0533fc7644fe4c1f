//! `isoforge builder build`: the builder rootfs tarball of config/builder.lock, whose
//! sha256 is the digest `BUILDER_IMAGE` pins. (`builder enter` is internal: the chroot
//! runtime's step inside the new namespaces.)

use std::ffi::OsString;
use std::path::PathBuf;

use isoforge_exec::Progress;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand)]
pub enum Sub {
    /// Build the builder rootfs (the toolchain at the versions of config/builder.lock) as a
    /// reproducible tarball in the cache, and print the BUILDER_IMAGE line that pins it.
    Build(BuildArgs),
    #[command(hide = true)]
    Enter(EnterArgs),
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Configuration directory.
    #[arg(long, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    /// Package cache; the tarball goes to <cache>/builders/<digest>.tar.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The image name in the printed BUILDER_IMAGE line.
    #[arg(long, default_value = "silvermetal-builder")]
    pub name: String,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(clap::Args)]
pub struct EnterArgs {
    pub root: PathBuf,
    pub source: PathBuf,
    pub output: PathBuf,
    pub cache: PathBuf,
    #[arg(last = true)]
    pub argv: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Sub::Build(a) => {
            anyhow::ensure!(
                nix::unistd::geteuid().is_root(),
                "isoforge builder build needs root (mmdebstrap's root mode); run it with sudo"
            );
            isoforge_exec::cancel::install()?;
            let progress = Progress::new(a.verbose);
            let built =
                isoforge_builder::tarball::build(&a.config, a.cache_dir.as_deref(), &progress)?;
            println!("{}", built.tarball.display());
            println!("# pin it in {}/builder.env:", a.config.display());
            println!("BUILDER_IMAGE={}@sha256:{}", a.name, built.digest);
            Ok(exit::OK)
        }
        Sub::Enter(a) => {
            let e =
                isoforge_builder::runtime::enter(&a.root, &a.source, &a.output, &a.cache, &a.argv)
                    .err();
            anyhow::bail!("{}", e.map(|e| e.to_string()).unwrap_or_default())
        }
    }
}
