//! Bad input stops the build before anything is written, with one line naming the file, the
//! line and what is expected.

mod common;

use common::{Repo, require_root, stderr};

fn assert_refused(repo: &Repo, out: &std::process::Output, want: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("isoforge: error: "), "{err}");
    assert!(last.contains(want), "expected {want:?} in {last:?}");
    assert!(
        repo.output_entries().is_empty(),
        "nothing may be written: {:?}",
        repo.output_entries()
    );
}

#[test]
fn malformed_pin_names_file_and_line() {
    require_root();
    let repo = Repo::with_default_profile();
    repo.set(
        "snapshot-pin.env",
        "SNAPSHOT_TIMESTAMP",
        "SNAPSHOT_TIMESTAMP=2026-11-01",
    );
    repo.commit("bad pin");
    let out = repo.build(&[]);
    assert_refused(&repo, &out, "snapshot-pin.env:");
    assert!(stderr(&out).contains("SNAPSHOT_TIMESTAMP: \"2026-11-01\"; expected YYYYMMDDTHHMMSSZ"));
}

#[test]
fn missing_pin_file_and_key() {
    require_root();
    let repo = Repo::with_default_profile();
    std::fs::remove_file(repo.config().join("snapshot-pin.env")).unwrap();
    repo.commit("no pin");
    assert_refused(&repo, &repo.build(&[]), "snapshot-pin.env: cannot read");
    std::fs::write(
        repo.config().join("snapshot-pin.env"),
        "MIRROR=http://deb.debian.org/debian\n",
    )
    .unwrap();
    repo.commit("pin without timestamp");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "missing required key SNAPSHOT_TIMESTAMP",
    );
}

#[test]
fn malformed_config_value_and_unknown_key() {
    require_root();
    let repo = Repo::with_default_profile();
    repo.set(
        "silvermetal-base.conf",
        "ISO_VOLUME_LABEL",
        "ISO_VOLUME_LABEL=silver metal",
    );
    repo.commit("bad label");
    assert_refused(&repo, &repo.build(&[]), "silvermetal-base.conf:");
    repo.set(
        "silvermetal-base.conf",
        "ISO_VOLUME_LABEL",
        "ISO_VOLUME_LABEL=OK",
    );
    repo.set(
        "silvermetal-base.conf",
        "KERNEL_FLAVOUR",
        "KERNEL_FLAVOUR=rt",
    );
    repo.commit("unknown key");
    assert_refused(&repo, &repo.build(&[]), "unknown key KERNEL_FLAVOUR");
    repo.set("silvermetal-base.conf", "KERNEL_FLAVOUR", "");
    repo.set(
        "silvermetal-base.conf",
        "MKSQUASHFS_OPTIONS",
        "MKSQUASHFS_OPTIONS=\"-comp xz -all-time 0\"",
    );
    repo.commit("fights the epoch");
    assert_refused(&repo, &repo.build(&[]), "-all-time is not allowed");
}

#[test]
fn malformed_source_date_epoch() {
    require_root();
    let repo = Repo::with_default_profile();
    let out = repo
        .isoforge()
        .arg("build")
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert_refused(
        &repo,
        &out,
        "environment variable SOURCE_DATE_EPOCH: \"yesterday\"",
    );
    std::fs::write(
        repo.config().join("source-date-epoch.env"),
        "SOURCE_DATE_EPOCH=17e8\n",
    )
    .unwrap();
    repo.commit("bad epoch");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "source-date-epoch.env:1: SOURCE_DATE_EPOCH:",
    );
}

#[test]
fn dirty_tree_is_refused_unless_allowed() {
    require_root();
    let repo = Repo::with_default_profile();
    std::fs::write(repo.path().join("notes.txt"), "uncommitted").unwrap();
    let out = repo.build(&[]);
    assert_refused(&repo, &out, "uncommitted changes");
    assert!(stderr(&out).contains("--allow-dirty"));
    // Allowed, the build gets past the check: a lock without libc6 (its header still
    // matching the profile) then fails in mmdebstrap, quickly (apt cannot satisfy the
    // essential set from the local repository), and only its logs are kept, under
    // <id>-dirty.failed/.
    repo.break_lock();
    let out = repo.build(&["--allow-dirty"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("mmdebstrap exited with status"), "{err}");
    let entries = repo.output_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].ends_with("-dirty.failed"), "{entries:?}");
    let failed = repo.output().join(&entries[0]);
    assert!(failed.join("logs/mmdebstrap.log").is_file());
    assert!(!failed.join("SHA256SUMS").exists());
}

