//! The output root may be writable by others. Real `isoforge build` processes (failing fast at
//! mmdebstrap, after the output is staged and locked): symlinks planted where isoforge removes
//! or replaces are unlinked, never followed, and two builds started at once into one output
//! root never sweep each other's work.

mod common;

use std::os::unix::fs::symlink;
use std::process::Stdio;

use common::{Repo, require_root};

#[test]
fn planted_symlinks_are_unlinked_and_concurrent_builds_leave_each_other_alone() {
    require_root();
    let repo = Repo::with_default_profile();
    repo.break_lock();
    repo.commit("fail fast");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    // The build id: the commit's first 12 hex digits, then the default flavor.
    let id = format!(
        "{}-{}",
        &String::from_utf8(head.stdout).unwrap()[..12],
        common::DEFAULT_FLAVOR
    );

    let sentinel = tempfile::tempdir().unwrap();
    std::fs::create_dir(sentinel.path().join("sub")).unwrap();
    std::fs::write(sentinel.path().join("sub/keep"), "host").unwrap();
    let out = repo.output();
    std::fs::create_dir_all(&out).unwrap();
    for name in [
        ".isoforge-tmp-evil".to_string(),
        format!(".isoforge-tmp-{id}-0000000000000000"),
        ".isoforge-tmp-evil2.lock".to_string(),
        format!("{id}.failed"),
    ] {
        symlink(sentinel.path(), out.join(name)).unwrap();
    }

    let builds: Vec<_> = (0..2)
        .map(|_| {
            repo.isoforge()
                .arg("build")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for b in builds {
        let o = b.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // Each got as far as mmdebstrap in its own directory: nothing swept it away.
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("mmdebstrap exited with status"), "{err}");
        assert_eq!(
            err.trim().lines().filter(|l| l.contains("error")).count(),
            1,
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(sentinel.path().join("sub/keep")).unwrap(),
        "host",
        "the symlinks' target is intact"
    );
    assert_eq!(repo.output_entries(), [format!("{id}.failed")]);
    let failed = out.join(format!("{id}.failed"));
    assert!(std::fs::symlink_metadata(&failed).unwrap().is_dir());
    assert!(failed.join("ERROR").is_file() && failed.join("logs/mmdebstrap.log").is_file());
}

/// `verify/<build-id>` planted as a symlink: verify clears it by unlinking the symlink, and
/// its builds (failing fast at mmdebstrap) work in a real directory.
#[test]
fn a_planted_verify_directory_symlink_is_unlinked() {
    require_root();
    let repo = Repo::with_default_profile();
    repo.break_lock();
    repo.commit("fail fast");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    // The build id: the commit's first 12 hex digits, then the default flavor.
    let id = format!(
        "{}-{}",
        &String::from_utf8(head.stdout).unwrap()[..12],
        common::DEFAULT_FLAVOR
    );
    let sentinel = tempfile::tempdir().unwrap();
    std::fs::write(sentinel.path().join("keep"), "host").unwrap();
    let verify_root = tempfile::tempdir().unwrap();
    symlink(sentinel.path(), verify_root.path().join(&id)).unwrap();

    let o = repo
        .isoforge()
        .arg("verify")
        .arg("--dir")
        .arg(verify_root.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        std::fs::read_dir(sentinel.path()).unwrap().count(),
        1,
        "nothing was written into the symlink's target: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(sentinel.path().join("keep")).unwrap(),
        "host"
    );
    assert!(
        std::fs::symlink_metadata(verify_root.path().join(&id))
            .unwrap()
            .is_dir(),
        "{err}"
    );
}
