//! `isoforge build`: one commit and one flavor in, `output/<build-id>/` out (build-id: the
//! commit's first 12 hex digits, then `-<flavor>`).
//!
//! The pipeline, one crate per stage:
//!
//! | stage | crate | in | out |
//! |---|---|---|---|
//! | inputs | `isoforge-inputs` | `config/`, git | profile, pin, SOURCE_DATE_EPOCH, commit |
//! | packages | `isoforge-lock`, `isoforge-cache` | `config/packages-<flavor>.lock`, the cache | a local repository of exactly the locked .debs |
//! | rootfs | `isoforge-rootfs` | profile, local repository, `includes.chroot/`, `hooks/*.hook.chroot` | cleaned, branded directory |
//! | squashfs | `isoforge-squashfs` | rootfs | `live/filesystem.squashfs` |
//! | boot files | `isoforge-bootfiles` | menu, epoch | `boot/grub/{grub.cfg,bios.img,efi.img}` |
//! | ISO | `isoforge-iso` | staging tree, `includes.binary/`, `hooks/*.hook.binary` | the hybrid ISO |
//!
//! and then `SHA256SUMS` and `BUILD_INFO`. Which overlay or hook wrote which path goes to
//! `logs/writers` (`isoforge_offenders::writers`), for the diff's hints. Work happens in a hidden temporary directory
//! ([`output`]) that is renamed into place only when everything is written.

pub mod locking;
mod output;
pub mod preflight;
pub mod varied;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};

use isoforge_buildinfo::{Artefact, BuildInfo, Package};
use isoforge_checksums::{Entry, Sha256Digest, sha256_file};
use isoforge_exec::{Progress, Runner, ToolEnv};
use isoforge_inputs::{Inputs, LoadOptions};
use isoforge_offenders::writers::{Tree, Writers};
use locking::{LockConfig, Which};

pub use output::Staged;

