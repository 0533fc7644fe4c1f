//! `isoforge normalize`: rewrites a hybrid live ISO made by another builder (live-build,
//! derivative-maker, grub-mkrescue, …) into a deterministic one that boots the same.
//!
//! 1. The input is checked from its own bytes ([`iso::volume`]: ISO 9660, not truncated), its
//!    tree is extracted with xorriso into a fresh work directory, and its boot setup is read
//!    back as mkisofs options ([`iso::boot_options`]).
//! 2. The root squashfs (`live/filesystem.squashfs`, or what the boot config names) is
//!    unpacked by the real `unsquashfs` (it refuses `..` and `/` in names; isoforge checks
//!    nothing appeared beside the work tree and bounds the unpacked size first), cleaned with
//!    the offenders table (`isoforge_rootfs::cleanup::run_with`), its initrds rewritten, its
//!    times clamped and re-squashed with the profile's `MKSQUASHFS_OPTIONS`.
//! 3. Every initrd the boot config names is rewritten or kept ([`initrd`]); the UEFI FAT
//!    image gets its serial and dates pinned ([`fat`]).
//! 4. The ISO is mastered again with the input's boot setup and every date pinned
//!    ([`iso::master`]), into a temporary name renamed into place at the end.
//!
//! Everything that happened is in the [`Report`] (text and JSON).

pub mod fat;
pub mod initrd;
pub mod iso;

use std::path::{Path, PathBuf};

