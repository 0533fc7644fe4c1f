//! Acceptance tests of `isoforge normalize` with the real tools: grub-mkrescue ISOs of a tree
//! holding a live squashfs (mksquashfs) and an initrd (cpio, zstd), a stand-in builder that
//! leaves known offenders in an otherwise identical rootfs, and hostile inputs.

use std::path::{Path, PathBuf};

use isoforge_exec::Progress;
use isoforge_normalize::{Error, Options, Report, normalize};

const EPOCH: i64 = 1_700_000_000;

fn run(cmd: &str, args: &[&str], cwd: Option<&Path>) -> Vec<u8> {
    let mut c = isoforge_exec::tool(cmd);
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    isoforge_exec::capture(c).unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"))
}

fn sh(script: &str, cwd: &Path) -> Vec<u8> {
    run("sh", &["-ec", script], Some(cwd))
}

fn write(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An initrd as initramfs builders write it: an uncompressed early archive, then a zstd
/// stream of the main archive, listed in `find` order (not sorted), files stamped now.
fn make_initrd(dir: &Path, out: &Path) {
    let early = dir.join("early");
    let main = dir.join("main");
    write(&early, "kernel/x86/microcode/GenuineIntel.bin", b"ucode");
    for (rel, body) in [
        ("init", &b"#!/bin/sh\necho init\n"[..]),
        ("scripts/live", b"live"),
        ("etc/conf", b"x=1"),
        ("bin/sh", b"shell"),
    ] {
        write(&main, rel, body);
    }
    sh(
        &format!(
            "find . | cpio -o -H newc --quiet > {d}/early.cpio",
            d = dir.display()
        ),
        &early,
    );
    sh(
        &format!(
            "find . | cpio -o -H newc --quiet | zstd -q -3 > {d}/main.cpio.zst",
            d = dir.display()
        ),
        &main,
    );
    sh(
        &format!("cat early.cpio main.cpio.zst > {}", out.display()),
        dir,
    );
}

/// A grub-mkrescue ISO of a live tree whose squashfs holds `rootfs`.
fn make_iso(work: &Path, rootfs: &Path, name: &str) -> PathBuf {
    make_iso_with(work, rootfs, name, None)
}

/// [`make_iso`], with live-build's `/.disk/id/<uuid>` marker that grub.cfg searches for.
fn make_iso_with(work: &Path, rootfs: &Path, name: &str, disk_id: Option<&str>) -> PathBuf {
    let tree = work.join(format!("{name}.tree"));
    std::fs::create_dir_all(tree.join("live")).unwrap();
    std::fs::create_dir_all(tree.join("boot/grub")).unwrap();
    run(
        "mksquashfs",
        &[
            rootfs.to_str().unwrap(),
            tree.join("live/filesystem.squashfs").to_str().unwrap(),
            "-noappend",
            "-quiet",
            "-no-progress",
        ],
        None,
    );
    let scratch = work.join(format!("{name}.initrd"));
    std::fs::create_dir_all(&scratch).unwrap();
    make_initrd(&scratch, &tree.join("live/initrd.img"));
    std::fs::write(tree.join("live/vmlinuz"), b"not a kernel").unwrap();
    let mut cfg = String::new();
    if let Some(id) = disk_id {
        write(&tree, &format!(".disk/id/{id}"), b"");
        cfg += &format!("search --file --set=root /.disk/id/{id}\n");
    }
    cfg += "menuentry live {\n  linux /live/vmlinuz boot=live\n  initrd /live/initrd.img\n}\n";
    std::fs::write(tree.join("boot/grub/grub.cfg"), cfg).unwrap();
    let iso = work.join(format!("{name}.iso"));
    run(
        "grub-mkrescue",
        &["-o", iso.to_str().unwrap(), tree.to_str().unwrap()],
        None,
    );
    iso
}

fn options(input: &Path, output: &Path) -> Options {
    Options {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        epoch: EPOCH,
        table: isoforge_offenders::Table::builtin(),
        mksquashfs_options: ["-comp", "xz", "-b", "1M", "-no-exports", "-no-recovery"]
            .map(String::from)
            .to_vec(),
        max_unpacked: None,
        force: false,
    }
}

fn norm(input: &Path, output: &Path) -> Result<Report, Error> {
    normalize(&options(input, output), &Progress::plain(false))
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".isoforge-normalize-"))
        .collect()
}

