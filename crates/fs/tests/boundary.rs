//! The boundary's promises, each against real files: symlinks planted where root writes,
//! removes or copies never reach the sentinel outside.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use isoforge_fs::{
    AtomicFile, Dir, Error, Kind, persist, remove_tree, remove_tree_at, replace_dir, write_atomic,
};

/// A directory outside every tree under test, with a file that must survive.
fn sentinel() -> tempfile::TempDir {
    let s = tempfile::tempdir().unwrap();
    fs::create_dir(s.path().join("sub")).unwrap();
    fs::write(s.path().join("sub/keep"), "host").unwrap();
    fs::write(s.path().join("secret"), "host secret").unwrap();
    s
}

fn intact(s: &tempfile::TempDir) {
    assert_eq!(
        fs::read_to_string(s.path().join("sub/keep")).unwrap(),
        "host"
    );
    assert_eq!(
        fs::read_to_string(s.path().join("secret")).unwrap(),
        "host secret"
    );
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_symlinked_root_is_refused_naming_the_path() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let link = t.path().join("out");
    symlink(s.path(), &link).unwrap();
    for e in [
        Dir::open(&link).unwrap_err(),
        Dir::open_image(&link).unwrap_err(),
    ] {
        assert!(matches!(e, Error::Symlink(_)), "{e:?}");
        assert!(e.to_string().contains(&link.display().to_string()), "{e}");
    }
}

#[test]
fn beneath_refuses_every_way_out() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("a")).unwrap();
    fs::write(t.path().join("a/f"), "own").unwrap();
    symlink(s.path(), t.path().join("a/out")).unwrap();
    symlink("f", t.path().join("a/rel")).unwrap();
    let d = Dir::open(t.path()).unwrap();
    for bad in [
        "a/out/secret",
        "../secret",
        "a/../../secret",
        "/etc/hostname",
    ] {
        let e = d.open_file(bad).unwrap_err();
        assert!(matches!(e, Error::Escape(_)), "{bad}: {e:?}");
    }
    // A symlink that stays inside is fine.
    assert_eq!(
        std::io::read_to_string(d.open_file("a/rel").unwrap()).unwrap(),
        "own"
    );
    assert_eq!(d.kind("a/out").unwrap(), Some(Kind::Symlink));
    assert_eq!(d.kind("a/missing").unwrap(), None);
    assert_eq!(d.read_dir("a").unwrap(), ["f", "out", "rel"]);
    intact(&s);
}

/// A maintainer script's `ln -sf /root/.ssh/id_ed25519 /boot/initrd.img-X`, in its absolute
/// and `../..` forms: the copy takes the image's own file or nothing, never the host's.
#[test]
fn copy_from_an_image_never_ships_a_host_file() {
    let s = sentinel();
    let host_secret = s.path().join("secret");
    let img = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::create_dir(img.path().join("boot")).unwrap();
    fs::write(img.path().join("boot/vmlinuz-6"), "kernel").unwrap();
    let up = format!("../../../../../../../..{}", host_secret.display());
    symlink(&host_secret, img.path().join("boot/initrd.img-abs")).unwrap();
    symlink(&up, img.path().join("boot/initrd.img-up")).unwrap();
    let root = Dir::open_image(img.path()).unwrap();

    // Nothing at that path inside the image: refused.
    for name in ["initrd.img-abs", "initrd.img-up"] {
        let e = root
            .copy_regular(format!("boot/{name}"), &out.path().join(name))
            .unwrap_err();
        assert_eq!(e.kind(), Some(std::io::ErrorKind::NotFound), "{name}: {e}");
        assert!(!out.path().join(name).exists());
    }
    // The image has its own file at that path: that one is copied.
    let inside = img.path().join(host_secret.strip_prefix("/").unwrap());
    fs::create_dir_all(inside.parent().unwrap()).unwrap();
    fs::write(&inside, "image's own").unwrap();
    for name in ["initrd.img-abs", "initrd.img-up"] {
        root.copy_regular(format!("boot/{name}"), &out.path().join(name))
            .unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join(name)).unwrap(),
            "image's own"
        );
    }
    assert_eq!(
        root.copy_regular("boot/vmlinuz-6", &out.path().join("k"))
            .unwrap(),
        6
    );
    assert_eq!(fs::read_to_string(out.path().join("k")).unwrap(), "kernel");
    intact(&s);
}

