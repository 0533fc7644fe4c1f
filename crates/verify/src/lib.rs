//! `isoforge verify`: two builds of the same commit, from scratch, in two directories
//! (`build-a/`, `build-b/`), the second under a deliberately different environment; then a
//! comparison of every artefact and `verification.log`.
//!
//! Each build runs from its own `git clone` of the commit, so nothing from the caller's work
//! tree (or a previous build) is reused. What build B varies is a set of named variations
//! ([`variations`], reprotest's names: the clock, one CPU, directory order, kernel
//! ASLR, `PATH`, build path, host and domain name, time zone, locale, umask,
//! `HOME`); `--vary` chooses them, one that cannot be applied here is listed as skipped (an
//! error with `--strict`). With `--bisect`, a difference is traced to the variations it
//! follows ([`bisect`]) by more builds with subsets of them. Each build's result is moved to
//! `results/<label>/` as soon as it is made.

pub mod bisect;
pub mod checkout;
pub mod compare;
pub mod explain;
pub mod rebuild;
pub mod tools;
pub mod variations;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isoforge_exec::Progress;
use isoforge_inputs::Source;
use variations::{Name, Place, Set};

pub use compare::Compared;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inputs(#[from] isoforge_inputs::Error),
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    /// `<dir>/<build-id>/build-{a,b}` and `verification.log` go here.
    pub verify_root: PathBuf,
    /// Where the verified result is placed as `<build-id>/` (if not there already).
    pub output_root: PathBuf,
    pub force: bool,
    pub allow_dirty: bool,
    pub verbose: bool,
    /// `--flavor` of both builds (`None`: the profile's `DEFAULT_FLAVOR`).
    pub flavor: Option<String>,
    /// `--runtime` for both builds (`host`, `chroot`, `docker`, `podman`).
    pub runtime: String,
    /// What build B varies (`--vary`).
    pub vary: Set,
    /// A variation that cannot be applied here is an error, not a skip.
    pub strict: bool,
    /// On a difference, find the variations it follows.
    pub bisect: bool,
}

/// One of the two builds.
#[derive(Debug, Clone)]
pub struct Side {
    /// `a`, `b`, or `bisect-N`.
    pub name: String,
    pub dir: PathBuf,
    /// `(what, value)` of the environment this side ran in, for the log.
    pub environment: Vec<(String, String)>,
    pub took: Duration,
    /// Its output directory (`results/<a|b>/`).
    pub result: PathBuf,
}

#[derive(Debug)]
pub struct Report {
    pub build_id: String,
    pub runtime: String,
    pub commit: String,
    pub dir: PathBuf,
    pub sides: [Side; 2],
    pub artefacts: Vec<Compared>,
    /// The verified result's place, when build A's output was moved there.
    pub promoted: Option<PathBuf>,
    /// `isoforge diff` of each artefact that differs, reports beside the log.
    pub explained: Vec<explain::Explained>,
    /// One line when the build tools changed during the verify (see [`tools::line`]).
    pub tools_changed: Option<String>,
    /// The variations build B ran with.
    pub varied: Set,
    /// Variations asked for that this machine cannot apply, with the reason.
    pub skipped: Vec<(Name, String)>,
    /// `--bisect`: what the difference follows, and the extra builds, one line each.
    pub bisect: Option<bisect::Finding>,
    pub bisect_builds: Vec<String>,
    pub log: PathBuf,
}

impl Report {
    pub fn identical(&self) -> bool {
        !self.artefacts.is_empty() && self.artefacts.iter().all(Compared::identical)
    }

