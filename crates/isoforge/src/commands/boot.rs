//! `isoforge boot`: boots an ISO in QEMU under BIOS and/or UEFI and reports pass or fail per
//! firmware, with the console log saved ([`isoforge_boot`] does the work).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use isoforge_boot::{Accel, Event, Firmware, Marker, Options, Ovmf, Report};

use crate::exit;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FirmwareArg {
    Bios,
    Uefi,
    /// BIOS, then UEFI.
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelArg {
    /// KVM if it starts the kernel within --kvm-probe seconds, else TCG.
    Auto,
    Kvm,
    Tcg,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Exit status: 0 every boot passed, 1 a boot failed, 2 error.")]
pub struct Args {
    /// The ISO to boot (attached read-only as a CD-ROM).
    pub iso: PathBuf,

    /// Firmware to boot with.
    #[arg(long, value_enum, default_value_t = FirmwareArg::Both)]
    pub firmware: FirmwareArg,

    /// Seconds from QEMU's start to the marker, per boot.
    #[arg(long, default_value_t = 300, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Accelerator.
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    pub accel: AccelArg,

    /// With --accel auto: seconds KVM gets to show the kernel starting before falling back to
    /// TCG.
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub kvm_probe: u64,

    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB",
          value_parser = clap::value_parser!(u32).range(256..))]
    pub memory: u32,

    /// Regular expression (a plain string works too, e.g. 'login:') that marks a successful
    /// boot on the serial console. Default: a line with "isoforge-boot-ok:", which images built
    /// by isoforge print when they reach multi-user.
    #[arg(long, value_name = "REGEX")]
    pub marker: Option<String>,

    /// Require the text after the marker to be exactly TEXT (e.g. "SilverMetal Linux 1.1.0").
    #[arg(long, value_name = "TEXT")]
    pub expect: Option<String>,

    /// Where to write the console logs boot-bios.log and boot-uefi.log [default: the current
    /// directory; never beside the ISO, which may be somewhere this user should not write].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// OVMF firmware code for UEFI [default: Debian's OVMF_CODE_4M.fd].
    #[arg(long, value_name = "FILE", requires = "ovmf_vars")]
    pub ovmf_code: Option<PathBuf>,

    /// OVMF variable store template matching --ovmf-code (copied, never written).
    #[arg(long, value_name = "FILE", requires = "ovmf_code")]
    pub ovmf_vars: Option<PathBuf>,

    /// The QEMU program.
    #[arg(long, value_name = "PROGRAM", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Ctrl-C stops QEMU and ends the boot, even where SIGINT was inherited as ignored.
    isoforge_exec::cancel::install()?;
    let firmwares: &[Firmware] = match args.firmware {
        FirmwareArg::Bios => &[Firmware::Bios],
        FirmwareArg::Uefi => &[Firmware::Uefi],
        FirmwareArg::Both => &[Firmware::Bios, Firmware::Uefi],
    };
    let marker = match &args.marker {
        Some(m) => {
            Marker::new(m).with_context(|| format!("--marker {m:?} is not a regular expression"))?
        }
        None => Marker::default(),
    };
    let log_dir = args.log_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    // Before anything is started or written: a file that cannot boot is one clear error.
    isoforge_boot::check_bootable(&args.iso)?;
    let mut all_passed = true;
    for &firmware in firmwares {
        let mut opts = Options::new(
            &args.iso,
            firmware,
            log_dir.join(format!("boot-{}.log", firmware.name())),
        );
        opts.accel = match args.accel {
            AccelArg::Auto => Accel::Auto,
            AccelArg::Kvm => Accel::Kvm,
            AccelArg::Tcg => Accel::Tcg,
        };
        opts.timeout = Duration::from_secs(args.timeout);
        opts.kvm_probe = Duration::from_secs(args.kvm_probe);
        opts.memory_mib = args.memory;
        opts.marker = marker.clone();
        opts.expect = args.expect.clone();
        opts.qemu = args.qemu.clone();
        opts.cancelled = isoforge_exec::cancel::is_cancelled;
        if let (Some(code), Some(vars)) = (&args.ovmf_code, &args.ovmf_vars) {
            opts.ovmf = Some(Ovmf {
                code: code.clone(),
                vars: vars.clone(),
            });
        }
        let report = boot_with_progress(&opts)?;
        print_report(&report);
        if isoforge_exec::cancel::is_cancelled() {
            anyhow::bail!(
                "cancelled; QEMU stopped, console log in {}",
                opts.log.display()
            );
        }
        all_passed &= report.passed();
    }
    Ok(if all_passed {
        exit::OK
    } else {
        exit::DIFFERENT
    })
}

/// Runs one boot with a spinner on a terminal, or timestamped lines otherwise.
fn boot_with_progress(opts: &Options) -> anyhow::Result<Report> {
    let name = opts.firmware.name();
    let start = Instant::now();
    let report = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} boot {prefix} [{elapsed:>4}] {msg}")
                .expect("the template is valid"),
        );
        bar.set_prefix(name);
        bar.set_message("starting QEMU");
        bar.enable_steady_tick(Duration::from_millis(120));
        let r = isoforge_boot::boot(opts, &mut |e| match e {
            Event::Started { engine } => {
                bar.reset_elapsed();
                bar.set_message(format!("QEMU started ({})", engine.name()));
            }
            Event::Stage { stage, .. } => bar.set_message(stage.describe()),
            Event::KvmFallback { reason, .. } => {
                bar.println(format!("boot {name}: {reason}; booting again under TCG"));
            }
        });
        bar.finish_and_clear();
        r
    } else {
        isoforge_boot::boot(opts, &mut |e| {
            let t = start.elapsed().as_secs();
            match e {
                Event::Started { engine } => {
                    eprintln!("[{t:>4} s] boot {name}: QEMU started ({})", engine.name())
                }
                Event::Stage { stage, after } => eprintln!(
                    "[{t:>4} s] boot {name}: {} after {} s",
                    stage.describe(),
                    after.as_secs()
                ),
                Event::KvmFallback { reason, .. } => {
                    eprintln!("[{t:>4} s] boot {name}: {reason}; booting again under TCG")
                }
            }
        })
    };
    Ok(report?)
}

fn print_report(r: &Report) {
    let name = r.firmware.name();
    let secs = r.elapsed.as_secs();
    let engine = r.engine.name();
    match &r.result {
        Ok(line) => println!("boot {name}: PASS after {secs} s ({engine}): {line}"),
        Err(failure) => println!("boot {name}: FAIL after {secs} s ({engine}): {failure}"),
    }
    if let Some((reason, log)) = &r.kvm_fallback {
        println!(
            "  KVM was not used: {reason} (its console log: {})",
            log.display()
        );
    }
    println!("  console log: {}", r.log.display());
    if !r.passed() {
        if r.tail.is_empty() {
            println!("  the console stayed silent");
        } else {
            println!("  last console lines:");
        }
        for line in &r.tail {
            // GRUB's menu redraws arrive as one very long "line".
            match line.char_indices().nth(160) {
                Some((cut, _)) => println!("    | {}...", &line[..cut]),
                None => println!("    | {line}"),
            }
        }
        println!("  QEMU command: {}", r.command);
    }
}