fn needs_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        panic!("these tests need root (numeric owners on extraction); run them as root");
    }
    true
}

/// Two grub-mkrescue ISOs of the same tree differ (the FAT serial, the boot catalog's and the
/// volume's dates, the initrd's mtimes); after normalize they are the same bytes, with both
/// El Torito entries and the MBR/GPT hybrid kept.
#[test]
fn grub_mkrescue_pair_becomes_identical() {
    needs_root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rootfs = d.join("rootfs");
    write(&rootfs, "etc/os-release", b"ID=test\n");
    write(&rootfs, "usr/bin/tool", b"tool");
    let a = make_iso(d, &rootfs, "a");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&rootfs, "usr/bin/tool", b"tool"); // same content, a later mtime
    let b = make_iso(d, &rootfs, "b");
    assert_ne!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "grub-mkrescue ISOs of the same tree should differ"
    );
    let ra = norm(&a, &d.join("na.iso")).unwrap();
    let rb = norm(&b, &d.join("nb.iso")).unwrap();
    let na = std::fs::read(d.join("na.iso")).unwrap();
    assert_eq!(
        na,
        std::fs::read(d.join("nb.iso")).unwrap(),
        "{}",
        rb.render()
    );
    assert_eq!(ra.sha256, rb.sha256);

    // The boot setup is the input's.
    assert_eq!(
        isoforge_iso::boot_platforms(&d.join("na.iso")).unwrap(),
        ["BIOS", "UEFI"]
    );
    let mut cmd = isoforge_exec::tool("xorriso");
    cmd.args(["-no_rc", "-indev"]).arg(d.join("na.iso")).args([
        "-report_system_area",
        "plain",
        "-pvd_info",
    ]);
    let sys = String::from_utf8_lossy(&isoforge_exec::capture(cmd).unwrap()).into_owned();
    assert!(
        sys.contains("System area summary: MBR protective-msdos-label grub2-mbr"),
        "{sys}"
    );
    assert!(
        sys.contains("GPT partname local :   2  EFI boot partition"),
        "{sys}"
    );
    assert!(sys.contains("Volume Id    : ISOIMAGE"), "{sys}");
    assert!(sys.contains("Creation Time: 2023111422132000"), "{sys}");

    // What the report says.
    let text = ra.render();
    assert_eq!(ra.efi_images.len(), 1, "{text}");
    assert_eq!(ra.efi_images[0].path, "/efi.img");
    assert_eq!(ra.efi_images[0].serial_to, "6553f100");
    assert_ne!(ra.efi_images[0].serial_from, rb.efi_images[0].serial_from);
    assert_eq!(ra.iso.boot_catalog.as_deref(), Some("/boot.catalog"));
    let initrd = ra
        .initrds
        .iter()
        .find(|i| i.path == "/live/initrd.img")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(initrd.outcome, "rewritten", "{text}");
    assert_eq!(initrd.segments.len(), 2, "{text}");
    assert_eq!(initrd.segments[0].kind, "cpio");
    assert_eq!(initrd.segments[1].kind, "zstd");
    assert!(
        initrd.segments[1].moved > 0,
        "find order is not sorted: {text}"
    );
    assert!(initrd.segments[1].mtimes_clamped > 0, "{text}");
    assert!(text.contains("volume serial"), "{text}");

    // A normalized ISO is already normalized: the initrd is kept, the bytes are the same.
    let again = norm(&d.join("na.iso"), &d.join("nna.iso")).unwrap();
    let i = again
        .initrds
        .iter()
        .find(|i| i.path == "/live/initrd.img")
        .unwrap();
    assert_eq!(i.outcome, "kept", "{}", again.render());
    assert_eq!(std::fs::read(d.join("nna.iso")).unwrap(), na);

    // The initrd is still what the kernel unpacks: every file, sorted, times clamped.
    let mut x = isoforge_exec::tool("xorriso");
    x.args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(d.join("na.iso"))
        .args(["-extract", "/live/initrd.img"])
        .arg(d.join("initrd.out"));
    isoforge_exec::capture(x).unwrap();
    let listing = sh(
        "mkdir -p x && cd x && (cpio -i --quiet; zstd -dc | cpio -itv --quiet) < ../initrd.out",
        d,
    );
    let listing = String::from_utf8_lossy(&listing);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            ".",
            "bin",
            "bin/sh",
            "etc",
            "etc/conf",
            "init",
            "scripts",
            "scripts/live"
        ],
        "{listing}"
    );
    assert!(listing.contains("Nov 14  2023"), "{listing}");
    assert_eq!(
        std::fs::read(d.join("x/kernel/x86/microcode/GenuineIntel.bin")).unwrap(),
        b"ucode"
    );
    assert!(leftovers(d).is_empty());
}

