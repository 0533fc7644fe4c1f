//! `isoforge-diff`: explains every differing byte between two images.
//!
//! # Model
//!
//! Two inputs (files or directories) are compared as a pair of byte **streams**. A stream pair
//! is first compared byte for byte, in bounded chunks, giving the differing **runs**
//! ([`runs`]). Only if they differ is the format detected and, for a container, both sides
//! parsed by `isoforge-formats`. Each side then has:
//!
//! - **members**, matched by path between A and B: metadata is compared field by field, and
//!   content is compared raw before anything is decoded (same extents and no differing run in
//!   them means equal without reading; squashfs files compare their stored block list,
//!   compressed blocks and fragment bytes, and are decompressed only when those differ). A
//!   differing member's content is a new stream pair, compared recursively: ISO 9660 →
//!   squashfs → initramfs (concatenated cpio, compressed or not) → ..., FAT, tar, ar/deb,
//!   gzip/xz/zstd, down to text (unified diff) or binary (hex windows).
//! - a **layout**: a tree of named byte spans (structures and fields) in the stream's own
//!   coordinates. Members stored as they are in the stream (ISO files, FAT clusters, archive
//!   members) contribute their own layouts through their extents.
//! - **derived streams**: decompressed squashfs metadata tables and decompressed payloads,
//!   each with its own coordinates, runs and layout.
//!
//! **Byte attribution** ([`attribute`]) maps every differing run of a stream with its own
//! coordinates (the outer inputs and every derived stream) to the innermost span on each side,
//! with both decoded values, e.g. "content of /boot/grub/efi.img › FAT boot sector, volume
//! serial: 0x0fe31a17 vs 0x18d4f947". The report counts differing and attributed bytes and
//! lists unattributed ranges with hex windows.
//!
//! **Hints** ([`hints`]) come from a built-in table of known causes (times later than
//! `SOURCE_DATE_EPOCH` or near the build time, random identifiers, entry order, umask, owners,
//! build paths and host names in content, known offender files), each naming its remedy.
//! Given the build's record of who wrote what ([`Options::writers`]), a differing member of
//! the image or the ISO tree also names the overlay or hook that wrote it.
//!
//! Memory is bounded by the format limits and chunk sizes, not by image size: streams are
//! read in pieces, decompressed payloads spill to anonymous temporary files, and nothing is
//! ever extracted. Both sides are parsed in parallel and members are compared in parallel.
//!
//! # API
//!
//! ```no_run
//! let opts = isoforge_diff::Options { source_date_epoch: Some(1_764_000_000), ..Default::default() };
//! let report = isoforge_diff::diff("a.iso".as_ref(), "b.iso".as_ref(), &opts)?;
//! if !report.is_identical() {
//!     eprintln!("{}", report.summary());
//!     report.render(isoforge_diff::OutputFormat::Html, &mut std::fs::File::create("diff.html")?)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attribute;
mod causes;
mod containers;
mod content;
mod engine;
mod extract;
pub mod hints;
pub mod render;
pub mod report;
pub mod runs;
mod squash;
pub mod textfmt;

use std::path::Path;
use std::sync::Arc;

use isoforge_formats::io::FileSource;

pub use extract::extract_member;
pub use isoforge_formats::Limits;
pub use isoforge_formats::io::{Source, SpoolBudget};
pub use isoforge_offenders::writers::{Tree, Writers};
pub use render::OutputFormat;
pub use report::{Change, Node, Report};

/// A callback that receives the location being compared.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What to compare and how much to report.
#[derive(Clone)]
pub struct Options {
    /// Containers nested deeper than this are compared as raw bytes (the inputs are depth 0).
    pub max_depth: usize,
    /// Used by hints: a time later than this is reported as such.
    pub source_date_epoch: Option<i64>,
    /// Parser limits (entries, metadata bytes, decompressed bytes...).
    pub limits: Limits,
    /// Attribution groups listed per stream (all bytes are still counted).
    pub max_attributions: usize,
    /// Attribution groups listed per kind of field, so repetitive ones do not hide rare ones.
    pub max_per_field: usize,
    /// Unattributed ranges listed per stream.
    pub max_unattributed: usize,
    /// Lines of unified diff per text member.
    pub max_text_lines: usize,
    /// Called with the location being compared, for progress display.
    pub progress: Option<Progress>,
    /// Known offenders matched against member paths: the built-in table, plus a profile's
    /// `config/offenders.conf` when the diff is run with a configuration.
    pub offenders: Arc<isoforge_offenders::Table>,
    /// Which overlay or hook wrote which path, as build A recorded it (`logs/writers`): the
    /// report names the writer of a differing member of the image (squashfs, or a
    /// directory) or of the ISO tree.
    pub writers: Arc<isoforge_offenders::writers::Writers>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_depth: 16,
            source_date_epoch: None,
            limits: Limits::default(),
            max_attributions: 2000,
            max_per_field: 25,
            max_unattributed: 200,
            max_text_lines: 400,
            progress: None,
            offenders: Arc::new(isoforge_offenders::Table::builtin()),
            writers: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("max_depth", &self.max_depth)
            .field("source_date_epoch", &self.source_date_epoch)
            .finish_non_exhaustive()
    }
}