#[test]
fn copy_refuses_what_is_not_a_regular_file() {
    let img = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::create_dir(img.path().join("d")).unwrap();
    nix::unistd::mkfifo(
        &img.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    symlink("/dev/null", img.path().join("null")).unwrap();
    let root = Dir::open_image(img.path()).unwrap();
    for (name, kind) in [("d", Kind::Dir), ("fifo", Kind::Special)] {
        match root.copy_regular(name, &out.path().join(name)) {
            Err(Error::NotRegular { kind: k, path }) => {
                assert_eq!(k, kind);
                assert!(path.ends_with(name), "{}", path.display());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // `/dev/null` inside the image does not exist; the host's is never opened.
    assert!(root.copy_regular("null", &out.path().join("null")).is_err());
    assert!(
        names(out.path()).is_empty(),
        "nothing half-written: {:?}",
        names(out.path())
    );
}

#[test]
fn remove_tree_unlinks_a_symlinked_root_and_never_follows_links() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    // The planted names isoforge removes: each a symlink to the sentinel.
    for name in [
        ".isoforge-tmp-evil",
        "abc.failed",
        "abc.work",
        "verify-abc",
        ".work-1",
    ] {
        symlink(s.path(), t.path().join(name)).unwrap();
        remove_tree(&t.path().join(name)).unwrap();
        assert!(
            fs::symlink_metadata(t.path().join(name)).is_err(),
            "{name} is gone"
        );
        intact(&s);
    }
    // A real tree with links out, at every depth.
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("a/b/c")).unwrap();
    fs::write(tree.join("a/b/c/f"), "x").unwrap();
    symlink(s.path(), tree.join("a/out")).unwrap();
    symlink(s.path().join("secret"), tree.join("a/b/c/file-link")).unwrap();
    nix::unistd::mkfifo(
        &tree.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let parent = Dir::open(t.path()).unwrap();
    remove_tree_at(&parent, "tree".as_ref()).unwrap();
    assert!(names(t.path()).is_empty());
    intact(&s);
    // Missing is fine; a name with a slash or `..` is refused.
    remove_tree(&t.path().join("missing")).unwrap();
    assert!(matches!(
        remove_tree_at(&parent, "..".as_ref()),
        Err(Error::NoName(_))
    ));
    assert!(matches!(
        remove_tree_at(&parent, "a/b".as_ref()),
        Err(Error::NoName(_))
    ));
}

#[test]
fn remove_tree_refuses_a_tree_deeper_than_its_bound() {
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(t.path()).unwrap();
    let mut rel = std::path::PathBuf::from("deep");
    d.create_dir(&rel, 0o755).unwrap();
    for _ in 0..isoforge_fs_max_depth() {
        rel.push("d");
        d.create_dir(&rel, 0o755).unwrap();
    }
    let e = remove_tree(&t.path().join("deep")).unwrap_err();
    assert!(matches!(e, Error::TooDeep(_)), "{e:?}");
}

fn isoforge_fs_max_depth() -> usize {
    // Kept in step with remove::MAX_DEPTH through the error message.
    let msg = Error::TooDeep("x".into()).to_string();
    msg.split_whitespace().find_map(|w| w.parse().ok()).unwrap()
}

/// Mounts below a tree are detached (through descriptors) and their contents left alone;
/// a symlink standing for the tree does not redirect the unmount to its target.
#[test]
fn remove_tree_detaches_mounts_and_keeps_what_they_showed() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (mounts); run it as root"
    );
    use nix::mount::{MsFlags, mount};
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("rootfs");
    fs::create_dir_all(tree.join("dev")).unwrap();
    fs::create_dir_all(tree.join("run")).unwrap();
    mount(
        Some(s.path()),
        &tree.join("dev"),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    mount(
        Some("tmpfs"),
        &tree.join("run"),
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    fs::write(tree.join("run/x"), "tmp").unwrap();

    // Another mount under the sentinel: a symlink to the sentinel must not unmount it.
    let s_mnt = s.path().join("mnt");
    fs::create_dir(&s_mnt).unwrap();
    mount(
        Some("tmpfs"),
        &s_mnt,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    symlink(s.path(), t.path().join("link")).unwrap();
    remove_tree(&t.path().join("link")).unwrap();
    let mounted = |p: &Path| {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let p = p.canonicalize().unwrap();
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
    };
    assert!(mounted(&s_mnt), "the symlink's target keeps its mount");

    remove_tree(&tree).unwrap();
    assert!(!tree.exists());
    intact(&s);
    nix::mount::umount2(&s_mnt, nix::mount::MntFlags::MNT_DETACH).unwrap();
}

#[test]
fn unmount_under_refuses_a_symlink() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    symlink(s.path(), t.path().join("work")).unwrap();
    let e = isoforge_fs::unmount_under(&t.path().join("work")).unwrap_err();
    assert!(matches!(e, Error::Symlink(_)), "{e:?}");
}

#[test]
fn an_atomic_write_is_all_or_nothing() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("BUILD_INFO");
    fs::write(&f, "old").unwrap();
    {
        let mut w = AtomicFile::create(&f).unwrap();
        std::io::Write::write_all(&mut w, b"half of the new").unwrap();
        // Dropped before commit: a failure in the middle of writing.
    }
    assert_eq!(fs::read_to_string(&f).unwrap(), "old");
    assert_eq!(names(t.path()), ["BUILD_INFO"], "no temporary file remains");
    write_atomic(&f, b"new").unwrap();
    assert_eq!(fs::read_to_string(&f).unwrap(), "new");
    assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o644);
    assert_eq!(names(t.path()), ["BUILD_INFO"]);
}

#[test]
fn an_atomic_write_replaces_a_planted_symlink_not_its_target() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("SHA256SUMS");
    symlink(s.path().join("secret"), &f).unwrap();
    write_atomic(&f, b"sums").unwrap();
    assert!(!fs::symlink_metadata(&f).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(&f).unwrap(), "sums");
    intact(&s);
    // A symlinked parent is refused.
    symlink(s.path(), t.path().join("link")).unwrap();
    let e = write_atomic(&t.path().join("link/x"), b"x").unwrap_err();
    assert!(matches!(e, Error::Symlink(_)), "{e:?}");
    assert!(!s.path().join("x").exists());
}