/// A stand-in builder writes a random machine-id, a random nvme host id, a dkms make.log with
/// the wall-clock time and a .pyc into an otherwise identical rootfs: normalize makes the two
/// ISOs identical and names each file and the rule that fixed it.
#[test]
fn stand_in_builder_offenders_are_cleaned_and_named() {
    needs_root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut isos = Vec::new();
    for name in ["a", "b"] {
        let rootfs = d.join(format!("{name}.rootfs"));
        write(&rootfs, "etc/os-release", b"ID=standin\n");
        write(&rootfs, "usr/share/doc/x/copyright", b"free");
        write(
            &rootfs,
            "etc/machine-id",
            format!("{}\n", random_hex(16)).as_bytes(),
        );
        write(&rootfs, "etc/nvme/hostid", random_hex(16).as_bytes());
        let now = time::OffsetDateTime::now_utc();
        write(
            &rootfs,
            "var/lib/dkms/zfs/2.1.11/6.1.0-13-amd64/x86_64/log/make.log",
            format!("DKMS make.log for zfs-2.1.11 at {now} {}\n", random_hex(4)).as_bytes(),
        );
        write(
            &rootfs,
            "usr/lib/python3/dist-packages/m/__pycache__/m.cpython-311.pyc",
            random_hex(32).as_bytes(),
        );
        write(&rootfs, "usr/lib/python3/dist-packages/m/__init__.py", b"");
        let h = random_hex(16);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
        isos.push(make_iso_with(d, &rootfs, name, Some(&id)));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_ne!(
        std::fs::read(&isos[0]).unwrap(),
        std::fs::read(&isos[1]).unwrap()
    );
    let ra = norm(&isos[0], &d.join("na.iso")).unwrap();
    let rb = norm(&isos[1], &d.join("nb.iso")).unwrap();
    assert_eq!(
        std::fs::read(d.join("na.iso")).unwrap(),
        std::fs::read(d.join("nb.iso")).unwrap()
    );
    let text = rb.render();
    for (action, path, rule) in [
        ("emptied", "/etc/machine-id", "etc/machine-id"),
        ("removed", "/etc/nvme/hostid", "etc/nvme/hostid"),
        (
            "removed",
            "/var/lib/dkms/zfs/2.1.11/6.1.0-13-amd64/x86_64/log/make.log",
            "var/lib/dkms/**/make.log",
        ),
        (
            "removed",
            "/usr/lib/python3/dist-packages/m/__pycache__",
            "__pycache__",
        ),
    ] {
        let c = rb
            .rootfs
            .changes
            .iter()
            .find(|c| c.path == path)
            .unwrap_or_else(|| panic!("{path} not in the report:\n{text}"));
        assert_eq!(c.action, action, "{text}");
        assert!(c.rule.contains(rule), "{path}: rule {:?}\n{text}", c.rule);
        assert!(!c.cause.is_empty());
        assert!(text.contains(&format!("{action} {path}: rule")), "{text}");
    }
    assert_eq!(ra.rootfs.changes.len(), rb.rootfs.changes.len());
    // live-build's random disk id: one UUID from the epoch, in its name and in grub.cfg.
    let (ia, ib) = (ra.iso.disk_id.unwrap(), rb.iso.disk_id.clone().unwrap());
    assert_ne!(ia.from, ib.from);
    assert_eq!(ia.to, ib.to);
    assert_eq!(ib.rewritten_in, ["/boot/grub/grub.cfg"]);
    assert!(
        text.contains(&format!("/.disk/id/{} -> /.disk/id/{}", ib.from, ib.to)),
        "{text}"
    );
    let json = serde_json::to_string(&rb).unwrap();
    assert!(json.contains("\"/etc/nvme/hostid\""), "{json}");
}

/// Hostile inputs: each is a clear error (nothing written, no work directory left) or a safe
/// result; nothing outside the work tree is touched.
#[test]
fn hostile_inputs_are_refused_or_safe() {
    needs_root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rootfs = d.join("rootfs");
    write(&rootfs, "etc/os-release", b"ID=test\n");
    let good = make_iso(d, &rootfs, "good");
    let out = d.join("out.iso");
    let refused = |input: &Path, want: &str| {
        let e = norm(input, &out).unwrap_err().to_string();
        assert!(e.contains(want), "{}: {e}", input.display());
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(!out.exists());
        assert!(leftovers(d).is_empty());
    };

    // Truncated.
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.join("truncated.iso");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(&cut, "truncated");
    // Not an ISO at all.
    let junk = d.join("junk.iso");
    std::fs::write(&junk, vec![0x41u8; 40_000]).unwrap();
    refused(&junk, "not an ISO 9660 image");

    // An ISO without a squashfs.
    let plain = d.join("plain.tree");
    write(&plain, "README", b"no live system here");
    let nosq = d.join("nosquashfs.iso");
    run(
        "xorriso",
        &[
            "-no_rc",
            "-as",
            "mkisofs",
            "-r",
            "-o",
            nosq.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
        None,
    );
    refused(&nosq, "no root squashfs");

    // A squashfs with an entry named `../x`: unsquashfs refuses it, nothing lands outside.
    let evil = d.join("evil.rootfs");
    write(&evil, "zz_x", b"pwned\n");
    std::os::unix::fs::symlink("/etc/shadow", evil.join("shadow")).unwrap();
    let raw = d.join("raw.sqfs");
    run(
        "mksquashfs",
        &[
            evil.to_str().unwrap(),
            raw.to_str().unwrap(),
            "-noappend",
            "-quiet",
            "-no-progress",
            "-noI",
            "-noD",
            "-noF",
            "-noX",
            "-no-xattrs",
        ],
        None,
    );
    let mut img = std::fs::read(&raw).unwrap();
    let at = img
        .windows(4)
        .position(|w| w == b"zz_x")
        .expect("uncompressed directory table holds the name");
    img[at..at + 4].copy_from_slice(b"../x");
    let tree = d.join("evil.tree");
    write(&tree, "live/filesystem.squashfs", &img);
    let evil_iso = d.join("evil.iso");
    run(
        "xorriso",
        &[
            "-no_rc",
            "-as",
            "mkisofs",
            "-r",
            "-o",
            evil_iso.to_str().unwrap(),
            tree.to_str().unwrap(),
        ],
        None,
    );
    refused(&evil_iso, "unsquashfs refused the root squashfs");
    assert!(!d.join("x").exists());

    // The same squashfs without the bad name: the symlink to /etc/shadow stays a symlink and
    // the host's file is neither read nor touched.
    let shadow_before = std::fs::symlink_metadata("/etc/shadow").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.mtime(), m.ctime(), m.len())
    });
    std::fs::remove_file(evil.join("zz_x")).unwrap();
    let tree2 = d.join("link.tree");
    std::fs::create_dir_all(tree2.join("live")).unwrap();
    run(
        "mksquashfs",
        &[
            evil.to_str().unwrap(),
            tree2.join("live/filesystem.squashfs").to_str().unwrap(),
            "-noappend",
            "-quiet",
            "-no-progress",
        ],
        None,
    );
    let link_iso = d.join("link.iso");
    run(
        "xorriso",
        &[
            "-no_rc",
            "-as",
            "mkisofs",
            "-r",
            "-o",
            link_iso.to_str().unwrap(),
            tree2.to_str().unwrap(),
        ],
        None,
    );
    norm(&link_iso, &out).unwrap();
    let shadow_after = std::fs::symlink_metadata("/etc/shadow").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.mtime(), m.ctime(), m.len())
    });
    assert_eq!(shadow_before, shadow_after);
    let mut x = isoforge_exec::tool("xorriso");
    x.args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(&out)
        .args(["-extract", "/live/filesystem.squashfs"])
        .arg(d.join("link.sqfs"));
    isoforge_exec::capture(x).unwrap();
    let listing = run(
        "unsquashfs",
        &["-lls", d.join("link.sqfs").to_str().unwrap()],
        None,
    );
    assert!(
        String::from_utf8_lossy(&listing).contains("squashfs-root/shadow -> /etc/shadow"),
        "{}",
        String::from_utf8_lossy(&listing)
    );
    std::fs::remove_file(&out).unwrap();

    // An initrd bomb: 256 MiB of zeros in a few KiB of zstd, against an 8 MiB bound.
    let bomb_tree = d.join("bomb.tree");
    std::fs::create_dir_all(bomb_tree.join("live")).unwrap();
    std::fs::copy(
        d.join("good.tree/live/filesystem.squashfs"),
        bomb_tree.join("live/filesystem.squashfs"),
    )
    .unwrap();
    sh(
        &format!(
            "head -c 268435456 /dev/zero | zstd -q -19 > {}",
            bomb_tree.join("live/initrd.img").display()
        ),
        d,
    );
    let bomb_iso = d.join("bomb.iso");
    run(
        "xorriso",
        &[
            "-no_rc",
            "-as",
            "mkisofs",
            "-r",
            "-o",
            bomb_iso.to_str().unwrap(),
            bomb_tree.to_str().unwrap(),
        ],
        None,
    );
    let mut o = options(&bomb_iso, &out);
    o.max_unpacked = Some(8 << 20);
    let e = normalize(&o, &Progress::plain(false))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("initrd /live/initrd.img") && e.contains("limit is 8388608 bytes"),
        "{e}"
    );
    assert!(!out.exists());
    assert!(leftovers(d).is_empty());
}

