//! `config/includes.chroot/` copied into a real directory tree: modes, owners, symlinks kept as
//! links, no write outside the image through its symlinks, and bad input refused with one
//! line naming the file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use isoforge_fs::Dir;
use isoforge_inputs::overlays::{self, CHROOT};
use isoforge_rootfs::overlay::{Existing, apply};

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A config with a nested file, an executable, and symlinks pointing outside.
fn config() -> tempfile::TempDir {
    let c = tempfile::tempdir().unwrap();
    let o = c.path().join(CHROOT);
    fs::create_dir_all(o.join("etc/app/conf.d")).unwrap();
    fs::write(o.join("etc/app/conf.d/a.conf"), "a=1\n").unwrap();
    fs::write(o.join("etc/app/secret"), "s\n").unwrap();
    fs::create_dir_all(o.join("usr/local/bin")).unwrap();
    fs::write(o.join("usr/local/bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        o.join("usr/local/bin/hello"),
        fs::Permissions::from_mode(0o775),
    )
    .unwrap();
    // Odd committed modes collapse to what git keeps.
    fs::set_permissions(
        o.join("etc/app/conf.d/a.conf"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    symlink("/etc/shadow", o.join("etc/app/shadow")).unwrap();
    symlink("../../..", o.join("etc/app/up")).unwrap();
    fs::create_dir_all(o.join("srv/empty")).unwrap();
    fs::write(o.join("srv/empty/.keep"), "").unwrap();
    c
}

#[test]
fn copies_files_modes_owners_and_symlinks_as_symlinks() {
    let c = config();
    fs::write(
        c.path().join(overlays::OWNERS),
        "# owners\nincludes.chroot/etc/app/secret 0:42 0640\n\
         includes.chroot/srv/empty 1000:1000   # a home\n",
    )
    .unwrap();
    let loaded = overlays::load(c.path()).unwrap();
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::create_dir_all(root.path().join("tmp")).unwrap();
    fs::set_permissions(root.path().join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let dest = Dir::open_image(root.path()).unwrap();
    let wrote = apply(&loaded.chroot, CHROOT, &dest, Existing::Replace).unwrap();
    assert!(wrote.iter().any(|p| p == Path::new("usr/local/bin/hello")));
    assert!(!wrote.iter().any(|p| p.ends_with(".keep")));

    let r = root.path();
    assert_eq!(
        fs::read_to_string(r.join("etc/app/conf.d/a.conf")).unwrap(),
        "a=1\n"
    );
    assert_eq!(mode(&r.join("etc/app/conf.d/a.conf")), 0o644);
    assert_eq!(mode(&r.join("usr/local/bin/hello")), 0o755);
    assert_eq!(mode(&r.join("usr/local/bin")), 0o755);
    let secret = fs::metadata(r.join("etc/app/secret")).unwrap();
    assert_eq!(
        (secret.uid(), secret.gid(), secret.mode() & 0o7777),
        (0, 42, 0o640)
    );
    let empty = fs::metadata(r.join("srv/empty")).unwrap();
    assert!(empty.is_dir());
    assert_eq!((empty.uid(), empty.gid()), (1000, 1000));
    assert!(!r.join("srv/empty/.keep").exists());
    // Symlinks stay symlinks with the committed target; nothing was read through them.
    for (link, target) in [
        ("etc/app/shadow", "/etc/shadow"),
        ("etc/app/up", "../../.."),
    ] {
        let m = fs::symlink_metadata(r.join(link)).unwrap();
        assert!(m.file_type().is_symlink(), "{link}");
        assert_eq!(fs::read_link(r.join(link)).unwrap(), Path::new(target));
    }
    // An existing directory keeps its mode.
    assert_eq!(mode(&r.join("tmp")), 0o1777);
}

#[test]
fn a_symlink_planted_in_the_image_does_not_lead_outside() {
    let c = config();
    let loaded = overlays::load(c.path()).unwrap();
    let host = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("etc")).unwrap();
    // The image's /etc/app points at an absolute path that exists on the host ...
    symlink(host.path(), r.join("etc/app")).unwrap();
    // ... and its /usr/local/bin/hello at a host file.
    fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    let victim = host.path().join("victim");
    fs::write(&victim, "host\n").unwrap();
    symlink(&victim, r.join("usr/local/bin/hello")).unwrap();
    let dest = Dir::open_image(r).unwrap();
    let result = apply(&loaded.chroot, CHROOT, &dest, Existing::Replace);

    // Whatever the outcome, the host directory is untouched.
    assert_eq!(
        fs::read_dir(host.path()).unwrap().count(),
        1,
        "{result:?}: wrote into the host directory"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "host\n");
    // /etc/app resolves inside the image to a path that does not exist there: refused.
    let e = result.unwrap_err().to_string();
    assert!(e.contains("etc/app"), "{e}");

    // With the image's own target present, the write lands inside the image.
    let inside = r.join(host.path().strip_prefix("/").unwrap());
    fs::create_dir_all(&inside).unwrap();
    apply(&loaded.chroot, CHROOT, &dest, Existing::Replace).unwrap();
    assert_eq!(
        fs::read_to_string(inside.join("conf.d/a.conf")).unwrap(),
        "a=1\n"
    );
    assert_eq!(fs::read_dir(host.path()).unwrap().count(), 1);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "host\n");
    // The planted file link was replaced, not written through.
    let hello = r.join("usr/local/bin/hello");
    assert!(fs::symlink_metadata(&hello).unwrap().is_file());
    assert_eq!(fs::read_to_string(&hello).unwrap(), "#!/bin/sh\necho hi\n");
}

#[test]
fn the_iso_tree_refuses_replacing_isoforge_files() {
    let c = tempfile::tempdir().unwrap();
    let o = c.path().join(overlays::BINARY);
    fs::create_dir_all(o.join("live")).unwrap();
    fs::write(o.join("live/vmlinuz"), "mine").unwrap();
    fs::write(o.join("README.txt"), "hello").unwrap();
    let loaded = overlays::load(c.path()).unwrap();
    let staging = tempfile::tempdir().unwrap();
    fs::create_dir_all(staging.path().join("live")).unwrap();
    fs::write(staging.path().join("live/vmlinuz"), "kernel").unwrap();
    let dest = Dir::open(staging.path()).unwrap();
    let e = apply(&loaded.binary, overlays::BINARY, &dest, Existing::Refuse)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("includes.binary/live/vmlinuz") && e.contains("already"),
        "{e}"
    );
    assert_eq!(
        fs::read_to_string(staging.path().join("live/vmlinuz")).unwrap(),
        "kernel"
    );
}

fn load_err(c: &Path) -> String {
    let e = overlays::load(c).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    e
}

#[test]
fn bad_input_is_one_line_naming_the_file() {
    let c = config();
    let owners = c.path().join(overlays::OWNERS);
    for (text, want) in [
        (
            "includes.chroot/etc/app/secret root:root\n",
            ":1: \"root:root\": expected numeric UID:GID",
        ),
        (
            "includes.chroot/etc/app/secret 0:0 999\n",
            ":1: \"999\": expected an octal mode",
        ),
        (
            "\nincludes.chroot/etc/nope 0:0\n",
            ":2: includes.chroot/etc/nope: no such file in the overlay",
        ),
        (
            "includes.chroot/../x 0:0\n",
            ":1: includes.chroot/../x: refusing a path with `..`",
        ),
        ("/etc/x 0:0\n", "refusing a path"),
        ("etc/x 0:0\n", "must start with includes.chroot/"),
        ("includes.chroot/etc/app/up 0:0 0644\n", "is a symlink"),
        (
            "includes.chroot/etc/app/secret\n",
            "expected `PATH UID:GID [MODE]`",
        ),
    ] {
        fs::write(&owners, text).unwrap();
        let e = load_err(c.path());
        assert!(e.starts_with(&owners.display().to_string()), "{e}");
        assert!(e.contains(want), "{text:?}: {e}");
    }
    fs::remove_file(&owners).unwrap();

    // A fifo in the overlay.
    let fifo = c.path().join(CHROOT).join("etc/app/pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let e = load_err(c.path());
    assert!(
        e.starts_with(&fifo.display().to_string()) && e.contains("fifo"),
        "{e}"
    );
    fs::remove_file(&fifo).unwrap();

    // A symlinked overlay, or a symlinked directory in it, is refused, not followed.
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("x"), "x").unwrap();
    let o = c.path().join(CHROOT);
    fs::rename(&o, c.path().join("real")).unwrap();
    symlink("real", &o).unwrap();
    let e = load_err(c.path());
    assert!(
        e.contains("includes.chroot") && e.contains("symbolic link"),
        "{e}"
    );
    fs::remove_file(&o).unwrap();
    fs::rename(c.path().join("real"), &o).unwrap();
    assert!(overlays::load(c.path()).is_ok());
}

#[test]
fn overlays_change_the_profile_hash_and_nothing_else() {
    let c = tempfile::tempdir().unwrap();
    fs::write(c.path().join("silvermetal-base.conf"), "NAME=x\n").unwrap();
    let before = isoforge_inputs::profile_sha256(c.path(), None).unwrap();
    // An empty overlay directory hashes as none.
    fs::create_dir_all(c.path().join(CHROOT)).unwrap();
    assert_eq!(
        isoforge_inputs::profile_sha256(c.path(), None).unwrap(),
        before
    );
    fs::write(c.path().join(CHROOT).join("motd"), "hi\n").unwrap();
    let with = isoforge_inputs::profile_sha256(c.path(), None).unwrap();
    assert_ne!(with, before);
    fs::set_permissions(
        c.path().join(CHROOT).join("motd"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let exec = isoforge_inputs::profile_sha256(c.path(), None).unwrap();
    assert_ne!(exec, with);
    fs::write(
        c.path().join(overlays::OWNERS),
        "includes.chroot/motd 0:1\n",
    )
    .unwrap();
    assert_ne!(
        isoforge_inputs::profile_sha256(c.path(), None).unwrap(),
        exec
    );
    fs::remove_file(c.path().join(overlays::OWNERS)).unwrap();
    fs::remove_dir_all(c.path().join(CHROOT)).unwrap();
    assert_eq!(
        isoforge_inputs::profile_sha256(c.path(), None).unwrap(),
        before
    );
}

/// The build's clamp, which runs after the overlay, brings its files, directories and
/// symlinks to SOURCE_DATE_EPOCH.
#[test]
fn overlay_times_are_clamped_by_the_stage_after_it() {
    let c = config();
    let loaded = overlays::load(c.path()).unwrap();
    let root = tempfile::tempdir().unwrap();
    apply(
        &loaded.chroot,
        CHROOT,
        &Dir::open_image(root.path()).unwrap(),
        Existing::Replace,
    )
    .unwrap();
    let epoch = 1_700_000_000;
    isoforge_rootfs::tree::clamp_times(root.path(), epoch).unwrap();
    for rel in [
        "etc/app/conf.d/a.conf",
        "etc/app/conf.d",
        "usr/local/bin/hello",
        "etc/app/shadow",
        "srv/empty",
    ] {
        let m = fs::symlink_metadata(root.path().join(rel)).unwrap();
        assert_eq!(m.mtime(), epoch, "{rel}");
    }
}