#[test]
fn replace_dir_swaps_then_removes_the_old_one() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(t.path()).unwrap();
    fs::create_dir_all(t.path().join("stage/new")).unwrap();
    fs::write(t.path().join("stage/new/x.iso"), "new").unwrap();
    fs::create_dir_all(t.path().join("out")).unwrap();
    fs::write(t.path().join("out/x.iso"), "old").unwrap();
    let stage = d.open_dir("stage").unwrap();

    // Without `replace`, an existing destination stays and nothing moves.
    let e = replace_dir(&stage, "new".as_ref(), &d, "out".as_ref(), false).unwrap_err();
    assert_eq!(e.kind(), Some(std::io::ErrorKind::AlreadyExists), "{e}");
    assert_eq!(
        fs::read_to_string(t.path().join("out/x.iso")).unwrap(),
        "old"
    );

    replace_dir(&stage, "new".as_ref(), &d, "out".as_ref(), true).unwrap();
    assert_eq!(
        fs::read_to_string(t.path().join("out/x.iso")).unwrap(),
        "new"
    );
    assert!(
        names(&t.path().join("stage")).is_empty(),
        "the old tree is removed"
    );

    // A planted symlink at the destination is swapped out and unlinked; its target survives.
    fs::create_dir_all(t.path().join("stage/new2")).unwrap();
    symlink(s.path(), t.path().join("planted")).unwrap();
    replace_dir(&stage, "new2".as_ref(), &d, "planted".as_ref(), true).unwrap();
    assert!(
        fs::symlink_metadata(t.path().join("planted"))
            .unwrap()
            .is_dir()
    );
    assert!(names(&t.path().join("stage")).is_empty());
    intact(&s);

    // Fresh destination: a plain move.
    fs::create_dir_all(t.path().join("stage/new3")).unwrap();
    replace_dir(&stage, "new3".as_ref(), &d, "fresh".as_ref(), false).unwrap();
    assert!(t.path().join("fresh").is_dir());
}