/// A boot config that finds the ISO by its volume UUID (`search --fs-uuid`, which GRUB reads
/// from the volume's modification date) is told the new UUID, which follows the pinned date.
#[test]
fn grub_search_uuid_follows_the_pinned_date() {
    needs_root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rootfs = d.join("rootfs");
    write(&rootfs, "etc/os-release", b"ID=test\n");
    let tree = d.join("tree");
    std::fs::create_dir_all(tree.join("live")).unwrap();
    run(
        "mksquashfs",
        &[
            rootfs.to_str().unwrap(),
            tree.join("live/filesystem.squashfs").to_str().unwrap(),
            "-quiet",
            "-no-progress",
        ],
        None,
    );
    write(
        &tree,
        "boot/grub/grub.cfg",
        b"search --no-floppy --fs-uuid --set=root 2020-01-02-03-04-05-00\nconfigfile /x\n",
    );
    let iso = d.join("in.iso");
    run(
        "xorriso",
        &[
            "-no_rc",
            "-as",
            "mkisofs",
            "-r",
            "--modification-date=2020010203040500",
            "-o",
            iso.to_str().unwrap(),
            tree.to_str().unwrap(),
        ],
        None,
    );
    let r = norm(&iso, &d.join("out.iso")).unwrap();
    assert_eq!(
        r.iso.grub_uuid_from.as_deref(),
        Some("2020-01-02-03-04-05-00")
    );
    assert_eq!(r.iso.grub_uuid_to, "2023-11-14-22-13-20-00");
    assert_eq!(r.iso.grub_uuid_rewritten_in, ["/boot/grub/grub.cfg"]);
    let mut x = isoforge_exec::tool("xorriso");
    x.args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(d.join("out.iso"))
        .args(["-extract", "/boot/grub/grub.cfg"])
        .arg(d.join("grub.cfg"));
    isoforge_exec::capture(x).unwrap();
    assert_eq!(
        std::fs::read_to_string(d.join("grub.cfg")).unwrap(),
        "search --no-floppy --fs-uuid --set=root 2023-11-14-22-13-20-00\nconfigfile /x\n"
    );
}