/// The version written into BUILD_INFO and the ISO's application id.
pub const ISOFORGE: &str = concat!("isoforge ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inputs(#[from] isoforge_inputs::Error),
    #[error(transparent)]
    Tool(#[from] isoforge_exec::Error),
    #[error(transparent)]
    Rootfs(isoforge_rootfs::Error),
    #[error(transparent)]
    BootFiles(#[from] isoforge_bootfiles::Error),
    #[error(transparent)]
    Iso(#[from] isoforge_iso::Error),
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
    #[error(transparent)]
    Lock(#[from] isoforge_lock::Error),
    #[error(transparent)]
    Cache(#[from] isoforge_cache::Error),
    #[error(transparent)]
    Offenders(#[from] isoforge_offenders::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<isoforge_rootfs::Error> for Error {
    fn from(e: isoforge_rootfs::Error) -> Self {
        match e {
            isoforge_rootfs::Error::Tool(t) => Error::Tool(t),
            other => Error::Rootfs(other),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub output_root: PathBuf,
    pub force: bool,
    pub allow_dirty: bool,
    /// `--flavor` (`None`: the profile's `DEFAULT_FLAVOR`).
    pub flavor: Option<String>,
    /// Keep the rootfs and staging tree in `output/<build-id>.work/`.
    pub keep_work: bool,
    /// The package cache [default: `isoforge_cache::default_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Recorded in BUILD_INFO: `host`, or the builder runtime this build runs inside.
    pub runtime: String,
    /// The builder's digest when running inside it.
    pub builder_digest: Option<String>,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: PathBuf,
    pub iso: PathBuf,
    pub iso_sha256: Sha256Digest,
    pub build_id: String,
}

const STAGES: usize = 6;

fn label(n: usize, name: &str) -> String {
    format!("[{n}/{STAGES}] {name}")
}

/// Reads and checks everything `build` reads before it starts (the inputs, the offenders
/// rules, the lock), without building: `--all-flavors` checks every flavor first, so that a
/// bad one stops the run before the others are built.
pub fn check_inputs(
    config_dir: &Path,
    allow_dirty: bool,
    flavor: Option<&str>,
) -> Result<(), Error> {
    let inputs = Inputs::load(
        config_dir,
        LoadOptions {
            allow_dirty,
            flavor: flavor.map(str::to_string),
        },
    )?;
    isoforge_offenders::Table::load(config_dir)?;
    LockConfig::load_flavor(config_dir, inputs.flavor.as_ref().map(|f| f.name.as_str()))?
        .load_lock(Which::Image)?;
    Ok(())
}

/// Runs the whole pipeline. Must run inside the build namespace (see `isoforge-sandbox`).
pub fn build(opts: &Options, progress: &Progress) -> Result<Outcome, Error> {
    let inputs = Inputs::load(
        &opts.config_dir,
        LoadOptions {
            allow_dirty: opts.allow_dirty,
            flavor: opts.flavor.clone(),
        },
    )?;
    let locks = LockConfig::load_flavor(
        &opts.config_dir,
        inputs.flavor.as_ref().map(|f| f.name.as_str()),
    )?;
    // Read before anything is built, so a bad rule stops the build at once.
    let offenders = isoforge_offenders::Table::load(&opts.config_dir)?;
    let lock = locks.load_lock(Which::Image)?;
    let cache = locking::open_cache(opts.cache_dir.as_deref())?;
    preflight::check_tools()?;
    let build_id = inputs.build_id();
    // Files the tools create must not depend on the caller's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let staged = Staged::prepare(&opts.output_root, &build_id, opts.force)?;
    progress.note(format!(
        "building {} {}{} from commit {}{} (SOURCE_DATE_EPOCH={} from {})",
        inputs.profile.product_name,
        inputs.profile.product_version,
        inputs
            .flavor
            .as_ref()
            .map(|f| format!(", flavor {}", f.name))
            .unwrap_or_default(),
        inputs.source.commit,
        if inputs.source.is_dirty() {
            " with uncommitted changes"
        } else {
            ""
        },
        inputs.epoch,
        inputs.epoch.origin,
    ));
    let work = staged.work();
    let env = ToolEnv::new(
        inputs.epoch.seconds(),
        &work.join("home"),
        &work.join("tmp"),
    );
    let env = varied::apply(env, &opts.output_root)?;
    for d in [work.join("home"), work.join("tmp")] {
        fs::create_dir_all(&d).map_err(Error::io(format!("cannot create {}", d.display())))?;
    }
    let runner = Runner::new(env, &staged.logs(), progress.clone())
        .map_err(Error::io("cannot create the log directory"))?;
    let locked = Locked {
        config: &locks,
        lock: &lock,
        cache: &cache,
        runtime: &opts.runtime,
        builder_digest: opts.builder_digest.as_deref(),
    };
    match run_stages(&inputs, &offenders, &locked, &runner, &staged, &build_id) {
        Ok((iso_name, iso_sha256)) => {
            if opts.keep_work {
                let kept = staged.keep_work()?;
                progress.note(format!("work tree kept in {}", kept.display()));
            }
            let dir = staged.commit()?;
            Ok(Outcome {
                iso: dir.join(&iso_name),
                dir,
                iso_sha256,
                build_id,
            })
        }
        Err(e) => {
            let msg = e.to_string();
            let logs = staged.fail(&msg);
            let logs = logs
                .map(|d| format!("; logs in {}", d.display()))
                .unwrap_or_default();
            Err(match e {
                Error::Tool(isoforge_exec::Error::Cancelled) => {
                    Error::Invalid(format!("cancelled; no result was written{logs}"))
                }
                e => Error::Invalid(format!("{e}{logs}")),
            })
        }
    }
}

/// The package lock, the cache it is served from, and the runtime around the build.
struct Locked<'a> {
    config: &'a LockConfig,
    lock: &'a isoforge_lock::Lock,
    cache: &'a isoforge_cache::Cache,
    runtime: &'a str,
    builder_digest: Option<&'a str>,
}

/// What every stage reads: the inputs, the lock, the runner and the work tree.
struct Build<'a> {
    inputs: &'a Inputs,
    /// The known offenders cleanup removes: the built-in table and the profile's rules.
    offenders: &'a isoforge_offenders::Table,
    locked: &'a Locked<'a>,
    runner: &'a Runner,
    staged: &'a Staged,
    build_id: &'a str,
    epoch: i64,
    work: PathBuf,
    rootfs: PathBuf,
    staging: PathBuf,
    /// Which overlay or hook wrote which path, written to `logs/writers` at the end.
    writers: RefCell<Writers>,
}

/// What the cleaned rootfs hands to the squashfs stage.
struct Image {
    boot: isoforge_rootfs::BootImages,
    installed: Vec<isoforge_rootfs::packages::Installed>,
}

/// The mastered ISO.
struct Mastered {
    name: String,
    path: PathBuf,
    sha256: Sha256Digest,
}

/// The pipeline, stage by stage, in the order of the README's table.
fn run_stages(
    inputs: &Inputs,
    offenders: &isoforge_offenders::Table,
    locked: &Locked<'_>,
    runner: &Runner,
    staged: &Staged,
    build_id: &str,
) -> Result<(String, Sha256Digest), Error> {
    let work = staged.work();
    let b = Build {
        inputs,
        offenders,
        locked,
        runner,
        staged,
        build_id,
        epoch: inputs.epoch.seconds(),
        rootfs: work.join("rootfs"),
        staging: work.join("staging"),
        work,
        writers: RefCell::default(),
    };
    let sources = packages(&b)?;
    rootfs(&b, &sources)?;
    includes_chroot(&b)?;
    hooks_chroot(&b)?;
    let image = cleanup_and_branding(&b)?;
    squashfs(&b, &image)?;
    boot_files(&b)?;
    includes_binary(&b)?;
    hooks_binary(&b)?;
    writers(&b)?;
    let stage = b.runner.progress().stage(label(6, "iso: xorriso"));
    let iso = iso(&b, &stage)?;
    let info = build_info(&b, &image, &iso)?;
    provenance(&b, &info, &iso)?;
    checksums(&b, &iso)?;
    fs::File::open(&iso.path)
        .and_then(|f| f.sync_all())
        .map_err(Error::io("cannot sync the ISO"))?;
    stage.done(&format!(
        "{} MB, sha256 {}",
        size(&iso.path)? / 1_000_000,
        iso.sha256
    ));
    Ok((iso.name, iso.sha256))
}

/// Stage 1, packages: exactly the lock, from the cache (fetching only what it lacks), served
/// as a local repository.
fn packages(b: &Build<'_>) -> Result<Vec<String>, Error> {
    let progress = b.runner.progress();
    let stage = progress.stage(label(1, "packages: cache and local repository"));
    let lock = b.locked.lock;
    let fetched = locking::fetch(b.locked.config, lock, b.locked.cache, &stage)?;
    for (label, actual) in &fetched.corrupt {
        progress.note(format!(
            "the cached {label} was corrupt (sha256 {actual}); it was deleted and fetched again"
        ));
    }
    let debs = locking::local_debs(lock, b.locked.cache)?;
    let profile = &b.inputs.profile;
    let sources = isoforge_rootfs::localrepo::create(
        &b.work.join("repo"),
        &profile.suite,
        &profile.architecture,
        &debs,
    )?;
    stage.done(&format!(
        "{} packages ({} from the cache, {} fetched)",
        lock.packages.len(),
        fetched.cached,
        fetched.fetched
    ));
    Ok(sources)
}

/// Stage 2, rootfs: mmdebstrap from the local repository, then a check that exactly the lock
/// was installed.
fn rootfs(b: &Build<'_>, sources: &[String]) -> Result<(), Error> {
    let stage = b.runner.progress().stage(label(2, "rootfs: mmdebstrap"));
    isoforge_rootfs::bootstrap::run(b.runner, &stage, &b.inputs.profile, sources, &b.rootfs)?;
    let installed = isoforge_rootfs::packages::installed(&b.rootfs)?;
    let want: Vec<isoforge_rootfs::packages::Installed> = b
        .locked
        .lock
        .packages
        .iter()
        .map(|p| isoforge_rootfs::packages::Installed {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
        })
        .collect();
    isoforge_rootfs::bootstrap::check_installed(&installed, &want)?;
    stage.done(&format!("{} packages, as locked", installed.len()));
    Ok(())
}

/// Stage 2b, `config/includes.chroot/` into the image: after the packages, before cleanup
/// and the clamping of times, which treat it like everything else.
fn includes_chroot(b: &Build<'_>) -> Result<(), Error> {
    overlay(
        b,
        &b.inputs.overlays.chroot,
        isoforge_inputs::overlays::CHROOT,
        &isoforge_fs::Dir::open_image(&b.rootfs)?,
        isoforge_rootfs::overlay::Existing::Replace,
    )
}

/// Stage 5b, `config/includes.binary/` into the ISO tree, before xorriso (which pins every
/// date itself).
fn includes_binary(b: &Build<'_>) -> Result<(), Error> {
    overlay(
        b,
        &b.inputs.overlays.binary,
        isoforge_inputs::overlays::BINARY,
        &isoforge_fs::Dir::open(&b.staging)?,
        isoforge_rootfs::overlay::Existing::Refuse,
    )
}

/// Copies one overlay and logs what it wrote to `logs/<tree>.log`.
fn overlay(
    b: &Build<'_>,
    overlay: &isoforge_inputs::overlays::Overlay,
    tree: &str,
    dest: &isoforge_fs::Dir,
    existing: isoforge_rootfs::overlay::Existing,
) -> Result<(), Error> {
    if overlay.entries.is_empty() {
        return Ok(());
    }
    let wrote = isoforge_rootfs::overlay::apply(overlay, tree, dest, existing)?;
    let in_tree = if tree == isoforge_inputs::overlays::CHROOT {
        Tree::Image
    } else {
        Tree::Iso
    };
    // Files and links are the overlay's; a directory it names may be the image's own.
    let dirs: std::collections::BTreeSet<&Path> = overlay
        .entries
        .iter()
        .filter(|e| matches!(e.content, isoforge_inputs::overlays::Content::Dir))
        .map(|e| e.rel.as_path())
        .collect();
    let mut writers = b.writers.borrow_mut();
    for p in wrote.iter().filter(|p| !dirs.contains(p.as_path())) {
        writers.add(in_tree, &p.to_string_lossy(), tree);
    }
    let log: String = wrote
        .iter()
        .map(|p| format!("wrote /{}\n", p.display()))
        .collect();
    write(&b.staged.logs().join(format!("{tree}.log")), &log)?;
    b.runner
        .progress()
        .note(format!("{tree}: {} entries copied", wrote.len()));
    Ok(())
}

/// Stage 2c, `config/hooks/*.hook.chroot` inside the image: after the overlay, before
/// cleanup and the clamping of times (what a hook leaves is cleaned like everything else).
fn hooks_chroot(b: &Build<'_>) -> Result<(), Error> {
    hooks(b, isoforge_inputs::hooks::Kind::Chroot)
}

/// Stage 5c, `config/hooks/*.hook.binary` in the ISO tree: after `includes.binary/`,
/// before xorriso.
fn hooks_binary(b: &Build<'_>) -> Result<(), Error> {
    hooks(b, isoforge_inputs::hooks::Kind::Binary)
}

/// Runs one set of hooks (a stage line for the set) and records what each wrote.
fn hooks(b: &Build<'_>, kind: isoforge_inputs::hooks::Kind) -> Result<(), Error> {
    use isoforge_inputs::hooks::Kind;
    let n = b.inputs.hooks.iter().filter(|h| h.kind == kind).count();
    if n == 0 {
        return Ok(());
    }
    let plural = if n == 1 { "" } else { "s" };
    let (stage, tree, in_tree) = match kind {
        Kind::Chroot => (
            b.runner
                .progress()
                .stage(label(2, &format!("rootfs: {n} chroot hook{plural}"))),
            &b.rootfs,
            Tree::Image,
        ),
        Kind::Binary => (
            b.runner
                .progress()
                .stage(label(5, &format!("ISO tree: {n} binary hook{plural}"))),
            &b.staging,
            Tree::Iso,
        ),
    };
    let scratch = b.work.join("hooks");
    let run = match kind {
        Kind::Chroot => isoforge_rootfs::hooks::run_chroot,
        Kind::Binary => isoforge_rootfs::hooks::run_binary,
    };
    let ran = run(b.runner, &stage, &b.inputs.hooks, tree, &scratch, b.epoch)?;
    let mut writers = b.writers.borrow_mut();
    let mut paths = 0;
    for r in &ran {
        paths += r.wrote.len();
        for p in &r.wrote {
            writers.add(in_tree, p, &r.hook);
        }
    }
    stage.done(&format!(
        "{n} hook{plural} ran offline, {paths} paths written (logs/hooks/, logs/writers)"
    ));
    Ok(())
}

/// `logs/writers`: which overlay or hook wrote which path (for `isoforge diff`'s hints).
fn writers(b: &Build<'_>) -> Result<(), Error> {
    let writers = b.writers.borrow();
    if writers.is_empty() {
        return Ok(());
    }
    write(
        &b.staged.result().join(isoforge_offenders::writers::FILE),
        &writers.render(),
    )
}

/// Stage 3, cleanup and branding, then every time clamped to the epoch.
fn cleanup_and_branding(b: &Build<'_>) -> Result<Image, Error> {
    let stage = b
        .runner
        .progress()
        .stage(label(3, "rootfs: cleanup and branding"));
    let cleaned = isoforge_rootfs::cleanup::run_with(&b.rootfs, b.offenders)?;
    let branded = isoforge_rootfs::branding::apply(
        &b.rootfs,
        &isoforge_rootfs::branding::Branding {
            profile: &b.inputs.profile,
            build_id: b.build_id,
            mirror: &b.inputs.pin.mirror,
            epoch: b.epoch,
        },
    )?;
    let clamped = isoforge_rootfs::tree::clamp_times(&b.rootfs, b.epoch)?.entries;
    let mut log = cleaned.render();
    for wrote in &branded {
        log.push_str(&format!("wrote {wrote}\n"));
    }
    log.push_str(&format!(
        "clamped the times of {clamped} entries to {}\n",
        b.epoch
    ));
    fs::write(b.staged.logs().join("cleanup.log"), log)
        .map_err(Error::io("cannot write cleanup.log"))?;
    let boot = isoforge_rootfs::boot_images(&b.rootfs)?;
    let installed = isoforge_rootfs::packages::installed(&b.rootfs)?;
    stage.done(&format!(
        "{} files cleaned, {} branded, {clamped} times clamped",
        cleaned.actions.len(),
        branded.len()
    ));
    Ok(Image { boot, installed })
}

/// Stage 4, squashfs, and the files next to it: kernel, initrd, package manifest, `.disk/info`.
fn squashfs(b: &Build<'_>, image: &Image) -> Result<(), Error> {
    let profile = &b.inputs.profile;
    let stage = b.runner.progress().stage(label(4, "squashfs: mksquashfs"));
    let live = b.staging.join("live");
    fs::create_dir_all(&live).map_err(Error::io("cannot create the staging tree"))?;
    let squashfs = live.join("filesystem.squashfs");
    isoforge_squashfs::pack(
        b.runner,
        &stage,
        &b.rootfs,
        &squashfs,
        &profile.mksquashfs_options,
    )?;
    let rootfs = isoforge_fs::Dir::open_image(&b.rootfs)?;
    rootfs.copy_regular(&image.boot.kernel, &live.join("vmlinuz"))?;
    rootfs.copy_regular(&image.boot.initrd, &live.join("initrd.img"))?;
    let manifest: String = image
        .installed
        .iter()
        .map(|p| format!("{}\t{}\n", p.name, p.version))
        .collect();
    write(&live.join("filesystem.packages"), &manifest)?;
    let disk = b.staging.join(".disk");
    fs::create_dir_all(&disk).map_err(Error::io("cannot create .disk"))?;
    write(
        &disk.join("info"),
        &format!(
            "{} {} {} ({})\n",
            profile.product_name, profile.product_version, profile.architecture, b.build_id
        ),
    )?;
    stage.done(&format!("{} MB", size(&squashfs)? / 1_000_000));
    Ok(())
}

/// Stage 5, boot files: GRUB for BIOS and UEFI.
fn boot_files(b: &Build<'_>) -> Result<(), Error> {
    let profile = &b.inputs.profile;
    let stage = b
        .runner
        .progress()
        .stage(label(5, "boot files: GRUB BIOS + UEFI"));
    let menu = isoforge_bootfiles::Menu {
        title: profile.grub_menu_title.clone(),
        kernel: "/live/vmlinuz".into(),
        initrd: "/live/initrd.img".into(),
        cmdline: profile.live_boot_options.clone(),
    };
    isoforge_bootfiles::make(
        b.runner,
        &stage,
        &b.staging,
        &b.work.join("grub"),
        &menu,
        &isoforge_iso::grub_uuid(b.epoch),
        b.epoch,
    )?;
    stage.done("");
    Ok(())
}

/// Stage 6, ISO: xorriso, then a check that it boots both ways (El Torito BIOS and UEFI).
fn iso(b: &Build<'_>, stage: &isoforge_exec::Stage) -> Result<Mastered, Error> {
    let profile = &b.inputs.profile;
    let name = profile.iso_file_name();
    let path = b.staged.result().join(&name);
    isoforge_iso::master(
        b.runner,
        stage,
        &b.staging,
        &path,
        &isoforge_iso::Volume {
            label: profile.iso_volume_label.clone(),
            publisher: profile.iso_publisher.clone(),
            application: ISOFORGE.to_uppercase(),
            epoch: b.epoch,
        },
        &isoforge_iso::Boot {
            bios_image: isoforge_bootfiles::BIOS_IMAGE.into(),
            efi_image: isoforge_bootfiles::EFI_IMAGE.into(),
            mbr_template: isoforge_bootfiles::HYBRID_MBR.into(),
        },
    )?;
    let platforms = isoforge_iso::boot_platforms(&path)?;
    for want in ["BIOS", "UEFI"] {
        if !platforms.iter().any(|p| p == want) {
            return Err(Error::Invalid(format!(
                "the ISO has no {want} El Torito boot entry (found: {platforms:?})"
            )));
        }
    }
    let sha256 = sha256_file(&path).map_err(Error::io("cannot hash the ISO"))?;
    Ok(Mastered { name, path, sha256 })
}

/// BUILD_INFO: every input of the build and what it produced.
fn build_info(b: &Build<'_>, image: &Image, iso: &Mastered) -> Result<BuildInfo, Error> {
    let inputs = b.inputs;
    let profile = &inputs.profile;
    let lock = b.locked.lock;
    let info = BuildInfo {
        format: isoforge_buildinfo::FORMAT,
        build_tool: ISOFORGE.into(),
        source: profile.product_id.clone(),
        flavor: inputs.flavor.as_ref().map(|f| f.name.clone()),
        product_name: profile.product_name.clone(),
        version: profile.product_version.clone(),
        architecture: profile.architecture.clone(),
        profile_sha256: inputs.profile_sha256.clone(),
        config_dir: config_dir_in_repo(inputs)?,
        commit: inputs.source.commit.clone(),
        dirty_paths: inputs.source.dirty.clone(),
        source_date_epoch: b.epoch,
        source_date_epoch_origin: inputs.epoch.origin.to_string(),
        snapshot_timestamp: inputs.pin.timestamp.clone(),
        snapshot_url: inputs.pin.url(),
        mirror: inputs.pin.mirror.clone(),
        package_source: format!(
            "{} (every .deb verified by sha256 from the cache)",
            b.locked.config.file(Which::Image)
        ),
        package_lock_sha256: lock.sha256(),
        runtime: b.locked.runtime.to_string(),
        builder_digest: b.locked.builder_digest.unwrap_or("none").to_string(),
        kernel: image.boot.release.clone(),
        build_tools: preflight::tool_versions()?,
        environment: b
            .runner
            .env()
            .recorded()
            .into_iter()
            .chain([("UMASK".to_string(), "0022".to_string())])
            .collect(),
        installed: image
            .installed
            .iter()
            .map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                sha256: lock
                    .packages
                    .iter()
                    .find(|l| l.name == p.name && l.architecture == p.architecture)
                    .map(|l| l.sha256.clone()),
            })
            .collect(),
        artefacts: vec![Artefact {
            sha256: iso.sha256.hex(),
            size: size(&iso.path)?,
            name: iso.name.clone(),
        }],
    };
    write(&b.staged.result().join("BUILD_INFO"), &info.render())?;
    Ok(info)
}

/// The provenance records this run (a fresh invocation id): written after the ISO, so it
/// is no input to it, and left out of SHA256SUMS, which lists what every rebuild
/// reproduces.
fn provenance(b: &Build<'_>, info: &BuildInfo, iso: &Mastered) -> Result<(), Error> {
    let run = isoforge_buildinfo::provenance::Run {
        repository: env!("CARGO_PKG_REPOSITORY").into(),
        lock: Path::new(&info.config_dir)
            .join(b.locked.config.file(Which::Image))
            .display()
            .to_string(),
        invocation_id: isoforge_buildinfo::provenance::invocation_id()
            .map_err(Error::io("cannot read /dev/urandom for the invocation id"))?,
        overlay_files: overlay_files(b.inputs, &info.config_dir)?,
    };
    write(
        &b.staged.result().join(format!("{}.intoto.json", iso.name)),
        &isoforge_buildinfo::provenance::statement(info, &run),
    )
}

/// The overlays' regular files (of every layer) and the hooks, relative to the repository, with their
/// sha256.
fn overlay_files(inputs: &Inputs, config_dir: &str) -> Result<Vec<(String, String)>, Error> {
    use isoforge_inputs::overlays::Content;
    let mut out = Vec::new();
    for (layer, overlays) in &inputs.layer_overlays {
        for (tree, overlay) in overlays.trees() {
            for e in &overlay.entries {
                let Content::File(bytes) = &e.content else {
                    continue;
                };
                let path = Path::new(config_dir)
                    .join(&layer.rel)
                    .join(tree)
                    .join(&e.rel);
                let digest = isoforge_checksums::sha256_reader(&bytes[..])
                    .map_err(Error::io(format!("cannot hash {}", path.display())))?;
                out.push((path.to_string_lossy().into_owned(), digest.hex()));
            }
        }
    }
    for hook in &inputs.hooks {
        let path = Path::new(config_dir).join(&hook.rel);
        let digest = isoforge_checksums::sha256_reader(&hook.bytes[..])
            .map_err(Error::io(format!("cannot hash {}", path.display())))?;
        out.push((path.to_string_lossy().into_owned(), digest.hex()));
    }
    Ok(out)
}

/// SHA256SUMS: the ISO and BUILD_INFO.
fn checksums(b: &Build<'_>, iso: &Mastered) -> Result<(), Error> {
    let result = b.staged.result();
    let sums = [iso.name.as_str(), "BUILD_INFO"]
        .iter()
        .map(|n| {
            // The ISO was hashed once already; 250 MB is worth not reading twice.
            let digest = if *n == iso.name {
                Ok(iso.sha256)
            } else {
                sha256_file(&result.join(n))
            };
            digest
                .map(|digest| Entry {
                    name: n.to_string(),
                    digest,
                })
                .map_err(Error::io(format!("cannot hash {n}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    write(
        &result.join("SHA256SUMS"),
        &isoforge_checksums::render(&sums),
    )
}

/// Where the configuration lives inside the repository, for BUILD_INFO (and rebuilds).
fn config_dir_in_repo(inputs: &Inputs) -> Result<String, Error> {
    let abs = inputs.config_dir.canonicalize().map_err(Error::io(format!(
        "cannot resolve {}",
        inputs.config_dir.display()
    )))?;
    let rel = abs.strip_prefix(&inputs.source.root).map_err(|_| {
        Error::Invalid(format!(
            "{} is not inside the repository {}",
            abs.display(),
            inputs.source.root.display()
        ))
    })?;
    Ok(match rel.to_str() {
        Some("") => ".".into(),
        Some(s) => s.into(),
        None => {
            return Err(Error::Invalid(format!(
                "{} is not valid UTF-8",
                rel.display()
            )));
        }
    })
}

/// Writes `path` atomically and durably (BUILD_INFO, SHA256SUMS and the provenance are
/// fsynced with their directory).
fn write(path: &Path, text: &str) -> Result<(), Error> {
    Ok(isoforge_fs::write_atomic(path, text.as_bytes())?)
}

fn size(path: &Path) -> Result<u64, Error> {
    Ok(fs::metadata(path)
        .map_err(Error::io(format!("cannot stat {}", path.display())))?
        .len())
}