/// `cleanup::own` on an image: every component resolves inside it.
#[test]
fn own_dir_changes_only_directories_inside_the_image() {
    let s = sentinel();
    let before = fs::metadata(s.path().join("sub")).unwrap();
    let img = tempfile::tempdir().unwrap();
    fs::create_dir_all(img.path().join("var/lib/x")).unwrap();
    symlink(s.path(), img.path().join("var/evil")).unwrap();
    symlink(s.path().join("sub"), img.path().join("var/lib/last")).unwrap();
    let root = Dir::open_image(img.path()).unwrap();
    assert!(root.own_dir("var/lib/x", 1234, 0, 0o700).unwrap());
    let m = fs::metadata(img.path().join("var/lib/x")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o777), (1234, 0o700));
    // Through a symlinked component (resolved inside the image: not there) and as the last one.
    assert!(!root.own_dir("var/evil/sub", 1234, 0, 0o700).unwrap());
    assert!(!root.own_dir("var/lib/last", 1234, 0, 0o700).unwrap());
    assert!(!root.own_dir("var/missing", 1234, 0, 0o700).unwrap());
    let after = fs::metadata(s.path().join("sub")).unwrap();
    assert_eq!((after.uid(), after.mode()), (before.uid(), before.mode()));
}

#[test]
fn persist_moves_a_tools_file_durably_and_refuses_a_symlink() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("x.part"), "log").unwrap();
    persist(&t.path().join("x.part"), &t.path().join("x.log")).unwrap();
    assert_eq!(names(t.path()), ["x.log"]);
    symlink(s.path().join("secret"), t.path().join("y.part")).unwrap();
    let e = persist(&t.path().join("y.part"), &t.path().join("y.log")).unwrap_err();
    assert!(matches!(e, Error::Symlink(_)), "{e:?}");
    assert!(!t.path().join("y.log").exists());
    intact(&s);
}

/// `rebuild/<first 12 characters of Commit>` with a hostile `Commit`: removal stays beneath
/// `rebuild/` whatever the name says.
#[test]
fn remove_beneath_refuses_names_that_leave() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let top = Dir::create(&t.path().join("rebuild")).unwrap();
    let abs = s.path().display().to_string();
    let up = format!("../../../../../../../../..{abs}");
    for bad in [abs.as_str(), up.as_str(), "..", "a/../.."] {
        let e = top.remove_tree(bad).unwrap_err();
        assert!(
            matches!(e, Error::Escape(_) | Error::NoName(_)),
            "{bad}: {e:?}"
        );
    }
    intact(&s);
    fs::create_dir_all(t.path().join("rebuild/0123456789ab/x")).unwrap();
    top.remove_tree("0123456789ab").unwrap();
    assert!(names(&t.path().join("rebuild")).is_empty());
}

/// Overlay writes into an image: a file or link replaces a planted symlink at its name, the
/// image's absolute links resolve inside it (also as the last directory of the path), and a
/// link's target is stored as given.
#[test]
fn install_replaces_planted_links_and_stays_in_the_image() {
    let s = sentinel();
    let t = tempfile::tempdir().unwrap();
    let abs = s.path().display().to_string();
    fs::create_dir_all(t.path().join(abs.trim_start_matches('/')).join("sub")).unwrap();
    symlink(s.path().join("secret"), t.path().join("f")).unwrap();
    symlink(&abs, t.path().join("d")).unwrap();
    let img = Dir::open_image(t.path()).unwrap();

    img.install_file("f", b"image", 7, 8, 0o640).unwrap();
    let m = fs::symlink_metadata(t.path().join("f")).unwrap();
    assert!(m.is_file());
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (7, 8, 0o640));
    assert_eq!(fs::read_to_string(t.path().join("f")).unwrap(), "image");

    img.install_file("d/secret", b"image", 0, 0, 0o644).unwrap();
    img.install_file("d/sub/keep", b"image", 0, 0, 0o644)
        .unwrap();
    img.install_symlink("d/link", Path::new("/etc/shadow"), 0, 0)
        .unwrap();
    let inside = t.path().join(abs.trim_start_matches('/'));
    assert_eq!(
        fs::read_to_string(inside.join("sub/keep")).unwrap(),
        "image"
    );
    assert_eq!(
        fs::read_link(inside.join("link")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(img.read_link("d/link").unwrap(), Path::new("/etc/shadow"));
    intact(&s);
    assert!(!s.path().join("link").exists());

    // A directory at the name is never replaced.
    fs::create_dir(t.path().join("dir")).unwrap();
    assert!(img.install_file("dir", b"x", 0, 0, 0o644).is_err());
    assert!(t.path().join("dir").is_dir());
}
