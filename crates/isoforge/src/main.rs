//! `isoforge`: turns a commit into a byte-reproducible Debian live ISO, proves it by building
//! twice, and explains any difference down to the byte.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status convention of the field: 0 success or identical, 1 differences found, 2 error.
pub mod exit {
    pub const OK: u8 = 0;
    pub const DIFFERENT: u8 = 1;
    pub const ERROR: u8 = 2;
}

#[derive(Parser)]
#[command(
    name = "isoforge",
    version,
    about = "Reproducible Debian live ISO builds: build, verify, explain",
    long_about = "isoforge turns a commit into a bootable hybrid (BIOS + UEFI) Debian live ISO \
that is byte-identical on every clean rebuild, proves it by building twice, and explains \
any difference down to the byte.\n\n\
Exit status: 0 success (or identical), 1 differences found, 2 error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain every difference between two images (ISO, squashfs, FAT, cpio/initramfs, tar,
    /// ar/deb, gzip/xz/zstd), files or directories, down to the structure and field holding
    /// each differing byte, with hints at known causes. Exit 0 identical, 1 different, 2 error.
    Diff(commands::diff::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<u8> = match cli.command {
        Command::Diff(args) => commands::diff::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("isoforge: error: {err:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