    /// One line for the top of the result: each artefact, identical or how it differs
    /// ("ISO identical; BUILD_INFO differs only in Build-Tools (apt 2.6.1 vs 2.6.2)").
    pub fn headline(&self) -> String {
        self.artefacts
            .iter()
            .map(|c| {
                let how = if c.identical() {
                    "identical".to_string()
                } else if c.a.is_none() || c.b.is_none() {
                    format!(
                        "made by build {} only",
                        if c.a.is_some() { "A" } else { "B" }
                    )
                } else {
                    self.explained
                        .iter()
                        .find(|e| e.name == c.name)
                        .map_or_else(|| "differs".to_string(), |e| e.brief.clone())
                };
                format!("{} {how}", c.name)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Output directory of one side's build.
    pub fn result_dir(&self, side: usize) -> PathBuf {
        self.sides[side].result.clone()
    }
}

/// Runs both builds and compares them. Exit status is the caller's: identical or not.
pub fn verify(opts: &Options, progress: &Progress) -> Result<Report, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Failed(
            "isoforge verify needs root (its builds use mmdebstrap's root mode and namespaces); run it with sudo".into(),
        ));
    }
    let source = Source::discover(&opts.config_dir)?;
    if source.is_dirty() && !opts.allow_dirty {
        return Err(Error::Failed(format!(
            "{}: the work tree has uncommitted changes (e.g. {}); commit them, or pass --allow-dirty",
            source.root.display(),
            source.dirty[0]
        )));
    }
    let config_rel = opts
        .config_dir
        .canonicalize()
        .map_err(io_err(format!(
            "cannot resolve {}",
            opts.config_dir.display()
        )))?
        .strip_prefix(&source.root)
        .map(Path::to_path_buf)
        .map_err(|_| {
            Error::Failed(format!(
                "{} is not inside the repository {}",
                opts.config_dir.display(),
                source.root.display()
            ))
        })?;
    let flavor = isoforge_inputs::flavors::select(&opts.config_dir, opts.flavor.as_deref())?;
    let build_id = isoforge_inputs::build_id(&source, flavor.as_ref());
    let dir = absolute(&opts.verify_root)?.join(&build_id);
    isoforge_fs::remove_tree(&dir)
        .map_err(|e| Error::Failed(format!("cannot clear {}: {e}", dir.display())))?;
    std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    progress.note(format!(
        "verifying commit {} in {} (two builds from scratch)",
        source.commit,
        dir.display()
    ));

