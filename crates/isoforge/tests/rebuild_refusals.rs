//! `isoforge rebuild` refuses a BUILD_INFO it cannot honestly rebuild, with the reason,
//! before building anything.

mod common;

use common::{Repo, require_root, stderr};

/// A BUILD_INFO as the build writes it, for `repo`'s HEAD, with `edit` applied.
fn build_info(
    repo: &Repo,
    edit: impl Fn(&mut isoforge_buildinfo::BuildInfo),
) -> std::path::PathBuf {
    let commit = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let mut info = isoforge_buildinfo::BuildInfo {
        format: isoforge_buildinfo::FORMAT,
        build_tool: "isoforge 0.1.0".into(),
        source: "silvermetal".into(),
        product_name: "SilverMetal Linux".into(),
        version: "1.1.0".into(),
        architecture: "amd64".into(),
        profile_sha256: isoforge_inputs::profile_sha256(&repo.config()).unwrap(),
        config_dir: "config".into(),
        commit,
        dirty_paths: vec![],
        source_date_epoch: 1_700_000_000,
        source_date_epoch_origin: "commit".into(),
        snapshot_timestamp: "20261126T000000Z".into(),
        snapshot_url: "https://snapshot.debian.org/archive/debian/20261126T000000Z/".into(),
        mirror: "http://deb.debian.org/debian".into(),
        package_source: "mirror".into(),
        package_lock_sha256: "none".into(),
        runtime: "host".into(),
        builder_digest: "none".into(),
        kernel: "6.1.0-50-amd64".into(),
        build_tools: vec![],
        environment: vec![],
        installed: vec![],
        artefacts: vec![isoforge_buildinfo::Artefact {
            sha256: "00".repeat(32),
            size: 1,
            name: "silvermetal-1.1.0-amd64.iso".into(),
        }],
    };
    edit(&mut info);
    let path = repo.path().join("BUILD_INFO.test");
    std::fs::write(&path, info.render()).unwrap();
    path
}

fn rebuild(repo: &Repo, bi: &std::path::Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = repo
        .isoforge()
        .arg("rebuild")
        .arg(bi)
        .arg("--source")
        .arg(repo.path())
        .arg("--dir")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn another_profile_is_refused() {
    require_root();
    let repo = Repo::with_default_profile();
    let bi = build_info(&repo, |i| i.profile_sha256 = "ff".repeat(32));
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("it comes from another profile"), "{err}");
    let bi = build_info(&repo, |i| i.source = "othermetal".into());
    let (_, err) = rebuild(&repo, &bi);
    assert!(
        err.contains("BUILD_INFO is for profile othermetal"),
        "{err}"
    );
}

#[test]
fn newer_format_dirty_and_unknown_commit_are_refused() {
    require_root();
    let repo = Repo::with_default_profile();
    let bi = build_info(&repo, |_| {});
    let text = std::fs::read_to_string(&bi)
        .unwrap()
        .replace("Format: 1", "Format: 7");
    std::fs::write(&bi, text).unwrap();
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("format 7 is newer than this isoforge understands"),
        "{err}"
    );

    let bi = build_info(&repo, |i| i.dirty_paths = vec!["config/x".into()]);
    let (_, err) = rebuild(&repo, &bi);
    assert!(err.contains("only a commit can be rebuilt"), "{err}");

    let bi = build_info(&repo, |i| {
        i.commit = "0123456789abcdef0123456789abcdef01234567".into()
    });
    let (_, err) = rebuild(&repo, &bi);
    assert!(err.contains("is not in"), "{err}");
}
