//! `isoforge pins --check` fails, naming the input, on anything unpinned, in every flavor;
//! `isoforge build` refuses a missing or stale lock before anything is written.

mod common;

use common::{DEFAULT_LOCK, Repo, stderr};

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
    std::fs::remove_file(repo.config().join(DEFAULT_LOCK)).unwrap();
    repo.commit("unpinned everything");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    for want in [
        "UNPINNED: snapshot pin: ",
        "SNAPSHOT_TIMESTAMP: \"latest\"",
        "packages-cli.lock: no lock; run `isoforge lock --flavor cli`",
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
        err.contains("packages-cli.lock: the lock no longer matches"),
        "{err}"
    );
    assert!(err.contains("run `isoforge lock --flavor cli`"), "{err}");
    assert!(repo.output_entries().is_empty());

    std::fs::remove_file(repo.config().join(DEFAULT_LOCK)).unwrap();
    repo.commit("no lock");
    let built = repo.build(&[]);
    let err = stderr(&built);
    assert_eq!(built.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no package lock; run `isoforge lock --flavor cli`"),
        "{err}"
    );
}

/// Every flavor is checked, not only the default one: the desktop flavor's lock missing, or
/// stale after its .conf changed (the base and cli untouched), is named.
#[test]
fn pins_check_covers_every_flavor() {
    let repo = Repo::with_default_profile();
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("flavors            cli, desktop (default cli)"),
        "{out}"
    );
    for lock in ["packages-cli.lock", "packages-desktop.lock"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(lock) && l.ends_with("matches the configuration")),
            "{lock} in {out}"
        );
    }

    let conf = repo.config().join("flavors/desktop.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("PACKAGES=\"", "PACKAGES=\"nano ")).unwrap();
    repo.commit("desktop gets nano");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("packages-desktop.lock: no longer matches the configuration (packages: "),
        "{out}"
    );
    assert!(
        out.contains("run `isoforge lock --flavor desktop`"),
        "{out}"
    );
    assert!(!out.contains("UNPINNED: config/packages-cli.lock"), "{out}");
    assert!(!out.contains("packages-cli.lock: no longer"), "{out}");

    std::fs::remove_file(repo.config().join("packages-desktop.lock")).unwrap();
    repo.commit("no desktop lock");
    let (code, out) = pins_check(&repo);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("packages-desktop.lock: no lock; run `isoforge lock --flavor desktop`"),
        "{out}"
    );
}
