//! `isoforge pins --check` fails, naming the input, on anything unpinned; `isoforge build`
//! refuses a missing or stale lock before anything is written.

mod common;

use common::{Repo, stderr};

fn pins_check(repo: &Repo) -> (i32, String) {
    let out = repo
        .isoforge()
        .args(["pins", "--check", "--config"])
        .arg(repo.config())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
    )
}

#[test]
fn pins_check_names_each_unpinned_input() {
    let repo = Repo::with_default_profile();
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("all inputs pinned"), "{out}");
    assert!(
        out.contains("builder            silvermetal-builder@sha256:"),
        "{out}"
    );

    repo.set(
        "builder.env",
        "BUILDER_IMAGE",
        "BUILDER_IMAGE=silvermetal-builder:latest",
    );
    repo.commit("tag-only builder");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNPINNED: builder: "), "{out}");
    assert!(out.contains("builder.env:"), "{out}");
    assert!(out.contains("is not pinned by digest"), "{out}");

    repo.set("builder.env", "BUILDER_IMAGE", "");
    repo.set(
        "snapshot-pin.env",
        "SNAPSHOT_TIMESTAMP",
        "SNAPSHOT_TIMESTAMP=latest",
    );
    std::fs::remove_file(repo.config().join("packages.lock")).unwrap();
    repo.commit("unpinned everything");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    for want in [
        "UNPINNED: snapshot pin: ",
        "SNAPSHOT_TIMESTAMP: \"latest\"",
        "packages.lock: no lock; run `isoforge lock`",
        "builder.env: no BUILDER_IMAGE",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
}

#[test]
fn a_stale_lock_is_named_with_what_changed() {
    let repo = Repo::with_default_profile();
    repo.set(
        "silvermetal-base.conf",
        "PACKAGES",
        "PACKAGES=\"linux-image-amd64 live-boot systemd-sysv nano\"",
    );
    repo.commit("add nano");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no longer matches the configuration (packages: locked"),
        "{out}"
    );

    common::require_root();
    let built = repo.build(&[]);
    assert_eq!(built.status.code(), Some(2), "{}", stderr(&built));
    let err = stderr(&built);
    assert!(
        err.contains("packages.lock: the lock no longer matches"),
        "{err}"
    );
    assert!(err.contains("run `isoforge lock`"), "{err}");
    assert!(repo.output_entries().is_empty());

    std::fs::remove_file(repo.config().join("packages.lock")).unwrap();
    repo.commit("no lock");
    let built = repo.build(&[]);
    let err = stderr(&built);
    assert_eq!(built.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no package lock; run `isoforge lock`"),
        "{err}"
    );
}