use isoforge_exec::{Progress, Runner, ToolEnv};
use isoforge_fs::{Dir, Kind};
use isoforge_offenders::Table;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tool(#[from] isoforge_exec::Error),
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
    #[error(transparent)]
    Rootfs(#[from] isoforge_rootfs::Error),
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

/// The default bound on what one input may unpack to (the root file system's files, and each
/// decompressed initrd stream): 16 GiB, or half the free space of the work directory if that
/// is less.
pub const DEFAULT_MAX_UNPACKED: u64 = 16 << 30;

/// Where the root squashfs is looked for when the boot config names none.
const DEFAULT_SQUASHFS: &str = "live/filesystem.squashfs";
/// Boot configs read for `live-media-path=`, `rd.live.dir=` and `initrd` lines.
const BOOT_CONFIGS: &[&str] = &[
    "boot/grub/grub.cfg",
    "boot/grub/loopback.cfg",
    "EFI/boot/grub.cfg",
    "EFI/BOOT/grub.cfg",
    "isolinux/isolinux.cfg",
    "isolinux/live.cfg",
    "isolinux/menu.cfg",
    "syslinux/syslinux.cfg",
];
const MAX_CONFIG: u64 = 1 << 20;

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub input: PathBuf,
    pub output: PathBuf,
    pub epoch: i64,
    /// The offenders table (built-in plus the profile's `offenders.conf`).
    pub table: Table,
    /// The profile's `MKSQUASHFS_OPTIONS`.
    pub mksquashfs_options: Vec<String>,
    /// Bound on the root file system's unpacked size and each decompressed initrd stream;
    /// `None`: [`DEFAULT_MAX_UNPACKED`] or half the free space.
    pub max_unpacked: Option<u64>,
    /// Replace an existing output.
    pub force: bool,
}

/// Everything normalize changed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub input: String,
    pub output: String,
    pub source_date_epoch: i64,
    pub volume: iso::Volume,
    pub root_squashfs: String,
    pub rootfs: RootfsReport,
    pub initrds: Vec<initrd::InitrdReport>,
    pub efi_images: Vec<fat::FatReport>,
    pub iso: IsoReport,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootfsReport {
    pub changes: Vec<Change>,
    /// Entries whose mtime was later than the epoch.
    pub times_clamped: u64,
    pub mksquashfs_options: Vec<String>,
}

/// One file cleanup removed or emptied.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub path: String,
    /// `removed`, `emptied` or `owned`.
    pub action: String,
    /// The rule's id and glob (`nvme-hostid etc/nvme/hostid`), or `profile …` for a
    /// profile's rule.
    pub rule: String,
    pub cause: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IsoReport {
    /// Every date of the ISO (volume descriptors, directory records, Rock Ridge, boot catalog),
    /// as `YYYYMMDDhhmmsscc`; the GPT disk GUID is derived from it.
    pub dates_pinned_to: String,
    pub boot_platforms: Vec<String>,
    /// The input's boot setup as replayed (mkisofs options).
    pub boot_options: Vec<String>,
    /// The boot catalog file removed from the tree (xorriso writes a new one).
    pub boot_catalog: Option<String>,
    /// The volume UUID GRUB searches by (`search --fs-uuid`): the input's and the new one.
    pub grub_uuid_from: Option<String>,
    pub grub_uuid_to: String,
    /// Files of the tree (boot configs, the EFI image, boot images) that named the input's
    /// UUID: it was replaced by the new one, same length, in place.
    pub grub_uuid_rewritten_in: Vec<String>,
    /// live-build's random `/.disk/id/<uuid>` marker, renamed to a UUID from the epoch.
    pub disk_id: Option<DiskId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskId {
    pub from: String,
    pub to: String,
    /// Files that named the old UUID (the EFI image's grub.cfg, boot configs).
    pub rewritten_in: Vec<String>,
}

impl Report {
    /// The text form: one line per change.
    pub fn render(&self) -> String {
        let mut s = format!(
            "normalized {} -> {} (SOURCE_DATE_EPOCH={})\n",
            self.input, self.output, self.source_date_epoch
        );
        s += &format!(
            "root squashfs {}: {} file(s) removed or emptied, {} time(s) clamped, \
             re-squashed with {}\n",
            self.root_squashfs,
            self.rootfs.changes.len(),
            self.rootfs.times_clamped,
            self.rootfs.mksquashfs_options.join(" ")
        );
        for c in &self.rootfs.changes {
            s += &format!("  {} {}: rule {}: {}\n", c.action, c.path, c.rule, c.cause);
        }
        for i in &self.initrds {
            s += &format!("initrd {}: {}: {}\n", i.path, i.outcome, i.reason);
            for seg in &i.segments {
                s += &format!(
                    "  {} at offset {}: {} archive(s), {} entries, {} moved by sorting, {} \
                     mtime(s) clamped, {} inode(s) renumbered{}\n",
                    seg.kind,
                    seg.offset,
                    seg.archives,
                    seg.entries,
                    seg.moved,
                    seg.mtimes_clamped,
                    seg.inodes_renumbered,
                    seg.compressor
                        .as_ref()
                        .map(|c| format!(", recompressed with {c}"))
                        .unwrap_or_default()
                );
            }
        }
        for f in &self.efi_images {
            s += &format!(
                "EFI image {} ({}): volume serial {} -> {}, dates of {} directory entries \
                 pinned\n",
                f.path, f.fat_type, f.serial_from, f.serial_to, f.entries_pinned
            );
        }
        s += &format!(
            "ISO: volume id {:?}{}, every date pinned to {} (volume descriptors, directory \
             records, Rock Ridge, boot catalog; GPT disk GUID from it); boot entries: {}\n",
            self.volume.volume_id,
            if self.volume.joliet { ", Joliet" } else { "" },
            self.iso.dates_pinned_to,
            self.iso.boot_platforms.join(", ")
        );
        if let Some(id) = &self.iso.disk_id {
            s += &format!(
                "/.disk/id/{} -> /.disk/id/{} (also in {})\n",
                id.from,
                id.to,
                if id.rewritten_in.is_empty() {
                    "no other file".to_string()
                } else {
                    id.rewritten_in.join(", ")
                }
            );
        }
        if !self.iso.grub_uuid_rewritten_in.is_empty() {
            s += &format!(
                "volume UUID {} -> {} in {}\n",
                self.iso.grub_uuid_from.as_deref().unwrap_or("-"),
                self.iso.grub_uuid_to,
                self.iso.grub_uuid_rewritten_in.join(", ")
            );
        }
        s += &format!("sha256 {}\n", self.sha256);
        s
    }
}

/// Rewrites `opts.input` into `opts.output` (see the module documentation).
pub fn normalize(opts: &Options, progress: &Progress) -> Result<Report, Error> {
    let input = std::path::absolute(&opts.input)
        .map_err(io_err(format!("cannot resolve {}", opts.input.display())))?;
    let output = std::path::absolute(&opts.output)
        .map_err(io_err(format!("cannot resolve {}", opts.output.display())))?;
    if input == output {
        return Err(Error::Invalid(
            "the output must not be the input; name another file".into(),
        ));
    }
    if !opts.force && std::fs::symlink_metadata(&output).is_ok() {
        return Err(Error::Invalid(format!(
            "{} exists; pass --force to replace it",
            output.display()
        )));
    }
    let stage = progress.stage("normalize: checking the input");
    let vol = iso::volume(&input)?;
    let platforms_in = isoforge_iso::boot_platforms(&input)
        .map_err(|e| Error::Invalid(format!("{}: {e}", input.display())))?;
    stage.done(&format!("volume {:?}", vol.volume_id));

    let parent = output
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{}: no directory", output.display())))?;
    let work = tempfile::Builder::new()
        .prefix(".isoforge-normalize-")
        .tempdir_in(parent)
        .map_err(io_err(format!(
            "cannot create a work directory in {}",
            parent.display()
        )))?;
    let free = nix::sys::statvfs::statvfs(work.path())
        .map(|v| v.blocks_available().saturating_mul(v.fragment_size()))
        .unwrap_or(u64::MAX);
    let limit = opts
        .max_unpacked
        .unwrap_or_else(|| DEFAULT_MAX_UNPACKED.min(free / 2));
    let result = run(
        opts,
        &input,
        &output,
        work.path(),
        &vol,
        &platforms_in,
        limit,
        progress,
    );
    // The work tree goes whatever happened (mode bits from the image do not stop root).
    let _ = isoforge_fs::remove_tree(work.path());
    result
}

#[allow(clippy::too_many_arguments)]
fn run(
    opts: &Options,
    input: &Path,
    output: &Path,
    work: &Path,
    vol: &iso::Volume,
    platforms_in: &[String],
    limit: u64,
    progress: &Progress,
) -> Result<Report, Error> {
    let epoch = opts.epoch;
    let home = work.join("home");
    let tmp = work.join("tmp");
    let scratch = work.join("scratch");
    for d in [&home, &tmp, &scratch] {
        std::fs::create_dir(d).map_err(io_err(format!("cannot create {}", d.display())))?;
    }
    let runner = Runner::new(
        ToolEnv::new(epoch, &home, &tmp),
        &work.join("logs"),
        progress.clone(),
    )
    .map_err(io_err("cannot create the log directory"))?;
    let tree = work.join("iso");
    let stage = progress.stage("normalize: extracting the ISO tree");
    let boot = iso::boot_options(&runner, input)?;
    iso::extract(&runner, &stage, input, &tree)?;
    contained(work)?;
    stage.done("");

    // The root file system.
    let squashfs = find_squashfs(&tree)?;
    let stage = progress.stage(format!("normalize: unpacking /{squashfs}"));
    let rootfs = work.join("rootfs");
    unpack_squashfs(&runner, &stage, &tree.join(&squashfs), &rootfs, limit, work)?;
    stage.done("");
    let stage = progress.stage("normalize: cleanup");
    let cleaned = isoforge_rootfs::cleanup::run_with(&rootfs, &opts.table)?;
    let changes = cleaned
        .actions
        .iter()
        .map(|(a, p, why)| change(&opts.table, *a, p, why))
        .collect::<Vec<_>>();
    let mut initrds = Vec::new();
    let mut done = InitrdCache::default();
    for name in rootfs_initrds(&rootfs)? {
        let shown = format!("rootfs:/boot/{name}");
        let path = rootfs.join("boot").join(&name);
        initrds.push(done.normalize(&runner, &stage, &path, &shown, &scratch, epoch, limit)?);
    }
    // What the image itself holds later than the epoch (atimes our own reads moved do not
    // count: squashfs keeps no atime).
    let clamped = isoforge_rootfs::tree::clamp_times(&rootfs, epoch)?.later_mtimes;
    stage.done(&format!(
        "{} change(s), {clamped} time(s) clamped",
        changes.len()
    ));
    let stage = progress.stage("normalize: mksquashfs");
    let packed = work.join("filesystem.squashfs");
    isoforge_squashfs::pack(&runner, &stage, &rootfs, &packed, &opts.mksquashfs_options)?;
    isoforge_fs::remove_tree(&rootfs)?;
    std::fs::rename(&packed, tree.join(&squashfs))
        .map_err(io_err(format!("cannot replace /{squashfs}")))?;
    stage.done("");

    // Boot files.
    let stage = progress.stage("normalize: initrd and EFI image");
    for rel in iso_initrds(&tree)? {
        let path = tree.join(&rel);
        let shown = format!("/{rel}");
        initrds.push(done.normalize(&runner, &stage, &path, &shown, &scratch, epoch, limit)?);
    }
    let mut boot = boot;
    let mut efi_images = Vec::new();
    let mut boot_catalog = None;
    let mut i = 0;
    while i < boot.len() {
        let next = boot.get(i + 1).cloned();
        match (boot[i].as_str(), next) {
            ("-c", Some(cat)) => {
                let rel = cat.trim_start_matches('/').to_string();
                if regular(&tree, &rel)? {
                    std::fs::remove_file(tree.join(&rel))
                        .map_err(io_err(format!("cannot remove /{rel}")))?;
                    boot_catalog = Some(format!("/{rel}"));
                }
            }
            ("-e", Some(img)) if !img.starts_with("--interval:") => {
                let rel = img.trim_start_matches('/').to_string();
                if regular(&tree, &rel)? {
                    efi_images.push(fat::pin(&tree.join(&rel), &format!("/{rel}"), epoch)?);
                }
            }
            ("-append_partition", Some(_)) => {
                // `-append_partition N TYPE --interval:…:IN.iso`: a partition taken from the
                // input; when it is FAT it is copied out, pinned, and appended from the copy.
                if let Some(word) = boot.get(i + 3).cloned()
                    && let Some((s, e, _)) = iso::interval(&word)
                {
                    let copy = scratch.join(format!("appended-{}.img", boot[i + 1]));
                    copy_interval(input, s, e, &copy)?;
                    if let Ok(r) =
                        fat::pin(&copy, &format!("appended partition {}", boot[i + 1]), epoch)
                    {
                        efi_images.push(r);
                        boot[i + 3] = copy.display().to_string();
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }

    // A boot loader that finds the ISO by its volume UUID (`search --fs-uuid`, as isoforge's own
    // images do) must be told the new one, which follows the pinned date.
    let new_uuid = isoforge_iso::grub_uuid(epoch);
    let mut uuid_files = Vec::new();
    if let Some(old) = vol.grub_uuid.as_deref().filter(|o| *o != new_uuid) {
        uuid_files = replace_in_tree(
            &tree,
            &tree.join(&squashfs),
            old.as_bytes(),
            new_uuid.as_bytes(),
        )?;
    }
    // live-build marks the ISO with a random `/.disk/id/<uuid>` that the EFI image's grub.cfg
    // searches for: it gets a UUID derived from the epoch, in its name and wherever named.
    let disk_id = disk_id(&tree, &squashfs, epoch)?;
    stage.done("");

    let stage = progress.stage("normalize: xorriso");
    let tmp_iso = work.join("out.iso");
    iso::master(&runner, &stage, &tree, &tmp_iso, vol, &boot, epoch)?;
    let platforms =
        isoforge_iso::boot_platforms(&tmp_iso).map_err(|e| Error::Invalid(e.to_string()))?;
    if platforms != platforms_in {
        return Err(Error::Invalid(format!(
            "the new ISO's El Torito entries ({}) are not the input's ({}); nothing written",
            platforms.join(", "),
            platforms_in.join(", ")
        )));
    }
    let sha256 = sha256_file(&tmp_iso)?;
    isoforge_fs::persist(&tmp_iso, output)?;
    stage.done(&format!("sha256 {sha256}"));
    Ok(Report {
        input: input.display().to_string(),
        output: output.display().to_string(),
        source_date_epoch: epoch,
        volume: vol.clone(),
        root_squashfs: format!("/{squashfs}"),
        rootfs: RootfsReport {
            changes,
            times_clamped: clamped,
            mksquashfs_options: opts.mksquashfs_options.clone(),
        },
        initrds,
        efi_images,
        iso: IsoReport {
            dates_pinned_to: isoforge_iso::xorriso_uuid(epoch),
            boot_platforms: platforms,
            boot_options: boot,
            boot_catalog,
            grub_uuid_from: vol.grub_uuid.clone(),
            grub_uuid_to: new_uuid,
            grub_uuid_rewritten_in: uuid_files,
            disk_id,
        },
        sha256,
    })
}

/// A UUID-shaped name (`8-4-4-4-12` hex digits).
fn is_uuid(n: &str) -> bool {
    let parts: Vec<&str> = n.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Renames the one `/.disk/id/<uuid>` of the tree to a UUID derived from `epoch` and
/// replaces the old one wherever the tree names it.
fn disk_id(tree: &Path, squashfs: &str, epoch: i64) -> Result<Option<DiskId>, Error> {
    let dir = Dir::open(tree)?;
    if dir.kind(".disk")? != Some(Kind::Dir) || dir.kind(".disk/id")? != Some(Kind::Dir) {
        return Ok(None);
    }
    let ids: Vec<String> = dir
        .read_dir(".disk/id")?
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| is_uuid(n))
        .collect();
    let [old] = ids.as_slice() else {
        return Ok(None);
    };
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("isoforge normalize disk id {epoch}"));
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let new = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    if *old == new {
        return Ok(None);
    }
    let from = tree.join(".disk/id").join(old);
    std::fs::rename(&from, tree.join(".disk/id").join(&new))
        .map_err(io_err(format!("cannot rename {}", from.display())))?;
    let rewritten_in = replace_in_tree(tree, &tree.join(squashfs), old.as_bytes(), new.as_bytes())?;
    Ok(Some(DiskId {
        from: old.clone(),
        to: new,
        rewritten_in,
    }))
}

/// Files of the tree that may hold a boot loader's search UUID (boot configs, boot images, the
/// EFI image); the squashfs and large files are not read.
const MAX_UUID_FILE: u64 = 64 << 20;

/// Replaces `old` by `new` (same length) in every regular file of `tree` up to
/// [`MAX_UUID_FILE`] bytes that holds it, but `skip` (the root squashfs); returns their paths.
fn replace_in_tree(tree: &Path, skip: &Path, old: &[u8], new: &[u8]) -> Result<Vec<String>, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut changed = Vec::new();
    for entry in walkdir::WalkDir::new(tree)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry =
            entry.map_err(|e| io_err(format!("cannot walk {}", tree.display()))(e.into()))?;
        let m = entry
            .metadata()
            .map_err(|e| io_err(format!("cannot stat {}", entry.path().display()))(e.into()))?;
        if !m.is_file() || m.len() > MAX_UUID_FILE || entry.path() == skip {
            continue;
        }
        let mut bytes = std::fs::read(entry.path())
            .map_err(io_err(format!("cannot read {}", entry.path().display())))?;
        let mut hit = false;
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(old.len()).position(|w| w == old) {
            bytes[at + i..at + i + old.len()].copy_from_slice(new);
            at += i + old.len();
            hit = true;
        }
        if hit {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(entry.path())
                .map_err(io_err(format!("cannot write {}", entry.path().display())))?;
            use std::io::Write;
            f.write_all(&bytes)
                .map_err(io_err(format!("cannot write {}", entry.path().display())))?;
            let rel = entry.path().strip_prefix(tree).unwrap_or(entry.path());
            changed.push(format!("/{}", rel.display()));
        }
    }
    Ok(changed)
}

/// Initrds already done, by the sha256 of their original bytes: the rootfs's
/// `/boot/initrd.img-*` is usually the ISO's `/live/initrd.img` too, and is rewritten once.
#[derive(Default)]
struct InitrdCache {
    done: Vec<(String, PathBuf, initrd::InitrdReport)>,
}

impl InitrdCache {
    #[allow(clippy::too_many_arguments)]
    fn normalize(
        &mut self,
        runner: &Runner,
        stage: &isoforge_exec::Stage,
        path: &Path,
        shown: &str,
        scratch: &Path,
        epoch: i64,
        limit: u64,
    ) -> Result<initrd::InitrdReport, Error> {
        let sum = sha256_file(path)?;
        if let Some((_, result, r)) = self.done.iter().find(|(s, _, _)| *s == sum) {
            std::fs::copy(result, path).map_err(io_err(format!("cannot write {shown}")))?;
            let mut r = r.clone();
            r.reason = format!(
                "the same bytes as {}, so the same result: {}",
                r.path, r.reason
            );
            r.path = shown.to_string();
            return Ok(r);
        }
        let r = initrd::normalize(runner, stage, path, shown, scratch, epoch, limit)?;
        let keep = scratch.join(format!("initrd-done-{}", self.done.len()));
        std::fs::copy(path, &keep).map_err(io_err(format!("cannot copy {shown}")))?;
        self.done.push((sum, keep, r.clone()));
        Ok(r)
    }
}

/// The work directory holds only what isoforge put there: an archive entry that escaped its
/// extraction directory (`../x`) would show up here.
fn contained(work: &Path) -> Result<(), Error> {
    const OURS: &[&str] = &[
        "home",
        "tmp",
        "scratch",
        "logs",
        "iso",
        "rootfs",
        "filesystem.squashfs",
        "out.iso",
    ];
    for name in Dir::open(work)?.read_dir("")? {
        let n = name.to_string_lossy();
        if !OURS.contains(&n.as_ref()) {
            return Err(Error::Invalid(format!(
                "{n:?} appeared in the work directory beside the extracted tree: the image \
                 holds a path that escapes it; refusing the image"
            )));
        }
    }
    Ok(())
}

/// `rel` is a regular file of `tree` and no component on the way is a symlink.
fn regular(tree: &Path, rel: &str) -> Result<bool, Error> {
    let dir = Dir::open(tree)?;
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|c| *c == "." || *c == "..") {
        return Ok(false);
    }
    for i in 1..parts.len() {
        if dir.kind(parts[..i].join("/"))? != Some(Kind::Dir) {
            return Ok(false);
        }
    }
    Ok(dir.kind(rel)? == Some(Kind::File))
}

/// Reads a boot config of the tree (bounded; a symlink is not followed).
fn read_config(tree: &Path, rel: &str) -> Result<Option<String>, Error> {
    if !regular(tree, rel)? {
        return Ok(None);
    }
    let f = Dir::open(tree)?.open_file(rel)?;
    let mut s = Vec::new();
    use std::io::Read;
    f.take(MAX_CONFIG)
        .read_to_end(&mut s)
        .map_err(io_err(format!("cannot read /{rel}")))?;
    Ok(Some(String::from_utf8_lossy(&s).into_owned()))
}

/// A path of the tree from a boot config, relative, without `..`.
fn tree_rel(p: &str) -> Option<String> {
    let p = p.trim_matches(|c| c == '"' || c == '\'');
    let p = p.rsplit_once(')').map_or(p, |(_, r)| r); // GRUB's `($root)/x`
    let rel = p.trim_start_matches('/');
    (!rel.is_empty() && !rel.split('/').any(|c| c == ".." || c == ".")).then(|| rel.to_string())
}

/// The root squashfs: what `live-media-path=` or `rd.live.dir=`/`rd.live.squashimg=` name,
/// else `live/filesystem.squashfs`.
fn find_squashfs(tree: &Path) -> Result<String, Error> {
    let mut candidates = Vec::new();
    for cfg in BOOT_CONFIGS {
        let Some(text) = read_config(tree, cfg)? else {
            continue;
        };
        for word in text.split_whitespace() {
            if let Some(dir) = word.strip_prefix("live-media-path=").and_then(tree_rel) {
                candidates.push(format!("{dir}/filesystem.squashfs"));
            }
            if let Some(dir) = word.strip_prefix("rd.live.dir=").and_then(tree_rel) {
                let img = text
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("rd.live.squashimg="))
                    .unwrap_or("squashfs.img");
                candidates.push(format!("{dir}/{img}"));
            }
        }
    }
    candidates.push(DEFAULT_SQUASHFS.to_string());
    for c in &candidates {
        if regular(tree, c)? {
            return Ok(c.clone());
        }
    }
    Err(Error::Invalid(format!(
        "the ISO has no root squashfs (looked for /{}): not a live ISO isoforge can normalize",
        candidates.join(", /")
    )))
}

/// The initrds of the ISO: what `initrd`/`initrdefi` lines and `initrd=` name, and
/// `live/initrd*`, `casper/initrd*`, `boot/initrd*`; regular files only.
fn iso_initrds(tree: &Path) -> Result<Vec<String>, Error> {
    let mut found = std::collections::BTreeSet::new();
    for cfg in BOOT_CONFIGS {
        let Some(text) = read_config(tree, cfg)? else {
            continue;
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("initrd" | "initrdefi" | "INITRD") => {
                    found.extend(words.filter_map(tree_rel));
                }
                _ => {
                    for w in line.split_whitespace() {
                        if let Some(list) = w.strip_prefix("initrd=") {
                            found.extend(list.split(',').filter_map(tree_rel));
                        }
                    }
                }
            }
        }
    }
    let dir = Dir::open(tree)?;
    for d in ["live", "casper", "boot"] {
        if dir.kind(d)? != Some(Kind::Dir) {
            continue;
        }
        for n in dir.read_dir(d)? {
            let n = n.to_string_lossy();
            if n.starts_with("initrd") {
                found.insert(format!("{d}/{n}"));
            }
        }
    }
    let mut out = Vec::new();
    for rel in found {
        if regular(tree, &rel)? {
            out.push(rel);
        }
    }
    Ok(out)
}

