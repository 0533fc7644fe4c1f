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
    /// Resolve the flavor's whole package set (and the builder's) and pin it by content in
    /// config/packages-<flavor>.lock and config/builder.lock; --check: are they current and
    /// available (exit 0 yes, 1 no, 2 error).
    Lock(commands::lock::Args),
    /// Download every locked package into the content-addressed cache (sha256-verified).
    Fetch(commands::fetch::Args),
    /// Show every pinned input (commit, SOURCE_DATE_EPOCH, snapshot, locks, builder, tool
    /// versions); --check: exit 1 naming anything unpinned.
    Pins(commands::pins::Args),
    /// The builder: the pinned toolchain as a reproducible rootfs tarball.
    Builder(commands::builder::Args),
    /// Build the ISO of the committed profile (one flavor, or --all-flavors) into
    /// output/<build-id>/ (needs root).
    Build(commands::build::Args),
    /// Build twice from scratch under different environments and compare every artefact
    /// (exit 0 identical, 1 different, 2 error; needs root).
    Verify(commands::verify::Args),
    /// Rebuild what a BUILD_INFO records in a fresh directory and compare with its hashes
    /// (exit 0 reproduced, 1 different, 2 error; needs root).
    Rebuild(commands::rebuild::Args),
    /// Explain every difference between two images (ISO, squashfs, FAT, cpio/initramfs, tar,
    /// ar/deb, gzip/xz/zstd), files or directories, down to the structure and field holding
    /// each differing byte, with hints at known causes. Exit 0 identical, 1 different, 2 error.
    Diff(commands::diff::Args),
    /// Check artefacts against published SHA-256 sums (a SHA256SUMS file, or a release
    /// directory or URL); a mismatch is reported as a supply-chain anomaly.
    Check(commands::check::Args),
    /// Attach an output directory (ISO, SHA256SUMS, BUILD_INFO, provenance) to a Gitea
    /// release, after checking it: creates or finds the release, uploads only missing assets,
    /// never overwrites one (token from GITEA_TOKEN).
    Publish(commands::publish::Args),
    /// Rewrite another builder's hybrid live ISO (live-build, derivative-maker,
    /// grub-mkrescue) into a deterministic one that boots the same: rootfs cleanup and clamped
    /// times, initrd, EFI FAT serial and dates, every ISO date pinned (needs root).
    Normalize(commands::normalize::Args),
    /// Boot an ISO in QEMU under BIOS and/or UEFI and wait for its boot marker on the serial
    /// console.
    Boot(commands::boot::Args),
    /// Lint the Gitea workflows and the act_runner config for least privilege (credential
    /// mounts, the Docker socket, volumes valid_volumes drops, pinning, injection). Exit 0
    /// clean, 1 findings, 2 unreadable or invalid YAML.
    LintCi(commands::lint_ci::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<u8> = match cli.command {
        Command::Lock(args) => commands::lock::run(args),
        Command::Fetch(args) => commands::fetch::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Pins(args) => commands::pins::run(args),
        Command::Builder(args) => commands::builder::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Rebuild(args) => commands::rebuild::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Publish(args) => commands::publish::run(args),
        Command::Normalize(args) => commands::normalize::run(args),
        Command::Boot(args) => commands::boot::run(args),
        Command::LintCi(args) => commands::lint_ci::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("isoforge: error: {}", one_line(&err));
            ExitCode::from(exit::ERROR)
        }
    }
}

/// The error and its causes on one line, each cause said once: many errors put their
/// source in their own message (`{context}: {source}`) and also return it as `source()`, so
/// anyhow's `{:#}` would print it twice.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn each_cause_once() {
        #[derive(Debug)]
        struct Open {
            path: String,
            source: std::io::Error,
        }
        impl std::fmt::Display for Open {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot open {}: {}", self.path, self.source)
            }
        }
        impl std::error::Error for Open {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let io = std::io::Error::from_raw_os_error(2);
        let err = anyhow::Error::new(Open {
            path: "/nonexist".into(),
            source: io,
        })
        .context("comparing /nonexist with x");
        let line = one_line(&err);
        assert_eq!(
            line,
            "comparing /nonexist with x: cannot open /nonexist: No such file or directory (os error 2)"
        );
        let plain = anyhow::anyhow!("first").context("second");
        assert_eq!(one_line(&plain), "second: first");
    }
}