/// Why a comparison could not be made at all (problems inside images become notes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {op} {path}: {source}")]
    Open {
        /// What was being done: `read`, `write`.
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{a} is a directory but {b} is not; compare two files or two directories")]
    Mixed { a: String, b: String },
    #[error("cannot find member: {0}")]
    Member(String),
    #[error(
        "the compressed streams inside need more than the total decompression budget of {} MiB",
        total >> 20
    )]
    SpoolBudget { total: u64 },
}

/// Compares `a` and `b` (two files or two directories). Fails, rather than reporting a
/// partial comparison, when the streams inside needed more than the limits' spool budget.
pub fn diff(a: &Path, b: &Path, opts: &Options) -> Result<Report, Error> {
    let report = compare_paths(a, b, opts)?;
    let budget = &opts.limits.spool_budget;
    if budget.exceeded() {
        return Err(Error::SpoolBudget {
            total: budget.total(),
        });
    }
    Ok(report)
}

fn compare_paths(a: &Path, b: &Path, opts: &Options) -> Result<Report, Error> {
    fn open_err(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |source| Error::Open {
            op: "read",
            path: p.display().to_string(),
            source,
        }
    }
    let ma = std::fs::metadata(a).map_err(open_err(a))?;
    let mb = std::fs::metadata(b).map_err(open_err(b))?;
    let build_times: Vec<i64> = [&ma, &mb]
        .iter()
        .filter_map(|m| m.modified().ok())
        .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .collect();
    let engine = engine(opts, build_times);
    let name = root_name(a, b);
    let (root, differing, attributed) = match (ma.is_dir(), mb.is_dir()) {
        (true, true) => {
            let pa = containers::directory(a, &opts.limits).map_err(open_err(a))?;
            let pb = containers::directory(b, &opts.limits).map_err(open_err(b))?;
            (engine.directories(&name, pa, pb), 0, 0)
        }
        (false, false) => {
            let sa: Source = Arc::new(FileSource::open(a).map_err(open_err(a))?);
            let sb: Source = Arc::new(FileSource::open(b).map_err(open_err(b))?);
            return Ok(compare_sources(
                &engine,
                &name,
                &a.display().to_string(),
                &b.display().to_string(),
                sa,
                sb,
            ));
        }
        _ => {
            return Err(Error::Mixed {
                a: a.display().to_string(),
                b: b.display().to_string(),
            });
        }
    };
    Ok(Report::build(
        &a.display().to_string(),
        &b.display().to_string(),
        root,
        differing,
        attributed,
        opts.source_date_epoch,
    ))
}

/// Compares two byte sources (already open, in memory or on disk) named `a` and `b`.
pub fn diff_sources(a: &str, b: &str, sa: Source, sb: Source, opts: &Options) -> Report {
    let name = if a == b {
        a.to_string()
    } else {
        format!("{a} ↔ {b}")
    };
    compare_sources(&engine(opts, Vec::new()), &name, a, b, sa, sb)
}

fn compare_sources(
    engine: &engine::Engine<'_>,
    name: &str,
    a: &str,
    b: &str,
    sa: Source,
    sb: Source,
) -> Report {
    let out = engine.stream(name, name, sa, sb, None, engine::Coords::Own, 0, None);
    let (d, at) = out
        .node
        .as_ref()
        .and_then(|n| n.bytes.as_ref())
        .map_or((0, 0), |r| (r.differing, r.attributed));
    Report::build(a, b, out.node, d, at, engine.opts.source_date_epoch)
}

fn engine(opts: &Options, build_times: Vec<i64>) -> engine::Engine<'_> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|h| h != "localhost");
    let hctx = hints::HintCtx {
        source_date_epoch: opts.source_date_epoch,
        build_times,
        hostname,
        user: std::env::var("USER").ok(),
    };
    engine::Engine { opts, hctx }
}

fn root_name(a: &Path, b: &Path) -> String {
    let n = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let (x, y) = (n(a), n(b));
    if x == y { x } else { format!("{x} ↔ {y}") }
}

impl Report {
    /// Writes the report in `format`.
    pub fn render(
        &self,
        format: OutputFormat,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        render::render(self, format, out)
    }

    /// Writes the report in `format` with the full detail in view (text: the whole tree after
    /// the causes; the other formats always carry it).
    pub fn render_full(
        &self,
        format: OutputFormat,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        render::render_with(self, format, true, out)
    }
}