/// `boot/initrd*` of the root file system (regular files; `boot` a real directory).
fn rootfs_initrds(rootfs: &Path) -> Result<Vec<String>, Error> {
    let dir = Dir::open_image(rootfs)?;
    if dir.kind("boot")? != Some(Kind::Dir) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for n in dir.read_dir("boot")? {
        let n = n.to_string_lossy().into_owned();
        if n.starts_with("initrd") && dir.kind(format!("boot/{n}"))? == Some(Kind::File) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Checks the squashfs's unpacked size against `limit` and the free space, then unpacks it
/// with unsquashfs (numeric owners as stored; names with `/` or `..` are refused by it).
fn unpack_squashfs(
    runner: &Runner,
    stage: &isoforge_exec::Stage,
    image: &Path,
    to: &Path,
    limit: u64,
    work: &Path,
) -> Result<(), Error> {
    let shown = image.display();
    let src = isoforge_formats::io::FileSource::open(image)
        .map_err(io_err(format!("cannot open {shown}")))?;
    let parsed = isoforge_formats::squashfs::parse(&src, &isoforge_formats::Limits::default())
        .map_err(|e| Error::Invalid(format!("the root squashfs is not readable: {e}")))?;
    let total: u64 = parsed
        .entries
        .iter()
        .filter(|e| e.kind == isoforge_formats::EntryKind::File)
        .map(|e| e.size)
        .sum();
    if total > limit {
        return Err(Error::Invalid(format!(
            "the root squashfs unpacks to {total} bytes, more than the limit of {limit} \
             (--max-unpacked SIZE raises it)"
        )));
    }
    let free = nix::sys::statvfs::statvfs(work)
        .map(|v| v.blocks_available().saturating_mul(v.fragment_size()))
        .unwrap_or(u64::MAX);
    // The tree, then the new image beside it.
    if total.saturating_mul(2) > free {
        return Err(Error::Invalid(format!(
            "the root squashfs unpacks to {total} bytes; {} has {free} bytes free, and needs \
             about twice that",
            work.display()
        )));
    }
    let mut cmd = runner.command("unsquashfs");
    cmd.args(["-n", "-d"]).arg(to).arg(image);
    runner.run(stage, "unsquashfs", cmd).map_err(|e| {
        Error::Invalid(format!(
            "unsquashfs refused the root squashfs (a corrupt image, or a name with `/` or \
             `..` that would escape the tree): {e}"
        ))
    })?;
    contained(work)
}

fn change(
    table: &Table,
    action: isoforge_rootfs::cleanup::Action,
    path: &str,
    why: &str,
) -> Change {
    use isoforge_offenders::Kind as K;
    use isoforge_rootfs::cleanup::Action as A;
    let rule = [K::File, K::Dir, K::Other]
        .iter()
        .filter_map(|k| table.cleanup(path, *k))
        .find(|r| r.cause == why)
        .map(|r| format!("{} {}", r.id, r.glob))
        .unwrap_or_else(|| "owners".into());
    Change {
        path: format!("/{path}"),
        action: match action {
            A::Truncate => "emptied",
            A::Own => "owned",
            A::RemoveFile | A::RemoveTree => "removed",
        }
        .into(),
        rule,
        cause: why.to_string(),
    }
}

/// Copies bytes `start..end` of `from` to a new file `to`.
fn copy_interval(from: &Path, start: u64, end: u64, to: &Path) -> Result<(), Error> {
    use std::io::{Read, Seek, SeekFrom};
    let len = end - start;
    if len > fat::MAX_IMAGE {
        return Err(Error::Invalid(format!(
            "an appended partition of {len} bytes; at most {} are read",
            fat::MAX_IMAGE
        )));
    }
    let mut f =
        std::fs::File::open(from).map_err(io_err(format!("cannot open {}", from.display())))?;
    f.seek(SeekFrom::Start(start))
        .map_err(io_err("cannot seek in the input"))?;
    let mut out =
        std::fs::File::create(to).map_err(io_err(format!("cannot create {}", to.display())))?;
    let n = std::io::copy(&mut f.take(len), &mut out).map_err(io_err("cannot copy"))?;
    if n != len {
        return Err(Error::Invalid(format!(
            "{}: the appended partition runs past the end (truncated image)",
            from.display()
        )));
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let mut f =
        std::fs::File::open(path).map_err(io_err(format!("cannot read {}", path.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io_err(format!("cannot read {}", path.display())))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