    let skipped: Vec<(Name, String)> = opts
        .vary
        .iter()
        .filter_map(|&n| variations::unavailable(n, &opts.runtime).map(|why| (n, why)))
        .collect();
    if opts.strict && !skipped.is_empty() {
        return Err(Error::Failed(format!(
            "--strict: {} cannot be applied here, so build B would not vary it; install what is missing, or leave it out with --vary -NAME",
            skipped
                .iter()
                .map(|(n, why)| format!("{n} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let varied: Set = opts
        .vary
        .iter()
        .filter(|n| !skipped.iter().any(|(s, _)| s == *n))
        .copied()
        .collect();
    for (n, why) in &skipped {
        progress.note(format!("variation {n} SKIPPED: {why}"));
    }

    let exe = std::env::current_exe().map_err(io_err("cannot find the isoforge binary"))?;
    let tools_before = tools::host(&opts.runtime);
    let builder = Builder {
        exe: &exe,
        source: &source,
        config_rel: &config_rel,
        dir: &dir,
        build_id: &build_id,
        flavor: flavor.as_ref().map(|f| f.name.as_str()),
        opts,
        progress,
    };
    let a = builder.build("a", &Set::new())?;
    let b = builder.build("b", &varied)?;
    let sides = [a, b];
    let tools_after = tools::host(&opts.runtime);
    let (a, b) = (sides[0].result.clone(), sides[1].result.clone());
    let artefacts =
        compare::artefacts(&a, &b).map_err(io_err("cannot compare the two builds' artefacts"))?;
    let (ra, rb) = (tools::recorded(&a), tools::recorded(&b));
    let tools_changed = tools::line(
        tools_before.as_ref().zip(tools_after.as_ref()),
        ra.as_ref().zip(rb.as_ref()),
    );
    let mut report = Report {
        build_id: build_id.clone(),
        runtime: opts.runtime.clone(),
        commit: source.commit.clone(),
        log: dir.join("verification.log"),
        dir: dir.clone(),
        sides,
        artefacts,
        promoted: None,
        explained: Vec::new(),
        tools_changed,
        varied,
        skipped,
        bisect: None,
        bisect_builds: Vec::new(),
    };
    if report.identical() {
        report.promoted = promote(&report, opts)?;
    } else {
        if opts.bisect {
            let (finding, builds) = run_bisect(&builder, &report)?;
            progress.note(format!("bisect: {}", finding.line()));
            report.bisect = Some(finding);
            report.bisect_builds = builds;
        }
        report.explained = explain_differences(&report, &opts.config_dir, progress)?;
    }
    std::fs::write(&report.log, render_log(&report))
        .map_err(io_err(format!("cannot write {}", report.log.display())))?;
    Ok(report)
}

/// Makes one build with a set of variations, at A's or B's paths (`build_path`), and moves
/// its output to `results/<label>/`.
struct Builder<'a> {
    exe: &'a Path,
    source: &'a Source,
    config_rel: &'a Path,
    dir: &'a Path,
    build_id: &'a str,
    flavor: Option<&'a str>,
    opts: &'a Options,
    progress: &'a Progress,
}

impl Builder<'_> {
    fn build(&self, label: &str, set: &Set) -> Result<Side, Error> {
        let place = Place {
            dir: self.dir.join(if set.contains(&Name::BuildPath) {
                "build-b"
            } else {
                "build-a"
            }),
        };
        let src = place.src();
        if !src.exists() {
            checkout::commit(self.source.root.as_os_str(), &self.source.commit, &src)?;
            if self.opts.allow_dirty {
                checkout::copy_dirty(self.source, &src)?;
            }
            if set.contains(&Name::BuildPath) {
                // Under a 0700 directory, as under a `mktemp -d`: users other than root
                // (apt's _apt) cannot reach the build.
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&place.dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io_err(format!("cannot restrict {}", place.dir.display())))?;
            }
        }
        let output = place.output();
        std::fs::create_dir_all(&output)
            .map_err(io_err(format!("cannot create {}", output.display())))?;
        let mut cmd = build_command(
            self.exe,
            &src,
            self.config_rel,
            &output,
            &self.opts.runtime,
            self.flavor,
        );
        if self.opts.allow_dirty {
            cmd.arg("--allow-dirty");
        }
        if self.opts.verbose {
            cmd.arg("--verbose");
        }
        let mut environment = vec![("build path".to_string(), src.display().to_string())];
        if set.is_empty() {
            environment.extend(caller_environment());
        }
        let applied = variations::apply(set, &place, &mut cmd)?;
        environment.extend(applied.environment.iter().cloned());
        self.progress.note(format!(
            "== build {} in {}{} ==",
            label.to_uppercase(),
            place.dir.display(),
            if set.is_empty() {
                String::new()
            } else {
                format!(
                    ", varying {}",
                    set.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",")
                )
            }
        ));
        let started = Instant::now();
        let status = cmd.status();
        let unmounted = applied.finish();
        let status = status.map_err(io_err(format!("cannot start {}", self.exe.display())))?;
        if isoforge_exec::cancel::is_cancelled() {
            return Err(Error::Failed("cancelled".into()));
        }
        if !status.success() {
            return Err(Error::Failed(format!(
                "build {} failed ({status}); its logs are in {}",
                label.to_uppercase(),
                output.display()
            )));
        }
        unmounted?;
        let results = self.dir.join("results");
        std::fs::create_dir_all(&results)
            .map_err(io_err(format!("cannot create {}", results.display())))?;
        let result = results.join(label);
        std::fs::rename(output.join(self.build_id), &result).map_err(io_err(format!(
            "cannot move build {}'s output to {}",
            label.to_uppercase(),
            result.display()
        )))?;
        Ok(Side {
            name: label.to_string(),
            dir: place.dir,
            environment,
            took: started.elapsed(),
            result,
        })
    }
}

fn all_identical(c: &[Compared]) -> bool {
    !c.is_empty() && c.iter().all(Compared::identical)
}

/// `--bisect`: builds with subsets of B's variations until the difference is explained.
fn run_bisect(
    builder: &Builder<'_>,
    report: &Report,
) -> Result<(bisect::Finding, Vec<String>), Error> {
    let mut lines = Vec::new();
    let mut n = 0;
    let finding = bisect::search(&report.varied, |set| {
        n += 1;
        let label = format!("bisect-{n}");
        let side = builder.build(&label, set)?;
        let cmp = |other: &Path| {
            compare::artefacts(other, &side.result)
                .map_err(io_err(format!("cannot compare {}", side.result.display())))
        };
        let outcome = if all_identical(&cmp(&report.sides[0].result)?) {
            bisect::Outcome::LikeA
        } else if all_identical(&cmp(&report.sides[1].result)?) {
            bisect::Outcome::LikeB
        } else {
            bisect::Outcome::Other
        };
        let line = format!(
            "{label} ({:.0} s), varying {{{}}}: {}",
            side.took.as_secs_f64(),
            set.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(","),
            match outcome {
                bisect::Outcome::LikeA => "like build A",
                bisect::Outcome::LikeB => "like build B",
                bisect::Outcome::Other => "like neither",
            }
        );
        builder.progress.note(format!("bisect: {line}"));
        lines.push(line);
        Ok::<_, Error>(outcome)
    })?;
    Ok((finding, lines))
}

/// Runs `isoforge diff` on every artefact both builds made but not alike.
fn explain_differences(
    report: &Report,
    config_dir: &Path,
    progress: &Progress,
) -> Result<Vec<explain::Explained>, Error> {
    // The diff hints know the profile's own offenders too.
    let offenders = std::sync::Arc::new(
        isoforge_offenders::Table::load(config_dir).map_err(|e| Error::Failed(e.to_string()))?,
    );
    let (a, b) = (report.result_dir(0), report.result_dir(1));
    let differing: Vec<&str> = report
        .artefacts
        .iter()
        .filter(|c| !c.identical())
        .map(|c| c.name.as_str())
        .collect();
    let epoch = std::fs::read_to_string(a.join("BUILD_INFO"))
        .ok()
        .and_then(|t| isoforge_buildinfo::BuildInfo::parse(&t).ok())
        .map(|i| i.source_date_epoch);
    // Build A's record names the overlay or hook that wrote a differing file.
    let writers = explain::writers_of(&a, progress);
    report
        .artefacts
        .iter()
        .filter(|c| !c.identical() && c.a.is_some() && c.b.is_some())
        .map(|c| {
            explain::artefact(
                &c.name,
                &a.join(&c.name),
                &b.join(&c.name),
                epoch,
                &offenders,
                &writers,
                &differing,
                report.bisect.as_ref().map(bisect::Finding::hint),
                &report.dir,
                progress,
            )
        })
        .collect()
}

/// Moves build A's output to `<output>/<build-id>/`, unless something is there (then it is
/// left alone, without `--force`).
fn promote(report: &Report, opts: &Options) -> Result<Option<PathBuf>, Error> {
    let dest = opts.output_root.join(&report.build_id);
    let failed = |e: isoforge_fs::Error| Error::Failed(e.to_string());
    let to = isoforge_fs::Dir::create(&opts.output_root).map_err(failed)?;
    let (from, name) = isoforge_fs::Dir::open_parent(&report.result_dir(0)).map_err(failed)?;
    // An old result (or a planted symlink) is exchanged out with --force, else left alone.
    match isoforge_fs::replace_dir(&from, &name, &to, report.build_id.as_ref(), opts.force) {
        Ok(()) => Ok(Some(dest)),
        Err(e) if e.kind() == Some(std::io::ErrorKind::AlreadyExists) => Ok(None),
        // Another file system: leave it where it is; the log says where.
        Err(e) if e.kind() == Some(std::io::ErrorKind::CrossesDevices) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// `isoforge build` of the checkout `src`, writing under `output`.
pub(crate) fn build_command(
    exe: &Path,
    src: &Path,
    config_rel: &Path,
    output: &Path,
    runtime: &str,
    flavor: Option<&str>,
) -> Command {
    // isoforge running itself for the caller: the caller's environment and terminal.
    let mut cmd = isoforge_exec::process::foreground(exe);
    cmd.arg("build")
        .arg("--config")
        .arg(src.join(config_rel))
        .arg("--output")
        .arg(output)
        .arg("--runtime")
        .arg(runtime)
        .current_dir(src);
    if let Some(f) = flavor {
        cmd.arg("--flavor").arg(f);
    }
    // Resolved here, once: build B's varied HOME must not send it to another (cold) cache.
    if let Ok(cache) = isoforge_cache::default_dir() {
        cmd.arg("--cache-dir").arg(cache);
    }
    cmd
}

fn caller_environment() -> Vec<(String, String)> {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = vec![("hostname".to_string(), host)];
    for k in ["TZ", "LANG", "LC_ALL", "HOME", "USER"] {
        out.push((
            k.into(),
            std::env::var(k).unwrap_or_else(|_| "(unset)".into()),
        ));
    }
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(mask);
    out.push(("umask".into(), format!("{:04o}", mask.bits())));
    out
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(p).map_err(io_err(format!("cannot resolve {}", p.display())))
}

fn hex_or_missing(d: &Option<isoforge_checksums::Sha256Digest>) -> String {
    d.map(|d| d.hex()).unwrap_or_else(|| "(missing)".into())
}

/// `verification.log`: what was varied, the hashes, the verdict, the tool versions.
pub fn render_log(r: &Report) -> String {
    let mut s = String::new();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let _ = writeln!(s, "isoforge verify, {now}");
    if let Some(t) = &r.tools_changed {
        let _ = writeln!(s, "NOTE: {t}");
    }
    let _ = writeln!(s, "in brief: {}", r.headline());
    let _ = writeln!(s, "commit: {}", r.commit);
    let _ = writeln!(s, "build id: {}", r.build_id);
    let _ = writeln!(s, "runtime: {}\n", r.runtime);
    for side in &r.sides {
        let _ = writeln!(
            s,
            "build {} ({}, {:.0} s):",
            side.name.to_uppercase(),
            side.dir.display(),
            side.took.as_secs_f64()
        );
        for (k, v) in &side.environment {
            let _ = writeln!(s, "  {k}: {v}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "variations of build B:");
    for n in Name::ALL {
        let state = if r.varied.contains(&n) {
            format!("varied: {}", n.value())
        } else if let Some((_, why)) = r.skipped.iter().find(|(s, _)| *s == n) {
            format!("SKIPPED: {why}")
        } else {
            if n == Name::FileOrdering {
                format!("not varied ({})", variations::FILEORDERING_OFF)
            } else {
                "not varied (left out by --vary)".into()
            }
        };
        let _ = writeln!(s, "  {n}: {state}");
    }
    for (n, why) in variations::NOT_APPLICABLE {
        let _ = writeln!(s, "  {n}: not applicable ({why})");
    }
    s.push('\n');
    let _ = writeln!(s, "artefacts:");
    for c in &r.artefacts {
        let verdict = if c.identical() {
            "identical".to_string()
        } else {
            match c.first_difference {
                Some(o) => format!("DIFFERENT, first differing byte at offset {o} (0x{o:x})"),
                None => "DIFFERENT".into(),
            }
        };
        let _ = writeln!(s, "  {}: {verdict}", c.name);
        let _ = writeln!(s, "    A {}", hex_or_missing(&c.a));
        let _ = writeln!(s, "    B {}", hex_or_missing(&c.b));
    }
    let _ = writeln!(
        s,
        "\nresult: {}",
        if r.identical() {
            "IDENTICAL"
        } else {
            "DIFFERENT"
        }
    );
    if let Some(p) = &r.promoted {
        let _ = writeln!(s, "verified result: {}", p.display());
    }
    if let Some(f) = &r.bisect {
        let _ = writeln!(s, "\nbisect: {}", f.line());
        for l in &r.bisect_builds {
            let _ = writeln!(s, "  {l}");
        }
    }
    for e in &r.explained {
        let _ = writeln!(s, "\nisoforge diff of {}: {}", e.name, e.summary);
        let _ = writeln!(
            s,
            "  reports: {}, {}, {}",
            e.text.display(),
            e.html.display(),
            e.json.display()
        );
    }
    let info = std::fs::read_to_string(
        r.promoted
            .clone()
            .unwrap_or_else(|| r.result_dir(0))
            .join("BUILD_INFO"),
    )
    .ok()
    .and_then(|t| isoforge_buildinfo::BuildInfo::parse(&t).ok());
    if let Some(info) = info {
        let _ = writeln!(s, "\ntool versions (build A):");
        for (n, v) in &info.build_tools {
            let _ = writeln!(s, "  {n} {v}");
        }
        let _ = writeln!(s, "  {}", info.build_tool);
    }
    s
}
