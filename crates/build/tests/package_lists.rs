//! Package lists (`config/package-lists/*.list.chroot`) against the committed profile: they
//! join the image's package set, make the committed lock stale and change Profile-Sha256;
//! the committed profile (no lists) is left exactly as it was.

use std::fs;
use std::path::{Path, PathBuf};

use isoforge_build::locking::{LockConfig, Which};

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// A copy of the committed `config/` (its files and `flavors/`).
fn copy() -> tempfile::TempDir {
    fn tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                tree(&e.path(), &to.join(e.file_name()));
            } else {
                fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let d = tempfile::tempdir().unwrap();
    tree(&committed(), d.path());
    d
}

/// The committed profile's default flavor.
fn hash(dir: &Path) -> String {
    let cli = isoforge_inputs::Flavor { name: "cli".into() };
    isoforge_inputs::profile_sha256(dir, Some(&cli)).unwrap()
}

fn list(dir: &Path, name: &str, text: &str) -> PathBuf {
    let lists = dir.join("package-lists");
    fs::create_dir_all(&lists).unwrap();
    let path = lists.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_committed_profile_has_no_lists_and_its_lock_still_matches() {
    let cfg = LockConfig::load(&committed()).unwrap();
    assert!(cfg.profile.package_lists.is_empty());
    cfg.load_lock(Which::Image).unwrap();
    let d = copy();
    assert_eq!(hash(d.path()), hash(&committed()));
}

#[test]
fn a_list_joins_the_package_set_and_makes_the_lock_stale() {
    let d = copy();
    let before = LockConfig::load(d.path()).unwrap();
    let hash_before = hash(d.path());
    list(
        d.path(),
        "10-tools.list.chroot",
        "# editors\nnano\n\nless # a pager\nlive-boot\n",
    );
    let after = LockConfig::load(d.path()).unwrap();

    let mut want = before.profile.packages.clone();
    want.extend(["nano".to_string(), "less".to_string()]);
    want.sort();
    want.dedup();
    assert_eq!(after.profile.packages, want);
    assert_eq!(after.profile.package_lists.len(), 1);
    assert_eq!(
        after.profile.package_lists[0].rel,
        "package-lists/10-tools.list.chroot"
    );

    // The lock's expected inputs change, so the committed lock is stale, and the reason names
    // the packages.
    assert_ne!(
        before.expected_inputs(Which::Image),
        after.expected_inputs(Which::Image)
    );
    let e = after.load_lock(Which::Image).unwrap_err().to_string();
    assert!(
        e.contains("the lock no longer matches the configuration"),
        "{e}"
    );
    assert!(e.contains("packages: locked"), "{e}");
    assert!(e.contains("(added less nano)"), "{e}");
    assert!(
        e.contains("now \"less linux-image-amd64 live-boot nano systemd-sysv\""),
        "{e}"
    );
    // The builder's lock does not depend on the image's packages.
    after.load_lock(Which::Builder).unwrap();

    // Profile-Sha256 covers the list: a changed list changes it again.
    let hash_one = hash(d.path());
    assert_ne!(hash_one, hash_before);
    list(d.path(), "10-tools.list.chroot", "nano\n");
    assert_ne!(hash(d.path()), hash_one);
}

#[test]
fn a_bad_package_name_names_the_file_and_line() {
    let d = copy();
    let path = list(d.path(), "x.list.chroot", "nano\n# fine\nnano;reboot\n");
    let e = LockConfig::load(d.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:3: \"nano;reboot\" is not a Debian package name",
            path.display()
        )
    );
    assert!(!e.contains('\n'));
}
