//! `isoforge diff`: explains every difference between two images, archives, files or
//! directories, down to the structure and field that holds each differing byte.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use isoforge_diff::{Options, OutputFormat, Report};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Html,
    Json,
    Markdown,
}

#[derive(clap::Args)]
pub struct Args {
    /// First input (A): ISO, squashfs, FAT image, cpio/initramfs, tar, ar/deb, gzip/xz/zstd
    /// stream, plain file or directory.
    pub a: PathBuf,
    /// Second input (B), of the same kind.
    pub b: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the HTML report to FILE (one comparison, two reports).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Text: after the root differences and the folded consequences, also print every
    /// differing stream, member, field and byte range (JSON and HTML always carry them).
    #[arg(long)]
    pub full: bool,
    /// Compare containers nested deeper than N as raw bytes (the inputs are depth 0).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_depth: usize,
    /// Total bytes that all decompressed streams of the comparison may take together
    /// (spooled to TMPDIR), e.g. 8G, 512M [default: 8G, or half the free space of TMPDIR if
    /// less]. Going over it is an error (exit 2), never a full disk.
    #[arg(long, value_name = "SIZE", value_parser = super::net::parse_size)]
    pub max_spool: Option<u64>,
    /// Also name the offenders of this profile's `offenders.conf` in the hints (the built-in
    /// table is always used).
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// A build's record of which overlay or hook wrote which path (`<output>/logs/writers`):
    /// differing files they wrote are named with their writer.
    #[arg(long, value_name = "FILE")]
    pub writers: Option<PathBuf>,
    /// SOURCE_DATE_EPOCH the builds used, for hints [default: $SOURCE_DATE_EPOCH].
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
    /// Also run diffoscope on one differing member: the LOCATION given (as printed in the
    /// report, `root › /path › /inner/path`), or the first differing leaf.
    #[arg(long, value_name = "LOCATION", num_args = 0..=1, default_missing_value = "")]
    pub diffoscope: Option<String>,
}

/// The comparison holds a few large long-lived vectors (entries, layouts) while rayon's threads
/// allocate and free many decompression buffers. glibc's defaults give each thread an arena
/// and move big buffers into the heap once one is freed, where their holes stay resident; one
/// arena and big buffers always mapped (returned on free) keep the peak RSS near the heap's
/// (desktop pair of bench/diff-vs-diffoscope.sh: 148 -> 145 MB, see bench/RESULTS.md).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's malloc parameters; it takes the arena lock itself.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    tune_allocator();
    let sde = match args.source_date_epoch {
        Some(s) => Some(s),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => Some(v.trim().parse::<i64>().with_context(|| {
                format!("SOURCE_DATE_EPOCH={v:?} is not an integer number of seconds")
            })?),
            Err(_) => None,
        },
    };
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let offenders = match &args.config {
        Some(dir) => isoforge_offenders::Table::load(dir)?,
        None => isoforge_offenders::Table::builtin(),
    };
    let writers = match &args.writers {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            isoforge_diff::Writers::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
        }
        None => Default::default(),
    };
    let mut opts = Options {
        max_depth: args.max_depth,
        source_date_epoch: sde,
        offenders: Arc::new(offenders),
        writers: Arc::new(writers),
        ..Options::default()
    };
    let max_spool = args.max_spool.unwrap_or_else(default_spool_budget);
    opts.limits.spool_budget = isoforge_diff::SpoolBudget::new(max_spool);
    if let Some(s) = &spinner {
        let s = s.clone();
        opts.progress = Some(Arc::new(move |what: &str| {
            s.set_message(format!("comparing {what}"))
        }));
    }
    let report = match isoforge_diff::diff(&args.a, &args.b, &opts) {
        Err(e @ isoforge_diff::Error::SpoolBudget { .. }) => {
            anyhow::bail!("{e}; pass --max-spool SIZE to allow more (it is spooled to TMPDIR)")
        }
        r => r?,
    };
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let format = match args.format {
        Format::Text => OutputFormat::Text,
        Format::Html => OutputFormat::Html,
        Format::Json => OutputFormat::Json,
        Format::Markdown => OutputFormat::Markdown,
    };
    match &args.output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            );
            isoforge_diff::render::render_with(&report, format, args.full, &mut f)?;
            f.flush()?;
            eprintln!("{}", report.summary());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match isoforge_diff::render::render_with(&report, format, args.full, &mut out)
                .and_then(|()| out.flush())
            {
                // A reader that stops early (`| head`) is not an error of the comparison.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r?,
            }
        }
    }
    if let Some(p) = &args.html {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        );
        report.render(OutputFormat::Html, &mut f)?;
        f.flush()?;
    }
    if let Some(loc) = &args.diffoscope {
        if !report.is_identical() {
            diffoscope(&args, &opts, &report, loc)?;
        }
    }
    Ok(if report.is_identical() { 0 } else { 1 })
}

/// Copies both sides of one member to a temporary directory and runs diffoscope on them.
fn diffoscope(args: &Args, opts: &Options, report: &Report, loc: &str) -> anyhow::Result<()> {
    let location = if loc.is_empty() {
        let leaf = report
            .nodes()
            .into_iter()
            .filter(|n| n.content.is_some())
            .find(|n| n.location.contains(isoforge_diff::report::LOCATION_SEP));
        match leaf {
            Some(n) => n.location.clone(),
            None => bail!("--diffoscope: no differing member to hand over (give a LOCATION)"),
        }
    } else {
        loc.to_string()
    };
    let tool = which("diffoscope").context(
        "--diffoscope: diffoscope is not installed (apt-get install diffoscope-minimal)",
    )?;
    let dir = tempfile::tempdir()?;
    let (a, b) = isoforge_diff::extract_member(&args.a, &args.b, &location, opts, dir.path())?;
    let mut cmd = isoforge_exec::tool(tool);
    cmd.arg("--text")
        .arg("-")
        .arg("--no-progress")
        .arg(&a)
        .arg(&b);
    let out =
        isoforge_exec::process::output(cmd, DIFFOSCOPE_LIMIT).context("running diffoscope")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let header = format!("\n== diffoscope on {location} ==\n");
    match &args.output {
        Some(p) => {
            let side = p.with_extension("diffoscope.txt");
            std::fs::write(&side, format!("{header}{text}"))?;
            eprintln!("diffoscope output: {}", side.display());
        }
        None => print!("{header}{text}"),
    }
    if !out.status.success() && out.status.code() != Some(1) {
        bail!(
            "diffoscope failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `name` in the tools' fixed search path (the caller's `PATH` is not trusted as root).
/// diffoscope's report is kept in memory: more than this is not a report anyone reads.
const DIFFOSCOPE_LIMIT: usize = 256 << 20;

fn which(name: &str) -> Option<PathBuf> {
    isoforge_exec::TOOL_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// 8 GiB, or half the free space where the spool files go if that is less.
fn default_spool_budget() -> u64 {
    let free = nix::sys::statvfs::statvfs(&std::env::temp_dir())
        .map(|v| v.blocks_available().saturating_mul(v.fragment_size()))
        .unwrap_or(u64::MAX);
    isoforge_diff::SpoolBudget::DEFAULT.min(free / 2)
}