#[test]
fn not_a_git_repository() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::with_default_profile();
    let config = dir.path().join("config");
    common::copy_tree(&repo.config(), &config);
    let out = repo
        .isoforge()
        .args(["build", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(dir.path().join("output"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not inside a git work tree"), "{err}");
}

/// A bad rule in the profile's offenders.conf stops the build before anything is built.
#[test]
fn bad_offenders_rule_names_file_and_line() {
    require_root();
    let repo = Repo::with_default_profile();
    std::fs::write(
        repo.config().join("offenders.conf"),
        "# site rules\nremove /etc/shadow  # escapes the image\n",
    )
    .unwrap();
    repo.commit("bad offenders rule");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "offenders.conf:2: /etc/shadow: write the path relative to the image root (etc/shadow)",
    );
    std::fs::write(
        repo.config().join("offenders.conf"),
        "shred etc/x  # unknown\n",
    )
    .unwrap();
    repo.commit("unknown action");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "offenders.conf:1: unknown action \"shred\"",
    );
}

/// A bad `includes.owners` line, or a symlinked overlay, stops the build before anything is
/// built, naming the file.
#[test]
fn bad_overlay_names_the_file() {
    require_root();
    let repo = Repo::with_default_profile();
    let overlay = repo.config().join("includes.chroot/etc");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(overlay.join("motd"), "hello\n").unwrap();
    std::fs::write(
        repo.config().join("includes.owners"),
        "# owners\nincludes.chroot/etc/motd root:root\n",
    )
    .unwrap();
    repo.commit("bad owners");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "includes.owners:2: \"root:root\": expected numeric UID:GID",
    );
    std::fs::remove_file(repo.config().join("includes.owners")).unwrap();
    std::fs::rename(
        repo.config().join("includes.chroot"),
        repo.path().join("elsewhere"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../elsewhere", repo.config().join("includes.chroot")).unwrap();
    repo.commit("symlinked overlay");
    assert_refused(
        &repo,
        &repo.build(&[]),
        "includes.chroot: is a symbolic link, not a directory",
    );
}

/// A hook that is not executable (committed 0644), or a file in `hooks/` that is not a hook,
/// stops the build before anything is built, with one line naming the file.
#[test]
fn bad_hook_names_the_file() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let repo = Repo::with_default_profile();
    let hooks = repo.config().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("10-motd.hook.chroot");
    std::fs::write(&hook, "#!/bin/sh\necho hi > /etc/motd\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o644)).unwrap();
    repo.commit("hook not executable");
    let out = repo.build(&[]);
    assert_refused(
        &repo,
        &out,
        "hooks/10-motd.hook.chroot: is not executable; a hook must be: `chmod +x` it and commit",
    );
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.contains("10-motd.hook.chroot"))
            .count(),
        1
    );
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(hooks.join("setup.sh"), "#!/bin/sh\n").unwrap();
    repo.commit("not a hook");
    assert_refused(&repo, &repo.build(&[]), "hooks/setup.sh: not a hook");
}

/// Flavors: an unknown key in a flavor's .conf, a flavor that does not exist and a bad name
/// each stop `build` (and `verify`, `lock`, `pins`) with one line naming the file, before
/// anything is written.
#[test]
fn bad_flavors_name_the_file() {
    require_root();
    let repo = Repo::with_default_profile();
    let conf = repo.config().join("flavors/desktop.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}WALLPAPER=blue.png\n")).unwrap();
    repo.commit("unknown key in a flavor");
    let line = text.lines().count() + 1;
    let out = repo.build(&["--flavor", "desktop"]);
    assert_refused(
        &repo,
        &out,
        &format!("flavors/desktop.conf:{line}: unknown key WALLPAPER; expected one of: "),
    );
    // --all-flavors reaches the desktop flavor too (and builds nothing before it fails).
    assert_refused(
        &repo,
        &repo.build(&["--all-flavors"]),
        "flavors/desktop.conf:",
    );
    std::fs::write(&conf, text).unwrap();
    repo.commit("fixed");

    for cmd in [
        vec!["build", "--flavor", "server"],
        vec!["verify", "--flavor", "server"],
        vec!["lock", "--flavor", "server"],
        vec!["fetch", "--flavor", "server"],
    ] {
        let out = repo.isoforge().args(&cmd).output().unwrap();
        assert_refused(
            &repo,
            &out,
            "config/flavors/server.conf: no such flavor; the flavors are: cli, desktop",
        );
    }
    assert_refused(
        &repo,
        &repo.build(&["--flavor", "../cli"]),
        "--flavor \"../cli\" is not a flavor name; expected 1-32 of a-z, 0-9 and '-'",
    );
    let out = repo
        .isoforge()
        .args(["build", "--flavor", "cli", "--all-flavors"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );

    repo.set(
        "silvermetal-base.conf",
        "DEFAULT_FLAVOR",
        "DEFAULT_FLAVOR=server",
    );
    repo.commit("default flavor that is not there");
    assert_refused(&repo, &repo.build(&[]), "silvermetal-base.conf:");
    assert!(stderr(&repo.build(&[])).contains(
        "DEFAULT_FLAVOR: config/flavors/server.conf does not exist; the flavors are: cli, desktop"
    ));
}
